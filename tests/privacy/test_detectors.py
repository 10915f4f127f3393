"""Each detector on values it must find and look-alikes it must not."""

from __future__ import annotations

import itertools

import pytest

from tandem.privacy import PrivacyGuard, Span
from tandem.privacy.checks import card_ok, iban_ok, luhn_ok, ssn_ok
from tests.privacy.helpers import found


def with_check_digit(body: str) -> str:
    """Append the Luhn check digit (computed independently of the code under test)."""
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


# ---------------------------------------------------------------- cards


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500 0000 0000 0004",
        "3782 822463 10005",
        "378282246310005",
        "6011000990139424",
        "3530111333300000",
        "4222222222222",  # 13-digit Visa
        with_check_digit("630400000000000000"),  # 19-digit Maestro
        with_check_digit("50186466790"),  # 12-digit Maestro
    ],
)
def test_card_found(guard: PrivacyGuard, card: str) -> None:
    assert found(guard, f"my card is {card}, thanks") == [("CREDIT_CARD", card)]


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111111111111112",  # Luhn fails
        "my card is 4111 1111 1111 1112",
        "id 9111111111111115",  # valid Luhn, no issuer starts with 9
        "ref " + with_check_digit("41111111111"),  # 12 digits, not Maestro
        "code U4111111111111111",  # glued to a letter: part of an identifier
        "digits 41111111111111111111111",  # too long
        "EAN " + with_check_digit("300000000012"),  # 13 digits, Luhn-valid, not Visa
        "id " + with_check_digit("71111111111111"),  # 15 digits, no issuer starts with 7
    ],
)
def test_card_rejected(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "CREDIT_CARD"] == []


def test_card_followed_by_expiry(guard: PrivacyGuard) -> None:
    text = "card 4111 1111 1111 1111 12/27"
    assert ("CREDIT_CARD", "4111 1111 1111 1111") in found(guard, text)


def test_card_is_not_also_a_phone(guard: PrivacyGuard) -> None:
    assert found(guard, "pay with 4111 1111 1111 1111 please") == [("CREDIT_CARD", "4111 1111 1111 1111")]


def test_checksum_helpers() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert card_ok("4111111111111111") and not card_ok("0000000000000000")
    assert card_ok("5555555555554444") and not card_ok("5555555555554445")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB83WEST12345698765432")
    assert ssn_ok("123", "45", "6789") and not ssn_ok("666", "45", "6789")


# ---------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "gb82west12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
        "NO9386011117947",
    ],
)
def test_iban_found(guard: PrivacyGuard, iban: str) -> None:
    assert found(guard, f"IBAN: {iban}. Thanks") == [("IBAN_CODE", iban)]


@pytest.mark.parametrize(
    "text",
    [
        "IBAN: DE88 3704 0044 0532 0130 00",  # wrong check digits
        "IBAN: DE89 3704 0044 0532 0130 0",  # one character short
        "IBAN: DE89370400440532013000123",  # runs on past the German length
        "IBAN: XX89370400440532013000",  # no such country
        "ref ABDE89370400440532013000",  # glued to letters
    ],
)
def test_iban_rejected(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "IBAN_CODE"] == []


# ---------------------------------------------------------------- SSN


@pytest.mark.parametrize("ssn", ["536-22-1234", "123-45-6789", "536 22 1234", "772-12-0001"])
def test_ssn_found(guard: PrivacyGuard, ssn: str) -> None:
    assert found(guard, f"SSN {ssn}") == [("US_SSN", ssn)]


@pytest.mark.parametrize(
    "ssn",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-45-6789", "123-00-4567", "123-45-0000"],
)
def test_ssn_invalid_parts(guard: PrivacyGuard, ssn: str) -> None:
    assert [t for t, _ in found(guard, f"SSN {ssn}") if t == "US_SSN"] == []


def test_bare_nine_digits_need_context(guard: PrivacyGuard) -> None:
    assert ("US_SSN", "536221234") in found(guard, "my social security number is 536221234")
    assert [t for t, _ in found(guard, "invoice 536221234") if t == "US_SSN"] == []


