"""`evcc session --json` lists the SECC's tolerated deviations (issue #14): an empty value in EXIficient's form
(second-level EE, EXI.md §1) in a response is decoded and counted per message type, EV messages are not."""

from __future__ import annotations

from evcc import exi
from evcc.exi._api import _codec
from evcc.session.deviations import EXI_EMPTY_VALUE_FIELD, DeviationRecord
from evcc.session.report import EV_TO_SECC, SECC_TO_EV, Recorded, SessionJsonReport, message_rows


def _din_pair() -> tuple[bytes, bytes, str]:
    """A DIN V2G_Message with empty values, in the first-level form and in EXIficient's form."""
    codec = _codec("din")
    for seed in range(200):
        value = codec.sample("V2G_Message", seed, False, True)
        first, ee = codec.encode("V2G_Message", value), codec.encode("V2G_Message", value, False, True)
        if first != ee:
            body = value.Body
            name = next(n for n, v in zip(body._fields, body) if v is not None) if body else "empty Body"
            return first, ee, name
    raise AssertionError("no DIN sample with an empty value")


def test_session_report_counts_the_seccs_ee_empty_values() -> None:
    sap_req = bytes.fromhex("8000")  # only the first message of each direction is SAP; never decoded as DIN
    first, ee, name = _din_pair()
    records = [
        Recorded(0.0, EV_TO_SECC, 0x8001, sap_req),
        Recorded(0.1, SECC_TO_EV, 0x8001, sap_req),
        Recorded(0.2, EV_TO_SECC, 0x8001, ee),  # the EV side is not the peer: not counted
        Recorded(0.3, SECC_TO_EV, 0x8001, ee),
        Recorded(0.4, EV_TO_SECC, 0x8001, first),
        Recorded(0.5, SECC_TO_EV, 0x8001, ee),
        Recorded(0.6, SECC_TO_EV, 0x8001, first),
    ]
    found = DeviationRecord()
    rows = message_rows(records, "din", 0.0, found)
    assert [r["type"] for r in rows[2:]] == [name] * 5  # both forms decode to the same message
    per_message = exi.decode_counted("din", ee).empty_value_as_ee
    assert [(d.field, d.value, d.count) for d in found.deviations()] == [
        (EXI_EMPTY_VALUE_FIELD, f"second-level EE in din {name}", 2 * per_message)]
    report = SessionJsonReport("ev0", "din", "EIM", False)
    report.take_messages(records, "din", 0.0)
    assert report.deviations == found.as_json() and report.as_dict()["deviations"][0]["count"] == 2 * per_message


def test_no_deviation_no_rows() -> None:
    first, _ee, _name = _din_pair()
    report = SessionJsonReport("ev0", "din", "EIM", False)
    report.take_messages([Recorded(0.0, EV_TO_SECC, 0x8001, b"\x80"), Recorded(0.1, SECC_TO_EV, 0x8001, b"\x80"),
                          Recorded(0.2, SECC_TO_EV, 0x8001, first)], "din", 0.0)
    assert report.deviations == []
