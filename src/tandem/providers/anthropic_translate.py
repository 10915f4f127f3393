"""Translation between OpenAI chat-completions and the Anthropic Messages API.

Pure functions and one small state machine, no I/O: the provider in
:mod:`tandem.providers.anthropic` does the HTTP. Requests are rebuilt from the
OpenAI parameters tandem knows (nothing unknown is forwarded, so a client
cannot smuggle Anthropic-only fields such as a different ``model``).

Choices worth knowing:

* ``system``/``developer`` messages anywhere in the conversation are hoisted,
  in order, into Anthropic's top-level ``system`` (joined by a blank line).
* Consecutive turns of one role are merged (Anthropic wants alternation);
  ``tool`` messages become ``tool_result`` blocks of a user turn, placed
  before any text of that turn as Anthropic requires.
* ``temperature`` is clamped to Anthropic's range [0, 1].
* ``response_format`` is emulated with an instruction appended to the system
  prompt (reply with only JSON, matching the schema when one is given). The
  reply is not validated or repaired: Anthropic has no JSON mode on its
  stable API, and forcing a synthetic tool would clash with the caller's own
  tools and turn streamed text into tool-argument fragments.
* Sampling hints Anthropic lacks (``seed``, penalties, ``logit_bias``) are
  dropped; requests that need a feature it lacks (``n`` > 1, ``logprobs``,
  legacy ``functions``) fail with :class:`UnsupportedParameter`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tandem.call import Usage
from tandem.errors import InvalidRequest, UnsupportedParameter

__all__ = [
    "FINISH_REASONS",
    "StreamTranslator",
    "chat_request",
    "chat_response",
    "completion_request",
    "completion_response",
    "text_chunk",
    "usage_of",
]

JSON = dict[str, Any]

#: Anthropic ``stop_reason`` -> OpenAI ``finish_reason``.
FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_JSON_OBJECT_INSTRUCTION = (
    "Respond with only a single valid JSON object: no prose, no explanation and no Markdown code fences."
)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+);base64,(.*)$", re.DOTALL)
#: Part types carried as text (a replayed assistant refusal is still its words).
_TEXT_LIKE = frozenset({"text", "refusal"})


def _finish(stop_reason: object) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


# --- request ----------------------------------------------------------------


def _image_block(part: Mapping[str, Any], param: str) -> JSON:
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, Mapping) else ref
    if not isinstance(url, str) or not url:
        raise InvalidRequest("An image_url part needs a url.", param=param)
    if url.startswith("data:"):
        m = _DATA_URL.match(url)
        if m is None:
            raise InvalidRequest("Image data URLs must be base64-encoded.", param=param)
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": m.group(1), "data": m.group(2)},
        }
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("Image URLs must be http(s) or base64 data URLs.", param=param)


def _text_block(text: str, part: Mapping[str, Any] | None = None) -> JSON:
    block: JSON = {"type": "text", "text": text}
    # Prompt caching: callers may mark parts the way Anthropic's SDK does.
    if part is not None and isinstance(part.get("cache_control"), Mapping):
        block["cache_control"] = dict(part["cache_control"])
    return block


def _content_blocks(content: object, param: str, *, images: bool = True) -> list[JSON]:
    """OpenAI message content (a string or typed parts) as Anthropic blocks.

    Empty text is dropped: Anthropic rejects empty text blocks.
    """
    if content is None:
        return []
    if isinstance(content, str):
        return [_text_block(content)] if content else []
    if not isinstance(content, list):
        raise InvalidRequest("Message content must be a string or a list of parts.", param=param)
    blocks: list[JSON] = []
    for i, part in enumerate(content):
        where = f"{param}[{i}]"
        if not isinstance(part, Mapping):
            raise InvalidRequest("Each content part must be an object.", param=where)
        kind = part.get("type")
        if kind in _TEXT_LIKE:
            text = part.get(kind)
            if not isinstance(text, str):
                raise InvalidRequest(f"A {kind} part needs a string {kind!r}.", param=where)
            if text:
                blocks.append(_text_block(text, part))
        elif kind == "image_url" and images:
            blocks.append(_image_block(part, where))
        else:
            raise UnsupportedParameter(f"Content parts of type {kind!r} are not supported by this model.", param=where)
    return blocks


def _tool_use_block(call: object, param: str) -> JSON:
    if not isinstance(call, Mapping) or not isinstance(call.get("function"), Mapping):
        raise InvalidRequest("A tool call needs a function.", param=param)
    fn = call["function"]
    name, call_id = fn.get("name"), call.get("id")
    if not isinstance(name, str) or not isinstance(call_id, str):
        raise InvalidRequest("A tool call needs an id and a function name.", param=param)
    raw = fn.get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        args = None
    if not isinstance(args, dict):
        raise InvalidRequest("Tool call arguments must be a JSON object.", param=f"{param}.function.arguments")
    return {"type": "tool_use", "id": call_id, "name": name, "input": args}


def _tool_result_block(msg: Mapping[str, Any], param: str) -> JSON:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest("A tool message needs a tool_call_id.", param=f"{param}.tool_call_id")
    block: JSON = {"type": "tool_result", "tool_use_id": call_id}
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _content_blocks(content, f"{param}.content")
        if parts:
            block["content"] = parts
    return block


def _compact(blocks: list[JSON]) -> str | list[JSON]:
    """A turn's content: a plain string when it is one plain text block."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        text: str = blocks[0]["text"]
        return text
    return blocks