def test_mixed_separators_are_not_an_ssn(guard: PrivacyGuard) -> None:
    assert [t for t, _ in found(guard, "SSN 536-22 1234") if t == "US_SSN"] == []


# ---------------------------------------------------------------- IP


@pytest.mark.parametrize(
    "ip",
    [
        "192.168.1.1",
        "8.8.8.8",
        "10.0.0.255",
        "2001:db8::8a2e:370:7334",
        "fe80::1",
        "::1",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        "::ffff:192.0.2.1",
    ],
)
def test_ip_found(guard: PrivacyGuard, ip: str) -> None:
    assert found(guard, f"host {ip} is down") == [("IP_ADDRESS", ip)]


@pytest.mark.parametrize(
    "text",
    [
        "host 999.1.1.1",
        "host 256.0.0.1",
        "version 1.2.3",
        "at 12:30:45",
        "std::vector<int>",
        "host 01.02.03.04",
        "mac 00:1A:2B:3C:4D:5E",
        "a::b",
    ],
)
def test_ip_rejected(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "IP_ADDRESS"] == []


# ---------------------------------------------------------------- e-mail, URL


@pytest.mark.parametrize(
    "email",
    [
        "john.doe@example.com",
        "john.doe+tag@mail.example.co.uk",
        "UtaKortig@jourrapide.com",
        "a_b-c@sub-domain.example.org",
        "müller@example.de",
    ],
)
def test_email_found(guard: PrivacyGuard, email: str) -> None:
    assert found(guard, f"write to <{email}>.") == [("EMAIL_ADDRESS", email)]


@pytest.mark.parametrize("text", ["user@localhost", "a@b.c", "@example.com", "x @ y.com", "john@"])
def test_email_rejected(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "EMAIL_ADDRESS"] == []


def test_email_next_to_cjk(guard: PrivacyGuard) -> None:
    assert found(guard, "请发邮件到john@example.com谢谢") == [("EMAIL_ADDRESS", "john@example.com")]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("see https://example.com/a/b?q=1&r=2#frag now", "https://example.com/a/b?q=1&r=2#frag"),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar)).",
            "https://en.wikipedia.org/wiki/Foo_(bar)",
        ),
        ("visit www.example.org.", "www.example.org"),
        ("ftp://files.example.com/x.zip", "ftp://files.example.com/x.zip"),
        (
            "My website is http://www.ScrapbookInsider.com.pt/",
            "http://www.ScrapbookInsider.com.pt/",
        ),
    ],
)
def test_url_found(guard: PrivacyGuard, text: str, url: str) -> None:
    assert found(guard, text) == [("URL", url)]


def test_email_inside_url_keeps_the_url(guard: PrivacyGuard) -> None:
    text = "go to https://example.com/?to=john@example.com now"
    assert found(guard, text) == [("URL", "https://example.com/?to=john@example.com")]


def test_no_url_in_plain_prose(guard: PrivacyGuard) -> None:
    assert found(guard, "e.g. the file config.yaml and the www section") == []


# ---------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "phone",
    [
        "+1 (415) 555-0132",
        "+1-984-182-0190",
        "+44 20 7946 0958",
        "+447700 900123",
        "+41 (0)69 979 80 58",
        "0049 30 1234567",
        "001-518-640-0854",
        "(415) 555-0132",
        "415-555-0132",
        "415.555.0132",
        "020 7946 0958",
        "06 12 34 56 78",
        "0490 75 40 81",
        "345-899-3560x4587",
        "+1-903-140-4508x769",
        "(+358) 40 2359256",
        "(97)/869-0736",
        "9498777106",
        "038401107",
    ],
)
def test_phone_found(guard: PrivacyGuard, phone: str) -> None:
    assert found(guard, f"Please call {phone} tomorrow.") == [("PHONE_NUMBER", phone)]


