"""Applies the privacy policy to one call (the gateway's *guard* step).

Policies (per key, else per route, else the config default):

- ``allow``: nothing is changed; found entity types are still recorded.
- ``redact``: models whose privacy tier is not ``local`` receive the request
  with each value replaced by a stable placeholder (``<EMAIL_ADDRESS_1>``);
  the reply is restored before the client sees it, streamed replies too.
- ``local-only``: a request that contains personal data may only go to
  ``local`` or ``trusted`` models; if none can serve it, it is refused.
- ``block``: a request that contains personal data is refused, naming the
  entity types found, never their values.

Detection itself lives in :mod:`tandem.privacy`; this module only decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tandem.call import Call
from tandem.errors import PolicyViolation

if TYPE_CHECKING:
    from tandem.privacy import PrivacyGuard, Redaction, StreamRestorer

__all__ = ["PrivacyStage", "Protection"]

_LOCAL_TIERS = frozenset({"local", "trusted"})


@dataclass(slots=True)
class Protection:
    """What the guard decided for one call."""

    policy: str
    counts: dict[str, int] = field(default_factory=dict)
    #: Privacy tiers the call may be routed to (None: any).
    allowed_tiers: frozenset[str] | None = None
    redaction: Redaction | None = None
    #: The body to send to non-local models (redacted), when it differs.
    redacted_body: dict[str, Any] | None = None

    def body_for(self, tier: str, body: dict[str, Any]) -> dict[str, Any]:
        """The request body a model of privacy ``tier`` may receive."""
        if self.redacted_body is not None and tier != "local":
            return self.redacted_body
        return body

    def restores(self, tier: str) -> bool:
        """Whether the reply of a model of ``tier`` needs restoring."""
        return self.redaction is not None and self.redacted_body is not None and tier != "local"

    def restore(self, text: str) -> str:
        """Put the original values back into reply text."""
        return self.redaction.restore(text) if self.redaction is not None else text

    def restorer(self) -> StreamRestorer | None:
        """A restorer for one stream of reply text."""
        return self.redaction.restorer() if self.redaction is not None else None


class PrivacyStage:
    """Scans each call and applies the effective privacy policy."""

    def __init__(self, guard: PrivacyGuard | None, default_policy: str) -> None:
        self.guard = guard
        self.default_policy = default_policy

    def policy_for(self, call: Call, route_policy: str | None) -> str:
        """The effective policy: the key's, else the route's, else the default."""
        if call.key is not None and call.key.privacy_policy:
            return call.key.privacy_policy
        return route_policy or self.default_policy

    def apply(self, call: Call, route_policy: str | None) -> Protection:
        """Scan ``call`` and decide; raises :class:`PolicyViolation` for ``block``."""
        policy = self.policy_for(call, route_policy)
        guard = self.guard
        if guard is None:
            return Protection(policy)
        # The cheap counting scan first: most requests carry no personal data.
        counts = guard.contains_pii(_texts(call))
        call.privacy_action = policy if counts else None
        call.privacy_counts = counts
        if not counts or policy == "allow":
            return Protection(policy, counts)
        if policy == "block":
            kinds = ", ".join(sorted(counts))
            raise PolicyViolation(
                f"The request contains personal data or secrets ({kinds}) and this key's "
                "privacy policy blocks such requests.",
                param="messages" if call.endpoint == "chat" else None,
            )
        if policy == "local-only":
            return Protection(policy, counts, allowed_tiers=_LOCAL_TIERS)
        redacted, redaction = _redact(guard, call)
        return Protection(policy, counts, redaction=redaction, redacted_body=redacted)


def _texts(call: Call) -> list[str]:
    if call.endpoint == "chat":
        out: list[str] = []
        for m in call.body.get("messages") or ():
            c = m.get("content")
            if isinstance(c, str):
                out.append(c)
            elif isinstance(c, list):
                out.extend(p["text"] for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
            for tc in m.get("tool_calls") or ():
                args = (tc.get("function") or {}).get("arguments")
                if isinstance(args, str):
                    out.append(args)
        return out
    text = call.prompt_text()
    return [text] if text else []


def _redact(guard: PrivacyGuard, call: Call) -> tuple[dict[str, Any], Redaction]:
    if call.endpoint == "chat":
        messages, redaction = guard.redact_messages(call.body["messages"])
        return {**call.body, "messages": messages}, redaction
    field_name = "prompt" if call.endpoint == "completions" else "input"
    value = call.body.get(field_name)
    texts = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
    redaction = guard.redact(texts)
    new: Any = redaction.texts[0] if isinstance(value, str) else list(redaction.texts)
    return {**call.body, field_name: new}, redaction


def restore_message(message: dict[str, Any], restore: Callable[[str], str]) -> None:
    """Restore placeholders in a reply message (content and tool-call arguments)."""
    content = message.get("content")
    if isinstance(content, str):
        message["content"] = restore(content)
    for tc in message.get("tool_calls") or ():
        fn = tc.get("function") or {}
        if isinstance(fn.get("arguments"), str):
            fn["arguments"] = restore(fn["arguments"])
