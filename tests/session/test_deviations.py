"""The peer-deviation record (evcc/session/deviations.py, issue #14): counts per (field, value), bounded, JSON rows."""

from __future__ import annotations

import json

import pytest

from evcc.session.deviations import MAX_VALUE_LEN, DeviationRecord, note_exi


def test_counts_per_field_and_value_in_first_seen_order() -> None:
    r = DeviationRecord()
    assert r.note("CM_SLAC_PARM.CNF RESP_TYPE", 0, 1, "ISO 15118-3 A.8") is True
    assert r.note("CM_SLAC_PARM.CNF RESP_TYPE", 0, 1, "ISO 15118-3 A.8") is False
    assert r.note("CM_SLAC_PARM.CNF RESP_TYPE", 2, 1, "ISO 15118-3 A.8") is True
    r.note("M", b"\x01\x02", b"", "c", count=5)
    rows = r.as_json()
    assert [(x["field"], x["value"], x["count"]) for x in rows] == [
        ("CM_SLAC_PARM.CNF RESP_TYPE", "0", 2), ("CM_SLAC_PARM.CNF RESP_TYPE", "2", 1), ("M", "0102", 5)]
    assert rows[0]["expected"] == "1" and rows[0]["clause"] == "ISO 15118-3 A.8"
    json.dumps(rows)  # plain JSON
    assert "2 times" in r.deviations()[0].describe()


def test_bounded_kinds_and_values() -> None:
    r = DeviationRecord(max_kinds=3)
    for i in range(10_000):
        r.note("field", i, 0, "c")
    assert len(r) == 3 and r.overflow == 9_997
    assert r.as_json()[-1] == {"field": "(other deviations)", "value": "", "expected": "", "clause": "",
                               "count": 9_997}
    long = DeviationRecord()
    long.note("f", "x" * 10_000, "y" * 10_000, "c")
    row = long.as_json()[0]
    assert len(row["value"]) == len(row["expected"]) == MAX_VALUE_LEN
    with pytest.raises(ValueError):
        DeviationRecord(max_kinds=0)


def test_merge_and_exi_note() -> None:
    a, b = DeviationRecord(), DeviationRecord()
    note_exi(a, "din", "SessionSetupRes", 0)
    assert not a
    note_exi(a, "din", "SessionSetupRes", 2)
    note_exi(b, "din", "SessionSetupRes", 1)
    b.note("other", 1, 0, "c")
    a.merge(b)
    rows = {(d.field, d.value): d.count for d in a.deviations()}
    assert rows[("EXI empty simple value", "second-level EE in din SessionSetupRes")] == 3
    assert rows[("other", "1")] == 1
