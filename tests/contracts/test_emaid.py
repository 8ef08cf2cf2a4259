"""eMAID and PCID validation (ISO 15118-2 Annex H; PKI.md §3 vectors)."""

from __future__ import annotations

import pytest

from evcc.contracts.emaid import check_character, normalize_emaid, parse_emaid, validate_pcid
from evcc.contracts.errors import InvalidIdentifier

VECTORS = [
    ("NN123ABCDEFGHI", "T"), ("FRXYZ123456789", "2"), ("ITA1B2C3E4F5G6", "4"), ("ESZU8WOX834H1D", "R"),
    ("PT73902837ABCZ", "Z"), ("DE83DUIEN83QGZ", "D"), ("DE83DUIEN83ZGQ", "M"), ("DE8AA001234567", "0"),
    ("NLTNM000122045", "U"),
]


@pytest.mark.parametrize(("body", "check"), VECTORS)
def test_check_character_vectors(body: str, check: str) -> None:
    assert check_character(body) == check
    assert parse_emaid(body + check).normalized == body + check


def test_separators_and_case_are_normalised() -> None:
    e = parse_emaid("de-8aa-001234567-0")
    assert e.normalized == "DE8AA0012345670" and e.display == "DE-8AA-001234567-0"
    assert normalize_emaid("DE8AA-001234567-0") == "DE8AA0012345670"


def test_missing_check_character_computed_only_when_allowed() -> None:
    assert parse_emaid("NN123ABCDEFGHI", require_check=False).check == "T"
    with pytest.raises(InvalidIdentifier, match="no check character"):
        parse_emaid("NN123ABCDEFGHI")


def test_single_errors_and_transpositions_are_caught() -> None:
    body = "DE83DUIEN83QGZ"
    good = body + check_character(body)
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i in range(2, 15):  # every single substitution (letters-only country code kept valid)
        for ch in alnum:
            if ch != good[i]:
                bad = good[:i] + ch + good[i + 1:]
                with pytest.raises(InvalidIdentifier):
                    parse_emaid(bad)
    for i in range(2, 14):
        if good[i] != good[i + 1]:
            with pytest.raises(InvalidIdentifier):
                parse_emaid(good[:i] + good[i + 1] + good[i] + good[i + 2:])


@pytest.mark.parametrize("bad", [
    "DE8AA001234567\u00d8", "DÉ8AA0012345670", "DE8AA00123456", "D18AA0012345670", "DE_8AA_001234567_0",
    "", "x" * 1000, "DE8AA00123456700",
])
def test_malformed_emaids_rejected(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_emaid(bad)


def test_wrong_check_character_named() -> None:
    with pytest.raises(InvalidIdentifier, match="expected 'T'"):
        parse_emaid("NN123ABCDEFGHIX")


def test_pcid() -> None:
    assert validate_pcid("WMIEVCCTEST0000017") == "WMIEVCCTEST0000017"
    for bad in ("WMIEVCCTEST000001", "wmievcctest0000017", "WMIEVCCTEST00000178", "WMI-VCCTEST0000017", "WMIÉVCCTEST000001"):
        with pytest.raises(InvalidIdentifier):
            validate_pcid(bad)
