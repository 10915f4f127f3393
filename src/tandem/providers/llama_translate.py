"""Translation between OpenAI requests and replies and llama-cpp-python calls.

The request side (:meth:`LlamaTranslator.chat_kwargs`,
:meth:`~LlamaTranslator.completion_kwargs`, :func:`embedding_inputs`) runs on
the event loop and is cheap: it validates the OpenAI body and builds the
keyword arguments of ``Llama.create_chat_completion`` / ``create_completion``.
The reply side (:meth:`LlamaTranslator.chat`, :meth:`~LlamaTranslator.chat_chunks`
and friends) runs in the model's worker thread: it calls the ``Llama`` it is
given and shapes llama-cpp-python's output into OpenAI replies and chunks.

Choices worth knowing:

- Message content is text only; image or audio parts are refused.
- ``response_format`` ``json_object``/``json_schema`` becomes llama-cpp-python's
  ``json_object`` (with ``schema``), which it enforces with a JSON grammar.
- ``tools`` with ``tool_choice`` ``auto``/``required`` need a chat format that
  decides on tool calls (:data:`TOOL_CALLING_FORMATS`); otherwise only a forced
  call (a named ``tool_choice``, or ``required`` with a single tool) is
  accepted, whose arguments are generated under the tool's JSON-schema grammar.
- GGUFs without a chat template get a plain ``User:``/``Assistant:`` format
  (:func:`plain_chat_handler`); the space after its ``Assistant:`` is stripped
  from replies.
"""

from __future__ import annotations

import base64
import random
import struct
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tandem.call import ProviderResult, Usage
from tandem.errors import ContextLengthExceeded, InvalidRequest, UnsupportedParameter
from tandem.protocol import now

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "PLAIN_CHAT_STOP",
    "TOOL_CALLING_FORMATS",
    "LlamaTranslator",
    "embedding_inputs",
    "plain_chat_handler",
]

#: llama-cpp-python chat handlers that decide on tool calls and parse them.
TOOL_CALLING_FORMATS: frozenset[str] = frozenset(
    {"chatml-function-calling", "functionary", "functionary-v1", "functionary-v2"}
)
#: Stop sequence of the plain chat format used for GGUFs without a chat template.
PLAIN_CHAT_STOP: tuple[str, ...] = ("\nUser:",)
#: Request fields passed to llama.cpp's sampler as they are.
_SAMPLING = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "logit_bias",
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
)
_ROLES = {"developer": "system", "function": "tool"}

Chunks = Generator[dict[str, Any], None, None]


def plain_chat_handler() -> Any:
    """The chat handler for GGUFs without a chat template (base models)."""
    from llama_cpp import llama_chat_format as lcf

    labels = {"user": "User", "assistant": "Assistant", "tool": "Tool"}

    def fmt(*, messages: list[Any], **_: Any) -> Any:
        lines = []
        for m in messages:
            text = m.get("content") or ""
            role = m["role"]
            lines.append(f"{text}\n" if role == "system" else f"{labels.get(role, role)}: {text}\n")
        return lcf.ChatFormatterResponse(prompt="".join(lines) + "Assistant:", stop=list(PLAIN_CHAT_STOP))

    return lcf.chat_formatter_to_chat_completion_handler(fmt)


