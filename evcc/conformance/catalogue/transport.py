"""Cases below the V2G messages: SDP (ISO 15118-2 §7.10.1, [V2G2-139], [V2G2-160], [V2G2-161]; DIN SPEC 70121
§8.7.3.2 is the same wire format), SupportedAppProtocol (ISO 15118-2 §8.2.1 [V2G2-165]..[V2G2-176], DIN SPEC 70121
§9.2, [V2G-DC-226]) and TLS (ISO 15118-2 §7.7 [V2G2-064]; ISO 15118-20 TLS 1.3 with mutual authentication,
[V2G20-2459])."""

from __future__ import annotations

from evcc.conformance.model import (Case, Check, Expect, ExpectKind, Phase, Precondition, Stimulus, StimulusKind)
from evcc.session.sap import DIN_NAMESPACE, ISO2_NAMESPACE, ISO20_NAMESPACES

SDP_REQ = ("ISO 15118-2 §7.10.1", "[V2G2-139]")
SAP_REQ = ("ISO 15118-2 §8.2.1", "DIN 70121 §9.2")
NONE = Stimulus()


def _sdp(ident: str, title: str, reqs: tuple[str, ...], stimulus: Stimulus, expect: Expect,
         tls: bool = False, repeat: int = 1) -> Case:
    return Case(f"SDP-{ident}", title, "sdp", ("din", "iso2", "iso20"), reqs, Phase.SDP,
                Precondition(occurrence=repeat, tls=tls), stimulus, expect)


VALID = (Check("transport", "in", ("TCP",)), Check("port", "range", (49152, 65535)))