def test_local_number_needs_a_cue(guard: PrivacyGuard) -> None:
    assert found(guard, "Phone: 467 3395") == [("PHONE_NUMBER", "467 3395")]
    assert found(guard, "He lives at 224 4966 Bond Street") == []


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15 we met",
        "date 12/25/2023",
        "population 1.234.567",
        "order 12345678",
        "in 2019 and 2020",
        "pi is 3.14159265",
        "+1",
        "the 7 dwarves",
        "v1.2.3.4",
    ],
)
def test_not_phones(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "PHONE_NUMBER"] == []


def test_phone_regions_are_configurable() -> None:
    us_only = PrivacyGuard(["PHONE_NUMBER"], phone_regions=["US"])
    assert found(us_only, "call 415-555-0132") == [("PHONE_NUMBER", "415-555-0132")]
    assert found(us_only, "call 0490 75 40 81") == []
    with pytest.raises(ValueError, match="unknown phone regions"):
        PrivacyGuard(phone_regions=["XX"])


# ---------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-" + "A1b2C3d4" * 6,
        "sk-ant-api03-" + "x" * 40,
        "sk-" + "a" * 48,
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a1B2" * 9,
        "github_pat_" + "11ABCDEFG0" * 4,
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKl",
        "AIzaSyA-" + "b" * 31,
        "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "hf_" + "AbCd" * 9,
    ],
)
def test_provider_token_found(guard: PrivacyGuard, secret: str) -> None:
    assert found(guard, f"token: {secret} end") == [("SECRET", secret)]


def test_pem_private_key(guard: PrivacyGuard) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234\nabcd==\n-----END RSA PRIVATE KEY-----"
    assert found(guard, f"key:\n{pem}\nthanks") == [("SECRET", pem)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password=hunter2", "hunter2"),
        ("DB_PASSWORD: 'p@ss w0rd'", "p@ss w0rd"),
        ('{"api_key": "abc123def"}', "abc123def"),
        ("OPENAI_API_KEY=whatever-it-is", "whatever-it-is"),
        ("client_secret = Zx9yW8vU7tS6", "Zx9yW8vU7tS6"),
        ("auth_token: 9f8e7d6c5b4a3f2e1d0c", "9f8e7d6c5b4a3f2e1d0c"),
        ("Authorization: Bearer abcdef0123456789xyz", "abcdef0123456789xyz"),
    ],
)
def test_key_value_secrets(guard: PrivacyGuard, text: str, value: str) -> None:
    assert found(guard, text) == [("SECRET", value)]


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=1024",
        "The secret: be kind",
        "password: null",
        "token: 5",
        "cd $(pwd)",
        "the key points: cost",
        "sk-learn",
        "task-manager-with-a-very-long-name-indeed",
    ],
)
def test_not_secrets(guard: PrivacyGuard, text: str) -> None:
    assert [t for t, _ in found(guard, text) if t == "SECRET"] == []


def test_secret_inside_url_keeps_its_type(guard: PrivacyGuard) -> None:
    key = "AIzaSyA-" + "b" * 31
    types = [t for t, _ in found(guard, f"https://maps.example.com/api?key={key}")]
    assert "SECRET" in types


# ---------------------------------------------------------------- API


def test_spans_are_sorted_non_overlapping_and_typed(guard: PrivacyGuard) -> None:
    text = "a@example.com, 4111111111111111, 10.0.0.1, https://x.example.com"
    spans = guard.scan(text)
    assert [s.entity_type for s in spans] == ["EMAIL_ADDRESS", "CREDIT_CARD", "IP_ADDRESS", "URL"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))
    assert spans[0] == Span("EMAIL_ADDRESS", 0, 13)
    assert spans[0].to_dict() == {"entity_type": "EMAIL_ADDRESS", "start": 0, "end": 13}


def test_entities_filter() -> None:
    only_email = PrivacyGuard(["EMAIL_ADDRESS"])
    assert found(only_email, "a@example.com 4111111111111111") == [("EMAIL_ADDRESS", "a@example.com")]
    with pytest.raises(ValueError, match="unknown entity types"):
        PrivacyGuard(["EMAIL"])


def test_empty_and_plain_text(guard: PrivacyGuard) -> None:
    assert guard.scan("") == []
    assert guard.scan("Nothing personal here, just 3 apples and 2 pears.") == []
