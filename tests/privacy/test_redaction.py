"""Pseudonymization: placeholders, restoration, chat messages, streaming."""

from __future__ import annotations

import copy
import random

import pytest

from tandem.privacy import PrivacyGuard, Redaction, StreamRestorer

EMAIL = "jane.doe@example.com"
PHONE = "+44 20 7946 0958"
CARD = "4111 1111 1111 1111"


def test_round_trip(guard: PrivacyGuard) -> None:
    text = f"Mail {EMAIL} or call {PHONE}; card {CARD}."
    red = guard.redact([text])
    assert red.texts == ["Mail <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_1>; card <CREDIT_CARD_1>."]
    assert red.counts == {"EMAIL_ADDRESS": 1, "PHONE_NUMBER": 1, "CREDIT_CARD": 1}
    assert red.restore(red.texts[0]) == text
    assert bool(red) and red.placeholders == [
        "<EMAIL_ADDRESS_1>",
        "<PHONE_NUMBER_1>",
        "<CREDIT_CARD_1>",
    ]


def test_same_value_same_placeholder_across_texts(guard: PrivacyGuard) -> None:
    red = guard.redact([f"from {EMAIL}", "to bob@example.org", f"cc {EMAIL} and bob@example.org"])
    assert red.texts == [
        "from <EMAIL_ADDRESS_1>",
        "to <EMAIL_ADDRESS_2>",
        "cc <EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_2>",
    ]
    assert red.counts == {"EMAIL_ADDRESS": 4}


def test_formatting_variants_share_a_placeholder(guard: PrivacyGuard) -> None:
    red = guard.redact(
        [
            "card 4111 1111 1111 1111",
            "card 4111-1111-1111-1111",
            "JANE@EXAMPLE.COM and jane@example.com",
        ]
    )
    assert red.texts[0] == "card <CREDIT_CARD_1>" and red.texts[1] == "card <CREDIT_CARD_1>"
    assert red.texts[2] == "<EMAIL_ADDRESS_1> and <EMAIL_ADDRESS_1>"
    assert red.restore("<CREDIT_CARD_1>") == "4111 1111 1111 1111"  # the first form seen


def test_no_pii_leaves_texts_alone(guard: PrivacyGuard) -> None:
    texts = ["hello", "", "the year 2024"]
    red = guard.redact(texts)
    assert red.texts == texts and red.counts == {} and not red
    assert red.restore("<EMAIL_ADDRESS_1>") == "<EMAIL_ADDRESS_1>"


def test_repr_shows_no_values(guard: PrivacyGuard) -> None:
    red = guard.redact([f"{EMAIL} {CARD}"])
    assert EMAIL not in repr(red) and "4111" not in repr(red)
    assert "EMAIL_ADDRESS" in repr(red)


def test_user_typed_placeholder_is_not_reused(guard: PrivacyGuard) -> None:
    red = guard.redact([f"literal <EMAIL_ADDRESS_1> and real {EMAIL}"])
    assert red.texts == ["literal <EMAIL_ADDRESS_1> and real <EMAIL_ADDRESS_2>"]
    assert red.restore(red.texts[0]) == f"literal <EMAIL_ADDRESS_1> and real {EMAIL}"


@pytest.mark.parametrize(
    "variant",
    [
        "<EMAIL_ADDRESS_1>",
        "[EMAIL_ADDRESS_1]",
        "&lt;EMAIL_ADDRESS_1&gt;",
        "< EMAIL_ADDRESS_1 >",
        "<email_address_1>",
    ],
)
def test_restore_tolerates_rewritten_placeholders(guard: PrivacyGuard, variant: str) -> None:
    red = guard.redact([EMAIL])
    assert red.restore(f"Sent to {variant}.") == f"Sent to {EMAIL}."


def test_restore_leaves_unknown_placeholders(guard: PrivacyGuard) -> None:
    red = guard.redact([EMAIL])
    text = "<EMAIL_ADDRESS_2> <PHONE_NUMBER_1> [1] <b>x</b> a < b"
    assert red.restore(text) == text


def test_contains_pii_counts_only(guard: PrivacyGuard) -> None:
    assert guard.contains_pii([f"{EMAIL} {EMAIL}", f"{PHONE}", "nothing"]) == {
        "EMAIL_ADDRESS": 2,
        "PHONE_NUMBER": 1,
    }
    assert guard.contains_pii(["nothing here"]) == {}


# ---------------------------------------------------------------- chat messages


def _messages() -> list[dict[str, object]]:
    return [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": f"My email is {EMAIL}."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"Card: {CARD}"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "send", "arguments": f'{{"to": "{EMAIL}"}}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sent"},
    ]


def test_redact_messages(guard: PrivacyGuard) -> None:
    messages = _messages()
    before = copy.deepcopy(messages)
    out, red = guard.redact_messages(messages)
    assert messages == before  # input untouched
    assert out[0] is not messages[0] and out[0] == messages[0]
    assert out[1]["content"] == "My email is <EMAIL_ADDRESS_1>."
    parts = out[2]["content"]
    assert isinstance(parts, list)
    assert parts[0] == {"type": "text", "text": "Card: <CREDIT_CARD_1>"}
    assert parts[1] is messages[2]["content"][1]  # type: ignore[index]
    calls = out[3]["tool_calls"]
    assert isinstance(calls, list)
    assert calls[0]["function"]["arguments"] == '{"to": "<EMAIL_ADDRESS_1>"}'
    assert out[4] == messages[4]
    assert red.counts == {"EMAIL_ADDRESS": 2, "CREDIT_CARD": 1}