SDP_CASES = (
    _sdp("answer", "an SDP request (no TLS) gets a valid response: TCP, a port in 49152-65535", SDP_REQ, NONE,
         Expect(ExpectKind.SDP_RESPONSE, checks=(Check("security", "in", ("NO_TLS",)), *VALID), within=0.25)),
    _sdp("answer-tls", "an SDP request for TLS gets a response offering TLS", SDP_REQ, NONE,
         Expect(ExpectKind.SDP_RESPONSE, checks=(Check("security", "in", ("TLS",)), *VALID), within=0.25), tls=True),
    _sdp("retries", "three SDP requests in a row are all answered (the EV's retries)", ("[V2G2-160]", "[V2G2-161]"),
         NONE, Expect(ExpectKind.SDP_RESPONSE, checks=VALID, within=0.25), repeat=3),
    _sdp("bad-version", "an SDP request with V2GTP version 0x02 is ignored", ("ISO 15118-2 §7.8.3", *SDP_REQ),
         Stimulus(StimulusKind.DATAGRAM, value="02fd900000000002" "1000"), Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("bad-inverse", "an SDP request whose inverse version byte does not match is ignored",
         ("ISO 15118-2 §7.8.3", *SDP_REQ), Stimulus(StimulusKind.DATAGRAM, value="0100900000000002" "1000"),
         Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("bad-type", "an SDP datagram of payload type 0x9001 (a response) is ignored", SDP_REQ,
         Stimulus(StimulusKind.DATAGRAM, value="01fe900100000002" "1000"), Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("short", "an SDP request with a 1-byte payload is ignored", SDP_REQ,
         Stimulus(StimulusKind.DATAGRAM, value="01fe900000000001" "10"), Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("length-mismatch", "an SDP request whose length field says 4 for 2 bytes is ignored", SDP_REQ,
         Stimulus(StimulusKind.DATAGRAM, value="01fe900000000004" "1000"), Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("bad-security", "an SDP request with security byte 0x55 is ignored", SDP_REQ,
         Stimulus(StimulusKind.DATAGRAM, value="01fe900000000002" "5500"), Expect(ExpectKind.NO_RESPONSE, within=0.5)),
    _sdp("empty", "an empty datagram is ignored", SDP_REQ, Stimulus(StimulusKind.DATAGRAM, value=""),
         Expect(ExpectKind.NO_RESPONSE, within=0.5)),
)


def _sap(ident: str, title: str, reqs: tuple[str, ...], stimulus: Stimulus, expect: Expect,
         protocol: str = "din") -> Case:
    return Case(f"SAP-{ident}", title, "sap", (protocol,), reqs, Phase.SAP, Precondition(protocol), stimulus, expect)


UNKNOWN = "urn:example:not-a-v2g-protocol"
ALL = ((DIN_NAMESPACE, 2, 0, 1, 2), (ISO2_NAMESPACE, 2, 0, 2, 1), (ISO20_NAMESPACES["iso20-dc"], 1, 0, 3, 3),
       (ISO20_NAMESPACES["iso20-ac"], 1, 0, 4, 4))

SAP_CASES = (
    _sap("din", "DIN offered alone: OK_SuccessfulNegotiation with its SchemaID", SAP_REQ,
         Stimulus(StimulusKind.OFFERS, value=((DIN_NAMESPACE, 2, 0, 7, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK_SuccessfulNegotiation",),
                (Check("SchemaID", "in", (7,)),))),
    _sap("iso2", "ISO 15118-2 offered alone: OK_SuccessfulNegotiation with its SchemaID", ("[V2G2-168]", *SAP_REQ),
         Stimulus(StimulusKind.OFFERS, value=((ISO2_NAMESPACE, 2, 0, 9, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK_SuccessfulNegotiation",),
                (Check("SchemaID", "in", (9,)),)), protocol="iso2"),
    _sap("iso20-dc", "ISO 15118-20 DC offered alone: OK_SuccessfulNegotiation with its SchemaID", SAP_REQ,
         Stimulus(StimulusKind.OFFERS, value=((ISO20_NAMESPACES["iso20-dc"], 1, 0, 11, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK_SuccessfulNegotiation",),
                (Check("SchemaID", "in", (11,)),)), protocol="iso20-dc"),
    _sap("priority", "four protocols offered: the charger picks the best priority it supports (ISO 15118-2, "
         "priority 1)", ("[V2G2-167]", "[V2G2-168]"), Stimulus(StimulusKind.OFFERS, value=ALL),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK*",), (Check("SchemaID", "in", (2,)),)),
         protocol="iso2"),
    _sap("unknown-namespace", "only an unknown namespace: Failed_NoNegotiation without a SchemaID",
         ("[V2G2-176]", "[V2G-DC-226]", *SAP_REQ),
         Stimulus(StimulusKind.OFFERS, value=((UNKNOWN, 1, 0, 1, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("Failed_NoNegotiation",),
                (Check("SchemaID", "absent"),))),
    _sap("unknown-first", "an unknown namespace at priority 1 and DIN at 2: DIN is chosen", SAP_REQ,
         Stimulus(StimulusKind.OFFERS, value=((UNKNOWN, 1, 0, 5, 1), (DIN_NAMESPACE, 2, 0, 6, 2))),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK*",), (Check("SchemaID", "in", (6,)),))),
    _sap("major-version", "DIN with major version 99: Failed_NoNegotiation", SAP_REQ,
         Stimulus(StimulusKind.OFFERS, value=((DIN_NAMESPACE, 99, 0, 1, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("Failed_NoNegotiation",),
                (Check("SchemaID", "absent"),))),
    _sap("minor-version", "DIN with minor version 7: OK_SuccessfulNegotiationWithMinorDeviation", SAP_REQ,
         Stimulus(StimulusKind.OFFERS, value=((DIN_NAMESPACE, 2, 7, 1, 1),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK_SuccessfulNegotiationWithMinorDeviation",),
                (Check("SchemaID", "in", (1,)),))),
    _sap("twenty-offers", "twenty offers (the maximum), DIN the last: DIN is chosen", ("[V2G2-167]", *SAP_REQ),
         Stimulus(StimulusKind.OFFERS, value=tuple((f"{UNKNOWN}:{i}", 1, 0, i, min(i, 20)) for i in range(1, 20))
                  + ((DIN_NAMESPACE, 2, 0, 20, 20),)),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK*",), (Check("SchemaID", "in", (20,)),))),
    _sap("garbage", "undecodable EXI instead of supportedAppProtocolReq gets no positive answer", SAP_REQ,
         Stimulus(StimulusKind.GARBAGE_EXI), Expect(ExpectKind.IGNORE, within=3.0)),
    _sap("performance", "supportedAppProtocolRes within V2G_SECC_Msg_Performance_Time (1.5 s)",
         ("DIN 70121 §9.6 Table 75", "ISO 15118-2 §8.7 Table 109"), Stimulus(),
         Expect(ExpectKind.RESPONSE, "supportedAppProtocolRes", ("OK*",), performance=True)),
)


def _tls(ident: str, title: str, protocol: str, reqs: tuple[str, ...], deviation: str, expect: Expect) -> Case:
    return Case(f"TLS-{ident}", title, "tls", (protocol,), reqs, Phase.TLS, Precondition(protocol, tls=True),
                Stimulus(StimulusKind.TLS_OFFER, value=deviation), expect)


TLS_CASES = (
    _tls("12-profile", "ISO 15118-2 over TLS 1.2: the charger accepts ECDHE-ECDSA-AES128-SHA256 and its chain "
         "verifies against the V2G root", "iso2", ("ISO 15118-2 §7.7", "[V2G2-064]"), "standard",
         Expect(ExpectKind.TLS_ACCEPTED, checks=(Check("version", "in", ("TLSv1.2",)),
                                                   Check("cipher", "in", ("ECDHE-ECDSA-AES128-SHA256",))))),
    _tls("12-other-cipher", "TLS 1.2 with only a cipher suite outside the V2G profile is refused", "iso2",
         ("ISO 15118-2 §7.7",), "other-cipher", Expect(ExpectKind.TLS_REFUSED)),
    _tls("13-profile", "ISO 15118-20 over TLS 1.3 with the vehicle certificate is accepted", "iso20-dc",
         ("ISO 15118-20 §7.7 TLS 1.3", "[V2G20-2459]"), "standard",
         Expect(ExpectKind.TLS_ACCEPTED, checks=(Check("version", "in", ("TLSv1.3",)),))),
    _tls("13-no-vehicle-cert", "ISO 15118-20 TLS 1.3 without a vehicle certificate is refused (mutual "
         "authentication)", "iso20-dc", ("ISO 15118-20 §7.7 TLS 1.3 mutual authentication",), "no-client-cert",
         Expect(ExpectKind.TLS_REFUSED)),
)


def cases() -> list[Case]:
    return [*SDP_CASES, *SAP_CASES, *TLS_CASES]