@dataclass(frozen=True, slots=True)
class LlamaTranslator:
    """OpenAI bodies to llama-cpp-python arguments, and llama's output back, for one model."""

    #: The model's config name, quoted in error messages.
    name: str
    #: The model id shown in replies.
    model: str
    #: Default sampling seed; None: random per call.
    seed: int | None
    #: The configured llama-cpp-python chat format, if any.
    chat_format: str | None

    # --- requests (event loop side, cheap) ----------------------------------

    def sampling(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sampler arguments common to chat and completions; refuses ``n`` > 1 and logprobs."""
        if int(body.get("n") or 1) > 1 or int(body.get("best_of") or 1) > 1:
            raise UnsupportedParameter(f"Model {self.name!r} generates one choice per request; n must be 1.", param="n")
        if body.get("logprobs") or body.get("top_logprobs"):
            raise UnsupportedParameter(f"Model {self.name!r} does not return logprobs.", param="logprobs")
        kw = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
        seed = body.get("seed")
        if seed is None:
            seed = self.seed if self.seed is not None else random.getrandbits(31)
        kw["seed"] = int(seed)
        kw["model"] = self.model
        return kw

    def chat_kwargs(self, body: dict[str, Any]) -> dict[str, Any]:
        """Arguments of ``Llama.create_chat_completion`` for a chat request."""
        kw = self.sampling(body)
        kw["messages"] = _messages(body)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit:
            kw["max_tokens"] = int(limit)
        fmt = _response_format(body.get("response_format"))
        if fmt is not None:
            kw["response_format"] = fmt
        kw.update(self.tools(body))
        return kw

    def tools(self, body: dict[str, Any]) -> dict[str, Any]:
        """``tools`` and ``tool_choice`` as llama-cpp-python takes them (empty: no tools)."""
        tools = body.get("tools") or [{"type": "function", "function": f} for f in body.get("functions") or []]
        choice = body.get("tool_choice", body.get("function_call"))
        if not tools or choice == "none":
            return {}
        if self.chat_format in TOOL_CALLING_FORMATS:
            return {"tools": tools, "tool_choice": choice}
        names = [t.get("function", {}).get("name") for t in tools]
        forced: str | None = None
        if isinstance(choice, dict):
            forced = (choice.get("function") or choice).get("name")
            if forced not in names:
                raise InvalidRequest(f"tool_choice names {forced!r}, which is not in tools.", param="tool_choice")
        elif choice == "required" and len(tools) == 1:
            forced = names[0]
        if forced is None:
            raise UnsupportedParameter(
                f"Model {self.name!r} cannot decide whether to call a tool: its chat "
                "format has no tool calling. Name the function in tool_choice to force a call "
                "(arguments follow the tool's JSON schema), or use a tool-capable model.",
                param="tools",
            )
        fixed = [{"type": "function", "function": {"parameters": {"type": "object"}, **t["function"]}} for t in tools]
        return {"tools": fixed, "tool_choice": {"type": "function", "function": {"name": forced}}}

    def completion_kwargs(self, body: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The prompts of a completions request and the ``Llama.create_completion`` arguments."""
        if body.get("suffix"):
            raise UnsupportedParameter("suffix (fill-in-the-middle) is not supported.", param="suffix")
        kw = self.sampling(body)
        kw["max_tokens"] = int(body.get("max_tokens") or 16)  # OpenAI's legacy default
        kw["echo"] = bool(body.get("echo"))
        prompt = body.get("prompt", "")
        if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt)):
            prompts: list[Any] = [prompt]
        elif isinstance(prompt, list) and prompt:
            prompts = list(prompt)
        else:
            raise InvalidRequest("prompt must be a string or a list of strings.", param="prompt")
        return prompts, kw

    # --- replies (worker thread) --------------------------------------------

    def chat(self, llama: Llama, kwargs: dict[str, Any], plain: bool) -> ProviderResult:
        """One chat completion; ``plain``: the model uses the plain chat format."""
        out: Any = llama.create_chat_completion(**kwargs)
        choice = out["choices"][0]
        msg = choice["message"]
        text = msg.get("content")
        if plain and text:
            text = text.lstrip()  # the plain format's prompt ends in "Assistant:"
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if msg.get("tool_calls"):
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": _call_id(),
                    "type": "function",
                    "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                }
                for c in msg["tool_calls"]
            ]
        usage = Usage.from_dict(out.get("usage"))
        reply = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": now(),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": choice.get("finish_reason") or "stop",
                }
            ],
            "usage": usage.to_dict(),
        }
        return ProviderResult(reply, usage)

    def completion(self, llama: Llama, prompts: list[Any], kwargs: dict[str, Any]) -> ProviderResult:
        """One text completion per prompt, as the choices of one reply."""
        usage = Usage()
        choices = []
        for i, prompt in enumerate(prompts):
            out: Any = llama.create_completion(prompt=prompt, **kwargs)
            c = out["choices"][0]
            choices.append(
                {"index": i, "text": c["text"], "logprobs": None, "finish_reason": c.get("finish_reason") or "stop"}
            )
            one = Usage.from_dict(out.get("usage"))
            usage.prompt_tokens += one.prompt_tokens
            usage.completion_tokens += one.completion_tokens
        reply = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": now(),
            "model": self.model,
            "choices": choices,
            "usage": usage.to_dict(),
        }
        return ProviderResult(reply, usage)

    def chat_chunks(self, llama: Llama, kwargs: dict[str, Any], plain: bool, usage: Callable[[], Usage]) -> Chunks:
        """OpenAI chat chunks: role, content or tool-call deltas, finish, then ``usage()``."""
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": now(),
            "model": self.model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        raw: Any = llama.create_chat_completion(**kwargs, stream=True)
        finish: str | None = None
        call_started = False
        lead = plain  # strip the space after the plain format's "Assistant:"
        try:
            for part in raw:
                if not part["choices"]:
                    continue
                choice = part["choices"][0]
                delta = choice.get("delta") or {}
                if delta.get("role"):
                    yield chunk({"role": "assistant", "content": None if "tool_choice" in kwargs else ""})
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
                        head = {
                            "index": 0,
                            "id": _call_id(),
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": args},
                        }
                        yield chunk({"tool_calls": [head]})
                    elif args:
                        yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": args}}]})
                finish = choice.get("finish_reason") or finish
        finally:
            raw.close()
        yield chunk({}, finish or "stop")
        yield {**base, "choices": [], "usage": usage().to_dict()}

    def completion_chunks(
        self, llama: Llama, prompts: list[Any], kwargs: dict[str, Any], usage: Callable[[], Usage]
    ) -> Chunks:
        """OpenAI ``text_completion`` chunks for each prompt in turn, then ``usage()``."""
        base = {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": now(),
            "model": self.model,
        }
        for i, prompt in enumerate(prompts):
            raw: Any = llama.create_completion(prompt=prompt, stream=True, **kwargs)
            finish: str | None = None
            try:
                for part in raw:
                    c = part["choices"][0]
                    if c.get("text"):
                        yield {
                            **base,
                            "choices": [{"index": i, "text": c["text"], "logprobs": None, "finish_reason": None}],
                        }
                    finish = c.get("finish_reason") or finish
            finally:
                raw.close()
            yield {**base, "choices": [{"index": i, "text": "", "logprobs": None, "finish_reason": finish or "stop"}]}
        yield {**base, "choices": [], "usage": usage().to_dict()}

    def embed(self, llama: Llama, inputs: list[str], encoding: str | None, limit: int) -> ProviderResult:
        """Embeddings of ``inputs`` (each at most ``limit`` tokens) as an OpenAI list."""
        for i, text in enumerate(inputs):
            n = len(llama.tokenize(text.encode("utf-8"), add_bos=True, special=False))
            if n > limit:
                raise ContextLengthExceeded(
                    f"Input {i} is {n} tokens; this model embeds at most {limit} tokens.", param="input"
                )
        vectors, count = llama.embed(inputs, normalize=True, truncate=False, return_count=True)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(_pooled(v), encoding)}
            for i, v in enumerate(vectors)
        ]
        usage = Usage(prompt_tokens=int(count))
        reply = {
            "object": "list",
            "data": data,
            "model": self.model,
            "usage": {"prompt_tokens": count, "total_tokens": count},
        }
        return ProviderResult(reply, usage)


