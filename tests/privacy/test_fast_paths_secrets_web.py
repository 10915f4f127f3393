"""The scan's fast paths for secrets and web values must not drop values
that reach them: the key-value prefilter (key stems looked for only before
separators), the IPv4 and IPv6 checks on groups, the colon precheck of IPv6
candidates and the "http(s)" scheme shortcut, each checked against the slow
answer it replaces (the full scan, or the ``ipaddress`` library).
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from tandem.privacy import PrivacyGuard, Span
from tandem.privacy.checks import ip_ok, ipv4_ok
from tests.privacy.helpers import found


def _parse(candidate: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


def test_ipv4_ok_agrees_with_ipaddress() -> None:
    rng = random.Random(3)
    octets = "0 00 01 1 9 10 99 100 199 200 249 250 255 256 299 300 999".split()
    candidates = [".".join(rng.choice(octets) for _ in range(4)) for _ in range(3000)]
    candidates += ["1.2.3", "1.2.3.4.5", "1..2.3", "", "a.b.c.d", "1.2.3.4 ", "\u0661.\u0662.\u0663.\u0664"]
    for candidate in candidates:
        expected = isinstance(_parse(candidate), ipaddress.IPv4Address)
        assert ipv4_ok(candidate) == expected, candidate
        if expected:
            assert ip_ok(candidate)


def test_key_value_prefilter_never_drops_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stems looked for only near separators agree with scanning every
    stem, also at the longest key names and blanks the key-value pattern
    allows, with other separators close by or none."""
    rng = random.Random(13)
    texts = []
    for stem in ("password", "pwd", "api_key", "secret", "token", "pass"):
        for k in range(0, 48):
            for gap in ("", "'", '" \t ', "   ", "    "):
                for sep in (":", "=", ":=", "=>"):
                    key = stem + "-" * (k % 2) + "x" * k
                    prose = "lorem ipsum dolor " * rng.randint(60, 90)
                    texts.append(f"{prose}{key}{gap}{sep} s3cr3tV4lue99 and 09:30")
                    texts.append(f"a: b, c={k} {key}{gap}{sep} s3cr3tV4lue99 x:y {stem}=: {key} {sep}")

    fast, slow = _key_values_with_and_without_prefilter(texts, monkeypatch)
    assert fast == slow
    assert sum(map(bool, fast)) > len(texts) // 4


def _key_values_with_and_without_prefilter(
    texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[list[Span]], list[list[Span]]]:
    """Key-value secrets of each text, found as the scan does and by
    scanning every key stem over the whole text."""
    from tandem.privacy import credentials

    def key_values(text: str) -> list[Span]:
        out: list[Span] = []
        credentials._find_key_values(text, text.lower(), out)
        return out

    fast = [key_values(t) for t in texts]
    with monkeypatch.context() as patched:
        patched.setattr(credentials, "_stems_before_separators", lambda lowered: credentials._STEMS)
        return fast, [key_values(t) for t in texts]


def test_ipv6_colon_precheck_keeps_every_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """Addresses are found after times and next to other colons, whatever
    precedes them within the leftward reach, as without the precheck."""
    from tandem.privacy import web

    rng = random.Random(17)
    groups = ["0", "db8", "2001", "fe80", "ffff", "1", "a", "192.168.0.1", ""]
    texts = []
    for _ in range(5000):
        address = ":".join(rng.choice(groups) for _ in range(rng.randint(2, 9)))
        before = rng.choice(["", "at 12:30:05 ", "x:", "1:2:", "::", "id ", "ab:cd ", "a:b:c:d:e:f "])
        texts.append(before + address + rng.choice(["", " ok", ":", " 12:30"]))

    def addresses(text: str) -> list[Span]:
        out: list[Span] = []
        web.find_ipv6(text, text.lower(), out)
        return out

    fast = [addresses(t) for t in texts]
    monkeypatch.setattr(web, "_enough_colons", lambda lowered, start, end: True)
    assert [addresses(t) for t in texts] == fast
    assert sum(map(bool, fast)) > len(texts) // 10


