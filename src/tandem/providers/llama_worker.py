"""The worker thread of a local llama.cpp model and the bridge to the event loop.

A ``Llama`` object holds one llama.cpp context and is not thread-safe, so every
call on it runs in one dedicated thread (:class:`LlamaWorker`). This module
holds everything that touches that thread:

- :class:`Meter`, the token counts and cancel flag of one request, which the
  worker thread reads through a thread-local while it runs the request;
- :func:`llama_class`, ``llama_cpp.Llama`` plus metering, the context-length
  check and cancellation between tokens;
- :class:`LlamaWorker`, the executor and the slot semaphore in front of it:
  run a call, or pump a generator's chunks into the event loop through an
  :class:`asyncio.Queue`, stopping the thread when the caller goes away.

The design reasons are in the docstring of :mod:`tandem.providers.llama_local`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tandem.call import Usage
from tandem.errors import ContextLengthExceeded, TandemError

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["Chunks", "LlamaWorker", "Meter", "current_meter", "default_threads", "llama_class"]

T = TypeVar("T")
#: A generator of OpenAI chunks, run in the worker thread.
Chunks = Generator[dict[str, Any], None, None]


@dataclass(slots=True)
class Meter:
    """Token counts and the cancel flag of one request (touched by its worker thread)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usage(self) -> Usage:
        """The tokens counted so far."""
        return Usage(self.prompt_tokens, self.completion_tokens)


#: The meter of the call running on this worker thread.
_current = threading.local()


def current_meter() -> Meter | None:
    """The meter of the call running on this thread, if any."""
    m: Meter | None = getattr(_current, "meter", None)
    return m


@functools.cache
def llama_class() -> type[Llama]:
    """``llama_cpp.Llama`` plus metering, the context check and cancellation.

    Built on first use so that importing this module (and the gateway) does
    not need llama-cpp-python.
    """
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError("the llama_cpp provider needs llama-cpp-python: pip install 'tandem[local]'") from exc

    class MeteredLlama(llama_cpp.Llama):
        """Counts tokens into the thread's meter and stops when it is cancelled."""

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            # Every path to generation (chat handlers included) passes here.
            prompt = kwargs["prompt"] if "prompt" in kwargs else (args[0] if args else "")
            if isinstance(prompt, list):
                n = len(prompt)
            else:
                n = len(self.tokenize(str(prompt).encode("utf-8"), add_bos=True, special=True))
            n_ctx = self.n_ctx()
            if n >= n_ctx:
                raise ContextLengthExceeded(
                    f"This model's maximum context length is {n_ctx} tokens, "
                    f"but the prompt is {n} tokens. Shorten the prompt."
                )
            return super().create_completion(*args, **kwargs)

        def generate(self, *args: Any, **kwargs: Any) -> Generator[int, Sequence[int] | None, None]:
            meter = current_meter()
            tokens = kwargs["tokens"] if "tokens" in kwargs else args[0]
            inner = super().generate(*args, **kwargs)
            if meter is not None:
                meter.prompt_tokens += len(tokens)
            vocab = self._model.vocab
            sent: Sequence[int] | None = None
            try:
                while meter is None or not meter.cancel.is_set():
                    token = inner.send(sent)
                    # llama-cpp-python stops at an end-of-generation token without counting it.
                    if meter is not None and not llama_cpp.llama_vocab_is_eog(vocab, token):
                        meter.completion_tokens += 1
                    sent = yield token
            except StopIteration:
                return
            finally:
                inner.close()

    return MeteredLlama


def default_threads() -> int:
    """All usable cores but one, which stays free for the event loop and the OS.

    llama.cpp's worker threads spin while they wait for each other, so one
    that loses its core stalls them all: on a 2-core machine with other work
    running, SmolLM2 measured 2 tokens/s with 2 threads and 24 with 1.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(slots=True)
class _Failed:
    exc: BaseException


class LlamaWorker:
    """One model's worker thread, with a queue of ``max_concurrency`` slots in front.

    ``error`` maps an exception raised by llama-cpp-python (anything but a
    :class:`~tandem.errors.TandemError`) to tandem's error tree.
    """

    def __init__(self, name: str, max_concurrency: int, error: Callable[[BaseException], TandemError]) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"llama-{name}")
        self._slots = asyncio.Semaphore(max_concurrency)
        self._error = error

    async def run(self, fn: Callable[[], T], meter: Meter | None = None) -> T:
        """Run ``fn`` in the worker thread; if the caller is cancelled, stop it and wait."""
        loop = asyncio.get_running_loop()

        def job() -> T:
            _current.meter = meter
            try:
                return fn()
            finally:
                _current.meter = None

        fut = loop.run_in_executor(self._executor, job)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            if meter is not None:
                meter.cancel.set()
            await _settle(fut)
            raise

    async def call(self, fn: Callable[[], T], meter: Meter) -> T:
        """Run ``fn`` in the worker thread once a slot is free; errors are mapped."""
        async with self._slots:
            try:
                return await self.run(fn, meter)
            except TandemError:
                raise
            except Exception as exc:
                raise self._error(exc) from exc

    async def pump(self, produce: Callable[[], Chunks], meter: Meter) -> AsyncGenerator[dict[str, Any], None]:
        """Run ``produce`` in the worker thread once a slot is free, yielding its chunks as they come."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[dict[str, Any] | _Failed | None] = asyncio.Queue()

            def emit(item: dict[str, Any] | _Failed | None) -> None:
                try:
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                except RuntimeError:  # the loop is closed: nobody is listening
                    meter.cancel.set()

            def work() -> None:
                _current.meter = meter
                chunks = produce()
                try:
                    for chunk in chunks:
                        if meter.cancel.is_set():
                            break
                        emit(chunk)
                except BaseException as exc:
                    emit(_Failed(exc))
                finally:
                    chunks.close()
                    _current.meter = None
                    emit(None)

            fut = loop.run_in_executor(self._executor, work)
            try:
                while (item := await queue.get()) is not None:
                    if isinstance(item, _Failed):
                        if isinstance(item.exc, TandemError):
                            raise item.exc
                        raise self._error(item.exc) from item.exc
                    yield item
            finally:
                meter.cancel.set()  # a no-op when generation has finished
                await _settle(fut)

    async def shutdown(self, last: Callable[[], None]) -> None:
        """Run ``last`` after the queued work, then stop the thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, last)
        self._executor.shutdown(wait=False)


async def _settle(fut: asyncio.Future[Any]) -> None:
    """Wait until a worker-thread job has finished, without cancelling it."""
    if not fut.done():
        await asyncio.wait([fut])
    if not fut.cancelled():
        fut.exception()  # retrieved: no "exception was never retrieved" warning