def test_redact_messages_without_pii_returns_equal_copies(guard: PrivacyGuard) -> None:
    messages: list[dict[str, object]] = [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "text"}]},
    ]
    out, red = guard.redact_messages(messages)
    assert out == messages and not red


# ---------------------------------------------------------------- streaming


def _redaction(guard: PrivacyGuard) -> Redaction:
    return guard.redact(
        [
            f"{EMAIL} {PHONE} {CARD} a@b.example.com c@d.example.com e@f.example.com "
            "g@h.example.com i@j.example.com k@l.example.com m@n.example.com "
            "o@p.example.com q@r.example.com"
        ]
    )


def _stream(restorer: StreamRestorer, chunks: list[str]) -> str:
    return "".join(restorer.feed(c) for c in chunks) + restorer.flush()


def test_stream_split_at_every_position(guard: PrivacyGuard) -> None:
    red = _redaction(guard)
    reply = "Write to <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS_10>, call <PHONE_NUMBER_1>!"
    expected = red.restore(reply)
    assert EMAIL in expected and PHONE in expected and "q@r.example.com" in expected
    for i in range(len(reply) + 1):
        assert _stream(red.restorer(), [reply[:i], reply[i:]]) == expected, i
        for j in range(i, len(reply) + 1):
            got = _stream(red.restorer(), [reply[:i], reply[i:j], reply[j:]])
            assert got == expected, (i, j)


def test_stream_one_character_at_a_time(guard: PrivacyGuard) -> None:
    red = _redaction(guard)
    reply = "[EMAIL_ADDRESS_1] &lt;CREDIT_CARD_1&gt; < EMAIL_ADDRESS_2 > <b>bold</b> x<y &amp;"
    assert _stream(red.restorer(), list(reply)) == red.restore(reply)


def test_stream_random_chunks(guard: PrivacyGuard) -> None:
    red = _redaction(guard)
    rng = random.Random(7)
    pieces = [
        "<EMAIL_ADDRESS_1>",
        "<PHONE_NUMBER_1>",
        "<CREDIT_CARD_1>",
        " text ",
        "<",
        "[",
        "&",
        "<EMAIL_ADDRESS_9>",
        "<EMAIL",
        "_ADDRESS_",
        " a < b ",
        "\n",
    ]
    for _ in range(200):
        reply = "".join(rng.choice(pieces) for _ in range(20))
        cuts = sorted(rng.sample(range(len(reply) + 1), 5))
        chunks = [reply[a:b] for a, b in zip([0, *cuts], [*cuts, len(reply)], strict=True)]
        assert _stream(red.restorer(), chunks) == red.restore(reply)


def test_stream_releases_what_cannot_be_a_placeholder(guard: PrivacyGuard) -> None:
    restorer = _redaction(guard).restorer()
    assert restorer.feed("a <") == "a "  # "<" may start a placeholder
    assert restorer.feed("div>") == "<div>"  # "<d" cannot: released at once
    assert restorer.feed("x < 3") == "x < 3"
    assert restorer.feed(" <EMAIL_ADD") == " "
    assert restorer.feed("RESS_1> ok") == f"{EMAIL} ok"
    assert restorer.feed("<EMAIL_ADDRESS_1") == ""  # may still become _10, _11, ...
    assert restorer.feed(".") == "<EMAIL_ADDRESS_1."  # never closed: released as written
    assert restorer.feed("[CREDIT_CARD_1") == ""
    assert restorer.flush() == "[CREDIT_CARD_1"


def test_stream_without_redactions_is_a_pass_through() -> None:
    restorer = PrivacyGuard().redact(["nothing"]).restorer()
    assert restorer.feed("<EMAIL_ADDRESS_1") == "<EMAIL_ADDRESS_1"
    assert restorer.flush() == ""


def test_many_texts_scan_like_each_alone(guard: PrivacyGuard) -> None:
    texts = [
        "a@example.com",
        "",
        "4111 1111 1111 1111",
        "call +1 (415) 555-0132",
        "x",
        "10.0.0.1\n",
        "\nkey: AKIAIOSFODNN7EXAMPLE",
        "password=hunter2",
        "b@example.org",
    ]
    together = guard.redact(texts)
    alone = [guard.redact([t]).texts[0] for t in texts]
    assert together.texts == [
        a.replace("_1>", f"_{n}>") for a, n in zip(alone, [1, 1, 1, 1, 1, 1, 1, 2, 2], strict=True)
    ]
    assert guard.contains_pii(texts) == together.counts


def test_span_crossing_texts_is_cut_at_text_boundaries(guard: PrivacyGuard) -> None:
    # A key block split over two messages: BEGIN in one, END in the next.
    texts = ["-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "AAAA\n-----END PRIVATE KEY-----", "ok"]
    red = guard.redact(texts)
    assert red.texts == ["<SECRET_1>", "<SECRET_2>", "ok"]
    assert [red.restore(t) for t in red.texts] == texts


def test_cut_off_key_block_ends_at_a_blank_line(guard: PrivacyGuard) -> None:
    text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAAAA\n\nThanks, Bob"
    assert guard.redact([text]).texts == ["<SECRET_1>\n\nThanks, Bob"]
