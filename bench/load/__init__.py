"""Load benchmark of tandem's hot path: direct upstream vs tandem vs LiteLLM.

Run it with ``bench/run`` (``bench/run --help`` lists the flags). One run:

1. starts nginx as a fixed, fast fake OpenAI upstream (:mod:`bench.load.upstream`);
2. drives it directly, through tandem (one worker, full configuration: keys,
   auto routing, the SQLite ledger, the privacy scan) and through the LiteLLM
   proxy (its own throwaway virtualenv) with ``wrk`` at fixed concurrencies
   (:mod:`bench.load.wrk`, ``post.lua``);
3. measures streamed first-token overhead at 256 concurrent streams
   (:mod:`bench.load.streams`) and memory over a 100,000-request soak;
4. writes the results, with pass/fail against the targets, to
   ``bench/RESULTS.md`` (:mod:`bench.load.report`).

Everything listens on 127.0.0.1 only, every load phase is bounded in time or
request count, and every process the run starts is stopped at its end.
"""
