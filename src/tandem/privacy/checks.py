"""Checksums and validity rules that turn digit patterns into entities.

Each function takes an already extracted candidate and answers whether it
is a plausible value of its kind; none of them searches text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from itertools import repeat
from operator import gt

__all__ = [
    "CARD_HEADS",
    "IBAN_LENGTHS",
    "card_bytes_ok",
    "card_ok",
    "card_prefix",
    "iban_digits_ok",
    "iban_ok",
    "ip_ok",
    "ipv4_ok",
    "ipv6_ok",
    "luhn_all_ok",
    "luhn_ok",
    "ssn_ok",
]

# ASCII digit -> ASCII digit of the digit sum of twice its value.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by payment card numbers (ASCII digits)."""
    raw = digits.encode("ascii")
    # Summing bytes is the fastest digit sum in CPython; 48 is ord("0").
    total = sum(raw[-1::-2]) + sum(raw[-2::-2].translate(_DOUBLED)) - 48 * len(raw)
    return total % 10 == 0


def card_ok(digits: str) -> bool:
    """A payment card number: 12-19 digits, an issuer prefix, Luhn.

    The first digit (major industry identifier) must fit the length, which
    keeps product codes and IDs that pass Luhn by chance out: Maestro
    (50, 56-69, legacy 0604) issues 12-19 digits; 13 digits are otherwise
    Visa (4); 14 Diners (3); 15 Amex/Diners (3), JCB 1800/2131 and UATP
    (1, 2); 16 the 2-series Mastercard, JCB, Visa, Mastercard, Discover and
    UnionPay (2-6); 17-19 Visa, Discover, JCB, UnionPay (3-6).
    """
    n = len(digits)
    if n < 12 or n > 19:
        return False
    first = digits[0]
    maestro = digits[:2] == "50" or "56" <= digits[:2] <= "69" or digits.startswith("0604")
    if not (maestro or first in _FIRST_DIGITS[n]):
        return False
    return luhn_ok(digits) and digits.count(first) != n  # not 0000…, 1111… fillers


def card_bytes_ok(raw: bytes) -> bool:
    """:func:`card_ok` of ASCII digits given as bytes, in fewer steps.

    The issuer rule is one set lookup of the first two digits per length
    (plus the legacy Maestro 0604), and Luhn runs on ``raw`` directly, its
    two halves summed at once: the fast path for card-shaped clusters,
    which are as common as all other numbers together in some texts.
    """
    n = len(raw)
    heads = CARD_HEADS.get(n)
    if heads is None or (raw[:2] not in heads and not raw.startswith(b"0604")):
        return False
    # 48 is ord("0"): the sum of n digit bytes is 48 * n plus the digits'.
    return (sum(raw[-2::-2].translate(_DOUBLED) + raw[-1::-2]) - 48 * n) % 10 == 0 and raw.count(raw[0]) != n


def luhn_all_ok(numbers: Sequence[bytes]) -> list[bool]:
    """For each of ``numbers`` (12-19 ASCII digits), whether it passes Luhn
    and is no filler (all one digit): the rest of :func:`card_bytes_ok`
    after the issuer rule, for many numbers at once.

    Each number is right-aligned in a block of 20 bytes (zeros in front add
    nothing to Luhn), so every block's doubled digits sit at even offsets.
    The blocks' digit values, doubled where due, read as one little-endian
    integer and multiplied by twenty 1-bytes give each block's sum in the
    byte at the block's last offset: each byte of the product sums at most
    twenty values of at most 9, so nothing carries. A few C-level steps for
    all numbers instead of a dozen Python steps for each.
    """
    if not numbers:
        return []
    padded = b"".join(map(bytes.rjust, numbers, repeat(_BLOCK), repeat(b"0")))
    values = bytearray(padded.translate(_VALUES))
    values[0::2] = padded[0::2].translate(_DOUBLED_VALUES)
    size = len(values)
    sums = (int.from_bytes(values, "little") * _BLOCK_ONES).to_bytes(size + _BLOCK, "little")[
        _BLOCK - 1 : size : _BLOCK
    ]
    return list(map(gt, sums.translate(_MULTIPLE_OF_TEN), map(_FILLERS.__contains__, numbers)))


_BLOCK = 20
_BLOCK_ONES = int.from_bytes(b"\x01" * _BLOCK, "little")
_VALUES = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED_VALUES = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))
_MULTIPLE_OF_TEN = bytes(total % 10 == 0 for total in range(256))
_FILLERS = frozenset(bytes([digit]) * n for digit in b"0123456789" for n in range(12, 20))


