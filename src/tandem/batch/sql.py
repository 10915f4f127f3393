"""``llm()`` and ``llm_json()`` as SQL functions on an embedded DuckDB connection.

::

    SELECT id, llm('Summarize: ' || body) AS summary FROM 'tickets.parquet'
    SELECT llm(body, 'cheap-route') FROM tickets           -- a model or route
    SELECT llm_json(body, '{"type": "object", "properties": {...}}') ->> 'sentiment' FROM tickets
    SELECT llm_json(body, 'sentiment.schema.json') FROM tickets       -- or a schema file

How it runs: the functions are DuckDB *Arrow* UDFs, so each call receives a
whole vector of rows (up to 2048). The distinct prompts of a vector are sent
together through the gateway on an asyncio loop in a worker thread, bounded
by ``concurrency``, and the vector waits for all of them: one round of
concurrent calls per vector, never one blocking call per row. Identical
(prompt, model, schema) triples are sent once per :class:`LLMFunctions`
(a query, from the CLI): the cache holds the in-flight future, so
duplicates inside one vector or across DuckDB threads share one call.

A row whose call fails gives NULL; the failures are counted in
:attr:`LLMFunctions.stats` (the CLI reports them). A malformed schema or an
unknown model name fails the query. ``max_cost`` stops sending once the spend reaches
it (later rows give NULL), since SQL has no estimate before it runs.
``side_effects`` is off, so DuckDB may fold constant calls and push a
``LIMIT`` below the projection: ``SELECT llm(x) FROM t LIMIT 3`` calls 3 times.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from tandem.batch.job import RequestSpec, open_gateway, reply_text
from tandem.batch.schema import OutputSchema, ReplyError, SchemaError
from tandem.config import Config
from tandem.errors import TandemError

if TYPE_CHECKING:
    import duckdb

    from tandem.call import KeyInfo
    from tandem.gateway import Gateway

__all__ = ["LLMFunctions", "SQLStats"]

T = TypeVar("T")
_PREFIX = "__tandem_"
#: (kind, target, schema text, prompt)
_Key = tuple[str, str, str, str]


@dataclass(slots=True)
class SQLStats:
    """What the functions did during a query."""

    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    spent_usd: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    #: Vectors (UDF invocations) DuckDB handed over.
    vectors: int = 0
    first_errors: list[str] = field(default_factory=list)


class LLMFunctions:
    """The gateway behind ``llm()``/``llm_json()``, on its own event-loop thread.

    Use as a context manager (it starts and stops the gateway and its
    store); :meth:`register` adds the functions to a DuckDB connection.
    """

    def __init__(
        self,
        config: Config,
        *,
        default_target: str = "auto",
        concurrency: int = 16,
        max_tokens: int | None = None,
        system: str | None = None,
        key_token: str | None = None,
        max_cost: float | None = None,
        ledger: bool = True,
        gateway: Gateway | None = None,
    ) -> None:
        self.config = config
        self.default_target = default_target
        self.concurrency = concurrency
        self.max_tokens = max_tokens
        self.system = system
        self.max_cost = max_cost
        self.stats = SQLStats()
        self._key_token = key_token
        self._ledger = ledger
        self._given_gateway = gateway
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tandem-sql", daemon=True)
        self._lock = threading.Lock()
        self._cache: dict[_Key, concurrent.futures.Future[str | None]] = {}
        self._schemas: dict[str, OutputSchema] = {}
        self._sem: asyncio.Semaphore | None = None
        self._gateway: Gateway | None = None
        self._key: KeyInfo | None = None
        self._session: Any = None
        self._names: frozenset[str] = frozenset()
        self._run_id = os.urandom(6).hex()

    # --- lifecycle ------------------------------------------------------------

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self) -> None:
        self._sem = asyncio.Semaphore(self.concurrency)
        self._session = open_gateway(
            self.config, key_token=self._key_token, ledger=self._ledger, gateway=self._given_gateway
        )
        self._gateway, self._key = await self._session.__aenter__()
        names = self._gateway.router.names()
        self._names = frozenset(names)
        if self.default_target not in names:
            raise TandemError(f"unknown model or route {self.default_target!r} (known: {', '.join(names)})")

    def start(self) -> LLMFunctions:
        """Start the loop thread, the gateway and its store."""
        self._thread.start()
        try:
            self._on_loop(self._open())
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Flush the ledger, close the gateway and stop the loop thread."""
        if self._session is not None and self._thread.is_alive():
            session, self._session = self._session, None
            self._on_loop(session.__aexit__(None, None, None))
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> LLMFunctions:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        """Forget cached answers (the next query calls again)."""
        with self._lock:
            self._cache.clear()

    # --- DuckDB ---------------------------------------------------------------

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Add ``llm(prompt [, model])`` and ``llm_json(prompt, schema [, model])`` to ``con``."""
        opts: dict[str, Any] = {"type": "arrow", "null_handling": "special", "side_effects": False}
        con.create_function(f"{_PREFIX}llm", self._llm_udf, ["VARCHAR", "VARCHAR"], "VARCHAR", **opts)
        con.create_function(
            f"{_PREFIX}llm_json",
            self._json_udf,
            ["VARCHAR", "VARCHAR", "VARCHAR"],
            "VARCHAR",
            **opts,
        )
        # Macros give the optional argument: DuckDB UDFs have a fixed arity.
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO llm(prompt) AS {_PREFIX}llm(prompt, NULL), "
            f"(prompt, model) AS {_PREFIX}llm(prompt, model)"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP MACRO llm_json(prompt, schema) AS "
            f"CAST({_PREFIX}llm_json(prompt, schema, NULL) AS JSON), "
            f"(prompt, schema, model) AS CAST({_PREFIX}llm_json(prompt, schema, model) AS JSON)"
        )

    def _llm_udf(self, prompts: pa.Array, targets: pa.Array) -> pa.Array:
        ps, ts = prompts.to_pylist(), targets.to_pylist()
        keys = [None if p is None else ("text", self._target(t), "", p) for p, t in zip(ps, ts, strict=True)]
        return pa.array(self._resolve(keys), pa.string())

    def _target(self, name: str | None) -> str:
        if name is None:
            return self.default_target
        assert self._gateway is not None
        if name not in self._names:
            known = ", ".join(self._gateway.router.names())
            raise ValueError(f"llm: no model or route {name!r} (known: {known})")
        return name

    def _json_udf(self, prompts: pa.Array, schemas: pa.Array, targets: pa.Array) -> pa.Array:
        ps, ss, ts = prompts.to_pylist(), schemas.to_pylist(), targets.to_pylist()
        keys: list[_Key | None] = []
        for p, s, t in zip(ps, ss, ts, strict=True):
            if p is None or s is None:
                keys.append(None)
                continue
            self._schema(s)  # a malformed schema fails the query here
            keys.append(("json", self._target(t), s, p))
        return pa.array(self._resolve(keys), pa.string())

    def _schema(self, text: str) -> OutputSchema:
        schema = self._schemas.get(text)
        if schema is None:
            try:
                schema = OutputSchema.load(text)  # JSON text, or a schema file's path
            except SchemaError as exc:
                raise ValueError(f"llm_json: {exc}") from None
            self._schemas[text] = schema
        return schema

    def _resolve(self, keys: list[_Key | None]) -> list[str | None]:
        """Answers for one vector: every new key is sent now, all concurrently."""
        self.stats.vectors += 1
        futures: list[concurrent.futures.Future[str | None] | None] = []
        with self._lock:
            for key in keys:
                if key is None:
                    futures.append(None)
                    continue
                fut = self._cache.get(key)
                if fut is None:
                    fut = asyncio.run_coroutine_threadsafe(self._answer(key), self._loop)
                    self._cache[key] = fut
                else:
                    self.stats.cache_hits += 1
                futures.append(fut)
        return [None if f is None else f.result() for f in futures]

    async def _answer(self, key: _Key) -> str | None:
        kind, target, schema_text, prompt = key
        assert self._sem is not None and self._gateway is not None
        schema = self._schemas[schema_text] if kind == "json" else None
        spec = RequestSpec(target, schema, self.max_tokens, self.system)
        async with self._sem:
            stats = self.stats
            if self.max_cost is not None and stats.spent_usd >= self.max_cost:
                return self._fail_row(f"max cost ${self.max_cost:g} reached; not sent")
            stats.calls += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            try:
                call = self._gateway.new_call("chat", spec.body(prompt), self._key)
                call.request_id = f"sql-{self._run_id}-{stats.calls}"
                try:
                    result = await self._gateway.complete(call)
                finally:
                    stats.spent_usd += call.cost_usd
            except TandemError as exc:
                return self._fail_row(f"{exc.code or exc.type}: {exc.message}")
            finally:
                stats.in_flight -= 1
        text = reply_text(result.body)
        if schema is None:
            return text
        try:
            return orjson.dumps(schema.validate(_extract(text))).decode()
        except ReplyError as exc:
            return self._fail_row(f"invalid_reply: {exc}")

    def _fail_row(self, message: str) -> str | None:
        """Count a failed row; its value is NULL."""
        self.stats.errors += 1
        if len(self.stats.first_errors) < 3 and message not in self.stats.first_errors:
            self.stats.first_errors.append(message)
        return None


def _extract(text: str | None) -> Any:
    from tandem.batch.schema import extract_json

    if text is None:
        raise ReplyError("the reply has no text content")
    return extract_json(text)
