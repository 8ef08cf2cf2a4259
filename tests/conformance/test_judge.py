"""How verdicts are read (evcc.conformance.judge, messages): ResponseCode patterns, every check rule on real
decoded messages (PhysicalValue and RationalNumber read as numbers), and a field set beyond a limit on a copy."""

from __future__ import annotations

from evcc.conformance.judge import check_fields, code_matches, late
from evcc.conformance.messages import element_name, field_value, set_field, with_session_id
from evcc.conformance.model import Check
from evcc.exi import din, iso20_dc

SID = bytes.fromhex("0102030405060708")


def _din_cd(current: int, limit: int) -> din.V2G_Message:
    status = din.DC_EVSEStatusType(EVSEIsolationStatus="Valid", EVSEStatusCode="EVSE_Ready", NotificationMaxDelay=0,
                                   EVSENotification="None")
    res = din.CurrentDemandResType(
        ResponseCode="OK", DC_EVSEStatus=status,
        EVSEPresentVoltage=din.PhysicalValueType(Multiplier=-1, Unit="V", Value=3680),
        EVSEPresentCurrent=din.PhysicalValueType(Multiplier=0, Unit="A", Value=current),
        EVSECurrentLimitAchieved=True, EVSEVoltageLimitAchieved=False, EVSEPowerLimitAchieved=False,
        EVSEMaximumCurrentLimit=din.PhysicalValueType(Multiplier=0, Unit="A", Value=limit))
    return din.V2G_Message(Header=din.MessageHeaderType(SessionID=SID), Body=din.BodyType(CurrentDemandRes=res))


def test_response_code_patterns() -> None:
    assert code_matches("OK_NewSessionEstablished", ("OK*",))
    assert code_matches("FAILED_SequenceError", ("FAILED_SequenceError",))
    assert not code_matches("FAILED", ("FAILED_SequenceError",))
    assert not code_matches("FAILED_UnknownSession", ("OK*",))


def test_check_rules_on_a_din_response() -> None:
    msg = _din_cd(150, 200)
    assert element_name(msg) == "CurrentDemandRes"
    assert field_value(msg, "EVSEPresentVoltage") == (True, 368.0)
    ok = (Check("EVSEPresentVoltage", "range", (0.0, 1500.0)), Check("DC_EVSEStatus.EVSEStatusCode", "present"),
          Check("EVSECurrentLimitAchieved", "in", (True,)), Check("EVSEPresentCurrent", "le-field",
                                                                  "EVSEMaximumCurrentLimit"),
          Check("Header.SessionID", "same-session"), Check("EVSEMaximumPowerLimit", "absent"))
    assert check_fields(msg, ok, SID) is None
    assert "above EVSEMaximumCurrentLimit" in str(check_fields(_din_cd(250, 200), ok[3:4], SID))
    assert "outside" in str(check_fields(msg, (Check("EVSEPresentVoltage", "range", (0.0, 100.0)),), SID))
    assert "missing" in str(check_fields(msg, (Check("EVSEMaximumPowerLimit", "present"),), SID))
    assert "not the session's" in str(check_fields(msg, (Check("Header.SessionID", "same-session"),), bytes(8)))
    assert "no new SessionID" in str(check_fields(with_session_id(msg, bytes(8)),
                                                  (Check("Header.SessionID", "new-session"),), None))


def test_rational_numbers_and_set_field_on_a_copy() -> None:
    header = iso20_dc.MessageHeaderType(SessionID=SID, TimeStamp=1)
    res = iso20_dc.DC_PreChargeResType(Header=header, ResponseCode="OK",
                                       EVSEPresentVoltage=iso20_dc.RationalNumberType(Exponent=-2, Value=15000))
    assert element_name(res) == "DC_PreChargeRes"
    assert field_value(res, "EVSEPresentVoltage") == (True, 150.0)
    changed = set_field(res, "EVSEPresentVoltage", 900)
    assert field_value(changed, "EVSEPresentVoltage") == (True, 900.0)
    assert field_value(res, "EVSEPresentVoltage") == (True, 150.0)  # the original is untouched


def test_late_names_the_budget() -> None:
    assert late(0.02, 0.025, "CurrentDemandRes") is None
    assert late(0.03, 0.025, "CurrentDemandRes") == "CurrentDemandRes after 30.0 ms, budget 25 ms"