def card_prefix(groups: list[str]) -> int:
    """Length of the longest leading run of groups that is a card, or 0.

    Inner groups have 3-6 digits (4-4-4-4, Amex 4-6-5, 4-4-4-4-3); trailing
    groups that break the checksum ("4111 1111 1111 1111 12/25") are
    dropped while 12 or more digits remain.
    """
    digits = "".join(groups)
    k = len(groups)
    while k >= 2 and len(digits) >= 12:
        if all(len(g) >= 3 for g in groups[1 : k - 1]) and card_ok(digits):
            return len(digits) + k - 1
        k -= 1
        digits = digits[: -len(groups[k])]
    return 0


_FIRST_DIGITS: dict[int, str] = {
    12: "", 13: "4", 14: "3", 15: "123", 16: "23456", 17: "3456", 18: "3456", 19: "3456",
}  # fmt: skip
# Length -> the first two digits card_ok accepts (0604 aside): Maestro's
# 50 and 56-69 at every length, else the first digits of _FIRST_DIGITS.
#: Card length -> the first two digits the issuer rule accepts (0604 aside).
CARD_HEADS: dict[int, frozenset[bytes]] = {
    n: frozenset(b"%02d" % i for i in range(100) if i == 50 or 56 <= i <= 69 or str(i // 10) in _FIRST_DIGITS[n])
    for n in _FIRST_DIGITS
}


# Total IBAN length per country (SWIFT IBAN registry).
# fmt: off
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16,
    "BG": 22, "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22,
    "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22,
    "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# fmt: on


# ISO 13616: letters count as two-digit numbers, A = 10 … Z = 35.
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LETTER_VALUES = {ord(ch): str(i) for i, ch in enumerate(_UPPER, 10)}


# A country code as ISO 13616 numbers it (DE -> "1314").
_COUNTRY_NUMBERS = {country: country.translate(_LETTER_VALUES) for country in IBAN_LENGTHS}


def iban_ok(iban: str) -> bool:
    """An IBAN without spaces, upper case: country length and mod-97 == 1."""
    country = iban[:2]
    if IBAN_LENGTHS.get(country) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    return iban_digits_ok(country, iban[2:])


def iban_digits_ok(country: str, rest: str) -> bool:
    """The mod-97 test of :func:`iban_ok` for an IBAN known to be of the
    right length, ASCII letters and digits: its country code and the rest
    (check digits, then the account number)."""
    check, account = rest[:2], rest[2:]
    if not check.isdigit():
        return False
    # The country code's digits come from a table, and only letters at the
    # start of the account number (a bank code: GB, NL, IE, ...) are
    # translated: a translate through a dict costs about 40 ns a character.
    if account.isdigit():
        number = account + _COUNTRY_NUMBERS[country] + check
    elif (digits := account.lstrip(_UPPER)).isdigit():
        letters = account[: len(account) - len(digits)]
        number = letters.translate(_LETTER_VALUES) + digits + _COUNTRY_NUMBERS[country] + check
    else:
        number = (account + country + check).translate(_LETTER_VALUES)
    return int(number) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def ip_ok(candidate: str) -> bool:
    """A syntactically valid IPv4 or IPv6 address (per :mod:`ipaddress`)."""
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


_HEX_AND_COLONS = re.compile(r"[0-9A-Fa-f:]*")


def ipv6_ok(candidate: str) -> bool:
    """:func:`ip_ok` of an IPv6 candidate, without :mod:`ipaddress` (5 µs)
    when it is hex digits and colons only: its rules, on the groups.

    Without "::", eight groups; with one "::" (an empty group inside, and
    an empty end only as part of it), at most seven; each group at most
    four hex digits. Anything else (an IPv4 tail) goes to the library.
    """
    if not _HEX_AND_COLONS.fullmatch(candidate):
        return ip_ok(candidate)
    groups = candidate.split(":")
    n = len(groups)
    if n < 3 or n > 9 or max(map(len, groups)) > 4:
        return False
    empty = groups.count("")
    if "::" not in candidate:
        return n == 8 and not empty
    first, last = not groups[0], not groups[-1]
    if empty - first - last != 1 or (first and groups[1]) or (last and groups[-2]):
        return False
    return n - empty <= 7


# One dotted quad as ``ipaddress`` accepts it: decimal octets up to 255,
# no leading zeros. A regex, because ``ipaddress.ip_address`` costs several
# microseconds and every IPv4 candidate is checked.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def ipv4_ok(candidate: str) -> bool:
    """A valid dotted-quad IPv4 address (same answer as :func:`ip_ok`)."""
    return _IPV4.fullmatch(candidate) is not None
