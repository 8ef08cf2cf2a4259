"""eMAID (ISO 15118-2 Annex H, eMI3 contract id) and PCID (VDE-AR-E 2802-100-1) parsing and validation.

eMAID layout (separators optional, case-insensitive)::

    CC [-] PPP [-] IIIIIIIII [-] K
    |      |       |             check character (eMI3 matrix method), optional on input
    |      |       instance: 9 alphanumerics
    |      provider id: 3 alphanumerics
    country code: 2 letters

Check character: each character c (0-9 -> 0..9, A-Z -> 10..35) is split as v = 18*q1 + 9*q2 + 3*r1 + r2 into
a binary row vector q = (q1, q2) and a ternary row vector r = (r1, r2). Over all 15 positions i = 1..15 of a
valid id: sum(q_i * P1^i) = 0 (mod 2) and sum(r_i * P2^i) = 0 (mod 3), with P1 = [[0,1],[1,1]] and
P2 = [[0,1],[1,2]]. The check character is the unique character that makes both sums zero.

PCID: 18 characters [A-Z0-9]: WMI (3) + 14 alphanumerics + check character. Our facts do not include the PCID
check algorithm, so only the form is checked here (documented limitation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evcc.contracts.errors import InvalidIdentifier

Matrix = tuple[int, int, int, int]  # row-major 2x2
_P1: Matrix = (0, 1, 1, 1)
_P2: Matrix = (0, 1, 1, 2)
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_EMAID = re.compile(r"^([A-Z]{2})-?([A-Z0-9]{3})-?([A-Z0-9]{9})(?:-?([A-Z0-9]))?$")
_PCID = re.compile(r"^[A-Z0-9]{18}$")
MAX_INPUT = 64  # bound before any parsing


def _mul(a: Matrix, b: Matrix, m: int) -> Matrix:
    return ((a[0] * b[0] + a[1] * b[2]) % m, (a[0] * b[1] + a[1] * b[3]) % m,
            (a[2] * b[0] + a[3] * b[2]) % m, (a[2] * b[1] + a[3] * b[3]) % m)


def _powers(p: Matrix, m: int, count: int) -> list[Matrix]:
    out, acc = [], p
    for _ in range(count):
        out.append(acc)
        acc = _mul(acc, p, m)
    return out


_P1S = _powers(_P1, 2, 15)  # P1^1 .. P1^15
_P2S = _powers(_P2, 3, 15)


def _split(ch: str) -> tuple[tuple[int, int], tuple[int, int]]:
    v = _ALNUM.index(ch)
    return (v // 18, (v // 9) % 2), ((v // 3) % 3, v % 3)


def _vec(v: tuple[int, int], p: Matrix, m: int) -> tuple[int, int]:
    return ((v[0] * p[0] + v[1] * p[2]) % m, (v[0] * p[1] + v[1] * p[3]) % m)


def _sums(chars: str) -> tuple[tuple[int, int], tuple[int, int]]:
    tq, tr = (0, 0), (0, 0)
    for i, ch in enumerate(chars):
        q, r = _split(ch)
        a, b = _vec(q, _P1S[i], 2), _vec(r, _P2S[i], 3)
        tq, tr = ((tq[0] + a[0]) % 2, (tq[1] + a[1]) % 2), ((tr[0] + b[0]) % 3, (tr[1] + b[1]) % 3)
    return tq, tr


def check_character(body: str) -> str:
    """The check character of the 14 characters ``body`` (upper-case, no separators)."""
    if len(body) != 14 or any(c not in _ALNUM for c in body):
        raise InvalidIdentifier(f"eMAID body must be 14 characters [A-Z0-9], got {body!r}")
    tq, tr = _sums(body)
    for ch in _ALNUM:
        q, r = _split(ch)
        a, b = _vec(q, _P1S[14], 2), _vec(r, _P2S[14], 3)
        if ((tq[0] + a[0]) % 2, (tq[1] + a[1]) % 2) == (0, 0) and ((tr[0] + b[0]) % 3, (tr[1] + b[1]) % 3) == (0, 0):
            return ch
    raise AssertionError("unreachable: every sum has exactly one completing character")


@dataclass(frozen=True)
class Emaid:
    """A parsed eMAID. ``normalized`` is the 15-character form without separators, upper case."""

    country: str
    provider: str
    instance: str
    check: str

    @property
    def normalized(self) -> str:
        return f"{self.country}{self.provider}{self.instance}{self.check}"

    @property
    def display(self) -> str:
        return f"{self.country}-{self.provider}-{self.instance}-{self.check}"


def parse_emaid(text: str, *, require_check: bool = True) -> Emaid:
    """Parse, normalise and validate an eMAID. Raises :class:`InvalidIdentifier` naming what was wrong.

    A missing check character is computed when ``require_check`` is False; a present one must be right.
    """
    if not isinstance(text, str) or len(text) > MAX_INPUT:
        raise InvalidIdentifier("eMAID must be a string of at most 64 characters")
    if not text.isascii():
        raise InvalidIdentifier(f"eMAID contains non-ASCII characters: {text!r}")
    m = _EMAID.match(text.strip().upper())
    if m is None:
        raise InvalidIdentifier(f"eMAID {text!r} is not CC[-]PPP[-]IIIIIIIII[-]K")
    country, provider, instance, check = m.groups()
    expected = check_character(country + provider + instance)
    if check is None:
        if require_check:
            raise InvalidIdentifier(f"eMAID {text!r} has no check character")
        check = expected
    elif check != expected:
        raise InvalidIdentifier(f"eMAID {text!r}: check character {check!r}, expected {expected!r}")
    return Emaid(country, provider, instance, check)


def normalize_emaid(text: str) -> str:
    """The 15-character normalised form of a valid eMAID (raises :class:`InvalidIdentifier`)."""
    return parse_emaid(text).normalized


def validate_pcid(text: str) -> str:
    """Validate the form of a PCID (18 characters [A-Z0-9], upper case as -20's AAD needs) and return it."""
    if not isinstance(text, str) or len(text) > MAX_INPUT or not text.isascii():
        raise InvalidIdentifier(f"PCID must be an ASCII string, got {text!r}")
    if _PCID.match(text) is None:
        raise InvalidIdentifier(f"PCID {text!r} is not 18 upper-case letters and digits")
    return text
