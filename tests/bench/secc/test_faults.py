"""The fault vocabulary of the hostile charger (evcc.bench.secc.faults): the text form the bench CLI and the
scenario files use, and the checks that refuse a fault that cannot mean anything, naming the wrong part."""

from __future__ import annotations

import pytest

from evcc.bench.secc.faults import Fault, FaultKind, FaultSpecError, parse_fault
from evcc.errors import ConfigError


@pytest.mark.parametrize(("spec", "fault"), [
    ("delay:CurrentDemandRes", Fault(FaultKind.DELAY, "CurrentDemandRes")),
    ("delay:CableCheckRes=3.5", Fault(FaultKind.DELAY, "CableCheckRes", delay=3.5)),
    ("code:PowerDeliveryRes=FAILED", Fault(FaultKind.CODE, "PowerDeliveryRes", response_code="FAILED")),
    ("code:PreChargeRes=FAILED_SequenceError", Fault(FaultKind.CODE, "PreChargeRes",
                                                     response_code="FAILED_SequenceError")),
    ("code:4", Fault(FaultKind.CODE, 4)),
    ("session-id:ServiceDiscoveryRes", Fault(FaultKind.SESSION_ID, "ServiceDiscoveryRes")),
    ("silence:CurrentDemandRes#5", Fault(FaultKind.SILENCE, "CurrentDemandRes", occurrence=5)),
    ("stall:CableCheckRes", Fault(FaultKind.STALL, "CableCheckRes")),
    ("stall:PreChargeRes=1", Fault(FaultKind.STALL, "PreChargeRes", delay=1.0)),
    ("unexpected:PreChargeRes=SessionSetupRes", Fault(FaultKind.UNEXPECTED, "PreChargeRes",
                                                      replacement="SessionSetupRes")),
    ("garbage-exi:ChargeParameterDiscoveryRes", Fault(FaultKind.GARBAGE_EXI, "ChargeParameterDiscoveryRes")),
    ("disconnect:CableCheckRes", Fault(FaultKind.DISCONNECT, "CableCheckRes")),
    ("oversized", Fault(FaultKind.OVERSIZED, 0)),
    ("oversized:2=70000", Fault(FaultKind.OVERSIZED, 2, length=70000)),
    ("oversized:supportedAppProtocolRes", Fault(FaultKind.OVERSIZED, "supportedAppProtocolRes")),
    ("truncated:CurrentDemandRes", Fault(FaultKind.TRUNCATED, "CurrentDemandRes")),
    ("wrong-version:SessionSetupRes=0x02", Fault(FaultKind.WRONG_VERSION, "SessionSetupRes", version=2)),
    ("wrong-payload-type:ServiceDiscoveryRes=0x8004", Fault(FaultKind.WRONG_PAYLOAD_TYPE, "ServiceDiscoveryRes",
                                                            payload_type=0x8004)),
    ("cert:expired", Fault(FaultKind.CERT_EXPIRED)),
    ("cert:untrusted", Fault(FaultKind.CERT_UNTRUSTED)),
    ("cert:vehicle-refused", Fault(FaultKind.CERT_VEHICLE_REFUSED)),
    ("code:supportedAppProtocolRes=Failed_NoNegotiation", Fault(FaultKind.CODE, "supportedAppProtocolRes",
                                                               response_code="Failed_NoNegotiation")),
    ("code:AuthorizationRes=OK_CertificateExpiresSoon", Fault(FaultKind.CODE, "AuthorizationRes",
                                                             response_code="OK_CertificateExpiresSoon")),
    ("  silence:SessionStopRes  ", Fault(FaultKind.SILENCE, "SessionStopRes")),
])
def test_parse_fault(spec: str, fault: Fault) -> None:
    assert parse_fault(spec) == fault


@pytest.mark.parametrize(("spec", "complaint"), [
    ("", "unknown kind ''"),
    ("explode:CableCheckRes", "unknown kind 'explode'"),
    ("delay:CableCheckReq", "neither a message index nor a ...Res name"),
    ("delay:CableCheckRes=soon", "delay 'soon' is not a number of seconds"),
    ("delay:CableCheckRes=-1", "outside [0, 3600]"),
    ("delay:CableCheckRes=nan", "outside [0, 3600]"),
    ("code:CableCheckRes=OK", "'OK' is not a FAILED*/WARNING*/OK_* ResponseCode"),
    ("code:CableCheckRes=Failed", "'Failed' is not a FAILED*/WARNING*/OK_* ResponseCode"),
    ("silence:CurrentDemandRes#0", "occurrence 0 must be 1 or more"),
    ("silence:CurrentDemandRes#x", "occurrence 'x' is not an integer"),
    ("silence:3#2", "an occurrence goes with a response name"),
    ("disconnect:CableCheckRes=now", "disconnect takes no =value"),
    ("oversized=1e9", "length '1e9' is not an integer"),
    ("oversized:0=4294967296", "is not a uint32"),
    ("wrong-version:0=1", "is not a wrong V2GTP version byte"),
    ("wrong-payload-type:0=0x10000", "is not a uint16"),
    ("unexpected:CableCheckRes=Hello", "'Hello' is not a response element name"),
    ("cert:revoked", "certificate faults are cert:expired, cert:untrusted, cert:vehicle-refused"),
    ("cert:vehicle-refused=yes", "certificate faults are"),
    ("cert-expired", "write cert:expired"),
])
def test_bad_specs_are_refused_naming_the_part(spec: str, complaint: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        parse_fault(spec)
    assert complaint in str(caught.value)
    assert isinstance(caught.value, ConfigError)


def test_every_kind_has_a_text_form() -> None:
    for kind in FaultKind:
        spec = {FaultKind.CERT_EXPIRED: "cert:expired", FaultKind.CERT_UNTRUSTED: "cert:untrusted",
                FaultKind.CERT_VEHICLE_REFUSED: "cert:vehicle-refused"}.get(kind, kind.value)
        assert parse_fault(spec).kind is kind


def test_description_and_transport_needs() -> None:
    assert parse_fault("silence:CurrentDemandRes#5").describe() == "silence at CurrentDemandRes #5"
    assert parse_fault("oversized:3").describe() == "oversized at message 3"
    assert parse_fault("cert:expired").describe() == "cert-expired"
    assert not parse_fault("delay:CableCheckRes").needs_transport
    assert parse_fault("truncated:CableCheckRes").needs_transport and parse_fault("cert:untrusted").needs_transport
    with pytest.raises(FaultSpecError, match="negative"):
        Fault(FaultKind.CODE, -1)