def _messages(messages: object) -> tuple[list[JSON], list[JSON]]:
    """OpenAI ``messages`` -> (Anthropic system blocks, Anthropic messages)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list.", param="messages")
    system: list[JSON] = []
    turns: list[tuple[str, list[JSON]]] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise InvalidRequest("Each message must be an object.", param=param)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(msg.get("content"), f"{param}.content", images=False))
            continue
        if role == "user":
            blocks = _content_blocks(msg.get("content"), f"{param}.content")
        elif role == "assistant":
            blocks = _content_blocks(msg.get("content"), f"{param}.content", images=False)
            calls = msg.get("tool_calls") or []
            if not isinstance(calls, list):
                raise InvalidRequest("tool_calls must be a list.", param=f"{param}.tool_calls")
            blocks += [_tool_use_block(c, f"{param}.tool_calls[{j}]") for j, c in enumerate(calls)]
            if msg.get("function_call") is not None:
                raise UnsupportedParameter(
                    "Legacy function_call messages are not supported; use tool_calls.",
                    param=f"{param}.function_call",
                )
        elif role == "tool":
            role, blocks = "user", [_tool_result_block(msg, param)]
        else:
            raise UnsupportedParameter(f"Messages with role {role!r} are not supported by this model.", param=param)
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message says nothing.
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns:
        raise InvalidRequest("messages must contain a user or assistant message.", param="messages")
    out: list[JSON] = []
    for role, blocks in turns:
        if role == "user":
            # Anthropic wants a turn's tool results before any other content.
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        out.append({"role": role, "content": _compact(blocks)})
    return system, out


def _trim_prefill(messages: list[JSON]) -> None:
    """A final assistant turn is a prefill; Anthropic rejects trailing whitespace in it."""
    last = messages[-1]
    if last["role"] != "assistant":
        return
    content = last["content"]
    if isinstance(content, str):
        last["content"] = content.rstrip()
        if not last["content"]:
            messages.pop()
        return
    if content[-1]["type"] == "text":
        content[-1]["text"] = content[-1]["text"].rstrip()
        if not content[-1]["text"]:
            content.pop()
        if not content:
            messages.pop()
        else:
            last["content"] = _compact(content)


def _tools(tools: object) -> list[JSON]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list.", param="tools")
    out: list[JSON] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            raise UnsupportedParameter("Only function tools are supported.", param=f"tools[{i}]")
        fn = tool.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise InvalidRequest("A tool needs a function name.", param=f"tools[{i}].function")
        spec: JSON = {"name": fn["name"]}
        if fn.get("description"):
            spec["description"] = fn["description"]
        spec["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        out.append(spec)
    return out


def _tool_choice(choice: object, parallel: object) -> JSON | None:
    if choice is None:
        tc: JSON = {"type": "auto"}
    elif choice == "auto":
        tc = {"type": "auto"}
    elif choice == "required":
        tc = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif (
        isinstance(choice, Mapping)
        and choice.get("type") == "function"
        and isinstance(choice.get("function"), Mapping)
        and isinstance(choice["function"].get("name"), str)
    ):
        tc = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest("Unknown tool_choice.", param="tool_choice")
    if parallel is False:
        tc["disable_parallel_tool_use"] = True
    elif choice is None:
        return None  # Anthropic's default is auto already.
    return tc


def _json_instruction(fmt: object) -> str | None:
    if not isinstance(fmt, Mapping):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return _JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not schema:
            return _JSON_OBJECT_INSTRUCTION
        return (
            "Respond with only a single valid JSON value that conforms to this JSON Schema: "
            "no prose, no explanation and no Markdown code fences.\n"
            f"JSON Schema: {json.dumps(schema, separators=(',', ':'), sort_keys=True)}"
        )
    return None


def _common(body: Mapping[str, Any], out: JSON, default_max_tokens: int) -> None:
    """Parameters shared by the chat and completions endpoints."""
    n = body.get("n")
    if n is not None and n != 1:
        raise UnsupportedParameter("This model can only return one choice (n=1).", param="n")
    if body.get("logprobs"):
        raise UnsupportedParameter("This model does not return logprobs.", param="logprobs")
    out["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = min(float(temperature), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = list(stop)
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}


def chat_request(body: Mapping[str, Any], *, model: str, default_max_tokens: int) -> JSON:
    """An OpenAI chat-completions body as an Anthropic Messages body.

    Raises :class:`InvalidRequest` or :class:`UnsupportedParameter` naming the
    offending parameter.
    """
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise UnsupportedParameter(f"{legacy} is not supported; use tools.", param=legacy)
    system, messages = _messages(body.get("messages"))
    _trim_prefill(messages)
    if not messages:
        raise InvalidRequest("messages must contain a user or assistant message.", param="messages")
    out: JSON = {"model": model, "messages": messages}
    _common(body, out, default_max_tokens)
    instruction = _json_instruction(body.get("response_format"))
    if instruction is not None:
        system.append(_text_block(instruction))
    if system:
        if any("cache_control" in b for b in system):
            out["system"] = system
        else:
            out["system"] = "\n\n".join(b["text"] for b in system)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    return out


def completion_request(body: Mapping[str, Any], *, model: str, default_max_tokens: int) -> JSON:
    """An OpenAI (legacy) completions body as an Anthropic Messages body.

    The prompt becomes the single user message.
    """
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise UnsupportedParameter("This model takes a single text prompt per request.", param="prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("prompt must be a non-empty string.", param="prompt")
    for name in ("echo", "suffix", "best_of"):
        if body.get(name) not in (None, False, 1):
            raise UnsupportedParameter(f"{name} is not supported by this model.", param=name)
    out: JSON = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    _common(body, out, default_max_tokens)
    return out


# --- response ---------------------------------------------------------------


def usage_of(usage: object) -> tuple[Usage, int]:
    """Anthropic ``usage`` -> (tandem usage, cached prompt tokens).

    Cache writes and reads are prompt tokens too (billed at other rates).
    """
    if not isinstance(usage, Mapping):
        return Usage(), 0
    cached = int(usage.get("cache_read_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + int(usage.get("cache_creation_input_tokens") or 0) + cached
    return Usage(prompt, int(usage.get("output_tokens") or 0)), cached


def _usage_dict(usage: Usage, cached: int) -> JSON:
    out: JSON = usage.to_dict()
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def chat_response(reply: Mapping[str, Any], created: int) -> tuple[JSON, Usage]:
    """An Anthropic message as an OpenAI ``chat.completion`` and its usage.

    Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed reply.
    """
    texts: list[str] = []
    calls: list[JSON] = []
    for block in reply["content"]:
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            args = json.dumps(block.get("input") or {}, ensure_ascii=False)
            fn = {"name": block["name"], "arguments": args}
            calls.append({"id": block["id"], "type": "function", "function": fn})
        # thinking and server-side blocks have no OpenAI equivalent.
    message: JSON = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage, cached = usage_of(reply.get("usage"))
    body: JSON = {
        "id": str(reply["id"]),
        "object": "chat.completion",
        "created": created,
        "model": str(reply.get("model") or ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish(reply.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": _usage_dict(usage, cached),
    }
    return body, usage


def completion_response(reply: Mapping[str, Any], created: int) -> tuple[JSON, Usage]:
    """An Anthropic message as an OpenAI ``text_completion`` and its usage."""
    chat, usage = chat_response(reply, created)
    choice = chat["choices"][0]
    body: JSON = {
        "id": chat["id"],
        "object": "text_completion",
        "created": created,
        "model": chat["model"],
        "choices": [
            {
                "index": 0,
                "text": choice["message"]["content"] or "",
                "finish_reason": choice["finish_reason"],
                "logprobs": None,
            }
        ],
        "usage": chat["usage"],
    }
    return body, usage


# --- streaming --------------------------------------------------------------


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` dicts.

    Feed each decoded event to :meth:`feed`; it returns the chunks to send on
    (often none). Tool calls are numbered among tool calls, not among content
    blocks, as OpenAI clients index them. ``error`` events are not handled
    here: the provider maps them to exceptions.
    """

    def __init__(self, created: int) -> None:
        self.created = created
        self.id = ""
        self.model = ""
        self.usage = Usage()
        self.cached = 0
        #: Set once ``message_stop`` arrived; a stream ending before is truncated.
        self.done = False
        self._tools: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def feed(self, event: Mapping[str, Any]) -> list[JSON]:
        """The chunks for one event. Raises ``KeyError``/``TypeError`` if malformed."""
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event["delta"]
            dkind = delta.get("type")
            if dkind == "text_delta":
                return [self._chunk({"content": delta["text"]})] if delta["text"] else []
            if dkind == "input_json_delta":
                tool = self._tools.get(event["index"])
                if tool is None or not delta.get("partial_json"):
                    return []
                part = {"index": tool, "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [part]})]
            return []  # thinking, signature and citation deltas
        if kind == "content_block_start":
            block = event["content_block"]
            if block.get("type") == "text":
                return [self._chunk({"content": block["text"]})] if block.get("text") else []
            if block.get("type") == "tool_use":
                tool = self._tools[event["index"]] = len(self._tools)
                head = {
                    "index": tool,
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": ""},
                }
                return [self._chunk({"tool_calls": [head]})]
            return []
        if kind == "message_start":
            message = event["message"]
            self.id = str(message.get("id") or "")
            self.model = str(message.get("model") or "")
            self.usage, self.cached = usage_of(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            self._update_usage(event.get("usage"))
            reason = event["delta"].get("stop_reason")
            return [self._chunk({}, _finish(reason))] if reason is not None else []
        if kind == "message_stop":
            self.done = True
            return [self.usage_chunk()]
        return []  # ping, content_block_stop and event types added later

    def _update_usage(self, usage: object) -> None:
        """``message_delta`` usage is cumulative; fields it omits keep their value."""
        if not isinstance(usage, Mapping):
            return
        if usage.get("output_tokens") is not None:
            self.usage.completion_tokens = int(usage["output_tokens"])
        if any(usage.get(k) is not None for k in ("input_tokens", "cache_read_input_tokens")):
            # Some Anthropic-compatible servers repeat zeros here: never lower the count.
            prompt, cached = usage_of(usage)
            if prompt.prompt_tokens >= self.usage.prompt_tokens:
                self.usage.prompt_tokens, self.cached = prompt.prompt_tokens, cached

    def usage_chunk(self) -> JSON:
        """The final chunk: no choices, the whole call's usage."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": _usage_dict(self.usage, self.cached),
        }


def text_chunk(chunk: JSON) -> JSON | None:
    """A chat chunk as a ``text_completion`` chunk (None if it carries no text)."""
    out: JSON = {**chunk, "object": "text_completion"}
    if not chunk["choices"]:
        return out
    choice = chunk["choices"][0]
    text = choice["delta"].get("content") or ""
    if not text and choice["finish_reason"] is None:
        return None
    out["choices"] = [{"index": 0, "text": text, "finish_reason": choice["finish_reason"], "logprobs": None}]
    return out