def embedding_inputs(body: dict[str, Any]) -> tuple[list[str], str | None]:
    """The texts of an embeddings request and its ``encoding_format``."""
    value = body.get("input")
    inputs = [value] if isinstance(value, str) else value
    if not (isinstance(inputs, list) and inputs and all(isinstance(s, str) for s in inputs)):
        raise UnsupportedParameter(
            "input must be a string or a list of strings (token arrays are not supported).", param="input"
        )
    if body.get("dimensions"):
        raise UnsupportedParameter("dimensions is not supported by this model.", param="dimensions")
    return inputs, body.get("encoding_format")


def _text(content: Any, param: str) -> str:
    """Message content as text; image or audio parts are refused."""
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise UnsupportedParameter(f"This local model accepts text only, not {kind!r} parts.", param=param)
        parts.append(str(part.get("text", "")))
    return "".join(parts)


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI messages as llama-cpp-python takes them (text content, mapped roles)."""
    out = []
    for i, m in enumerate(body.get("messages") or []):
        role = str(m.get("role"))
        msg: dict[str, Any] = {
            "role": _ROLES.get(role, role),
            "content": _text(m.get("content"), f"messages[{i}].content"),
        }
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
    raise UnsupportedParameter(f"Unknown response_format type {fmt.get('type')!r}.", param="response_format")


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


def _encode(vector: list[float], encoding: str | None) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI sends it
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
