"""The peer-deviation record (evcc/session/deviations.py, issue #14): counts per (field, value), bounded, JSON rows;
a session's PeerDeviation events counted in its SessionLog's record."""

from __future__ import annotations

import json

import pytest

from evcc.session.deviations import (
    DEFAULT_MAX_KINDS,
    MAX_VALUE_LEN,
    OVERFLOW_FIELD,
    DeviationRecord,
    merge_json,
    note_exi,
)
from evcc.session.events import PeerDeviation
from evcc.session.session_log import SessionLog


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


def test_report_rows_merge_with_a_record_per_field_and_value() -> None:
    slac = DeviationRecord(max_kinds=1)
    slac.note("RESP_TYPE", 0, 1, "A.8", count=2)
    slac.note("TIME_OUT", 9, 6, "A.8")  # does not fit: overflow
    v2g = DeviationRecord()
    v2g.note("RESP_TYPE", 0, 1, "A.8")
    v2g.note("SAScheduleTuple count", 3, "at most 1", "[V2G2-296]")
    rows = merge_json(slac.as_json(), v2g)
    assert [(r["field"], r["value"], r["count"]) for r in rows] == [
        ("RESP_TYPE", "0", 3), ("SAScheduleTuple count", "3", 1), (OVERFLOW_FIELD, "", 1)]
    assert merge_json([], DeviationRecord()) == []
    many = DeviationRecord()
    for i in range(DEFAULT_MAX_KINDS):
        many.note("f", i, 0, "c")
    assert merge_json(many.as_json(), v2g)[-1]["count"] == 2  # bounded like a record: the rest is counted


def test_session_log_counts_peer_deviation_events_beyond_its_window() -> None:
    log = SessionLog(head=2, tail=2)
    event = PeerDeviation("SAScheduleTuple count", "3", "at most 1", "[V2G2-296]")
    log.extend([event] * 1000)
    assert len(log) == 4  # the window keeps a few events
    assert log.deviations.as_json() == [{"field": "SAScheduleTuple count", "value": "3", "expected": "at most 1",
                                         "clause": "[V2G2-296]", "count": 1000}]