def test_secret_among_many_labeled_fields(guard: PrivacyGuard) -> None:
    """A text of many "Label: value" lines (a separator every hundred or so
    characters) is searched for keys near its separators only: a password
    among them is still found, ordinary labels give nothing."""
    fields = ["Phone: 0341 8387176", "E-mail: anna@example.com", "Website: https://example.org/", "Date: 2024-05-01"]
    lines = [f"Personal info, item {i}, as filed by the desk:\n{fields[i % 4]}" for i in range(80)]
    text = "\n".join(lines)
    assert not [t for t, _ in found(guard, text) if t == "SECRET"]
    for key in ("password", "db_pwd", "api-key", "client_secret", "auth_token", "PASS"):
        lines[41] = f"{key}: s3cr3tV4lue99x"
        spans = found(guard, "\n".join(lines))
        assert ("SECRET", "s3cr3tV4lue99x") in spans, key


def test_key_stems_near_separators_of_long_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Texts long enough for the split at separators, with separators dense
    (code) or not (labeled fields), give what scanning every stem gives."""
    rng = random.Random(19)
    prose = "note key monkey token pass passport secret a \n ' the of and to in is".split(" ")
    words = [*prose, *prose, "Phone:", "x=1", "9:30"]
    keys = ["password", "pwd", "api_key", "secret", "token", "passphrase", "my-secret-key"]
    texts = []
    for _ in range(300):
        pool = words if rng.random() < 0.8 else ["a:", "b=", "c"]  # or separators as dense as in code
        parts = [rng.choice(pool) for _ in range(rng.randint(300, 900))]
        for _ in range(rng.randint(0, 3)):
            key = rng.choice(keys) + rng.choice(["", "_x", "-" + "y" * rng.randint(0, 44)])
            gap, sep = rng.choice(["", "'", " ", "   "]), rng.choice([":", "=", ":=", "=>"])
            parts.insert(rng.randrange(len(parts)), f"{key}{gap}{sep} v4lu3s3cr3t9")
        texts.append(rng.choice([" ", "  ", "; "]).join(parts))

    fast, slow = _key_values_with_and_without_prefilter(texts, monkeypatch)
    assert fast == slow
    assert sum(map(bool, fast)) > 100


def test_web_scheme_shortcut_equals_the_scheme_search() -> None:
    """ "http" and "https" found without the leftward search start where it
    would start them, whatever stands before them (or where a URL ended)."""
    from tandem.privacy.web import _scheme_start, _web_scheme_start

    rng = random.Random(29)
    before = ["", " ", "(", "x", "_", "+", ".", "-", "é", "Д", "5", '"', "a.b", "git+", "\n", "HTTP", "ftp"]
    schemes = ["http", "https", "HTTPS", "Http", "ttps", "ps", "hxxp", "httpsx", "file", "s"]
    shortcuts = 0
    for _ in range(20000):
        text = rng.choice(before) + rng.choice(before) + rng.choice(schemes) + "://example.org/"
        pos = text.find("://")
        floor = rng.randint(0, pos) if rng.random() < 0.3 else 0
        fast = _web_scheme_start(text, text.lower(), pos, floor)
        if fast >= 0:
            shortcuts += 1
            assert fast == _scheme_start(text, pos, floor), (text, floor)
    assert shortcuts > 1000


def test_ipv6_ok_agrees_with_ipaddress() -> None:
    """The IPv6 check on groups gives the library's answer, "::" anywhere,
    too many or too few groups, long groups, an IPv4 tail."""
    from tandem.privacy.checks import ipv6_ok

    rng = random.Random(30)
    pieces = [
        "0",
        "1",
        "a",
        "F",
        "ff",
        "12",
        "abc",
        "1234",
        "12345",
        "",
        ":",
        "::",
        ":::",
        "0:0",
        "1.2.3.4",
        "01.2.3.4",
    ]
    valid = 0
    for _ in range(100000):
        candidate = "".join(rng.choice(pieces) + (":" if rng.random() < 0.8 else "") for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.3:
            candidate = candidate.rstrip(":")
        expected = _parse(candidate) is not None  # what ip_ok says
        assert ipv6_ok(candidate) == expected, candidate
        valid += expected
    for candidate in (
        "::",
        "::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "6e40:4041:c617:e898:c11:40d2:c669:2eb4",
    ):
        assert ipv6_ok(candidate), candidate
    for candidate in (
        "",
        ":",
        ":::",
        "1::2::3",
        ":1::2",
        "1::2:",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "::1:2:3:4:5:6:7:8",
    ):
        assert not ipv6_ok(candidate), candidate
    assert valid > 1000
