"""SupportedAppProtocol, EV side: ISO 15118-2 §8.2.1 ([V2G2-165]..[V2G2-176]), DIN SPEC 70121 §9.2.

The EVCC offers up to 20 protocols, each with namespace, version, a SchemaID it assigns and a priority
(1 highest .. 20) [V2G2-167]; the SECC answers with OK_SuccessfulNegotiation, OK_SuccessfulNegotiation-
WithMinorDeviation or Failed_NoNegotiation and, when OK, the SchemaID of the chosen offer [V2G2-168]. With no
common protocol the response carries no SchemaID (DIN [V2G-DC-226]). An OK answer with no SchemaID or another
one is tolerated when exactly one protocol was offered (it can only be that one) and counted as a deviation by the
session report; with several offers it ends the handshake (:mod:`evcc.session.tolerance`).

:class:`SapClient` is sans-IO: ``start(now)`` then ``receive_payload(exi, now)``/``handle_timer(now)``;
``payloads_to_send()`` (EXI bytes for V2GTP 0x8001), ``result`` and ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evcc import exi
from evcc.exi import sap
from evcc.errors import PeerError
from evcc.session.errors import SapError, SapTimeout
from evcc.session.timeouts import EvccTimers
from evcc.session.tolerance import sap_tolerated

DIN_NAMESPACE = "urn:din:70121:2012:MsgDef"
ISO2_NAMESPACE = "urn:iso:15118:2:2013:MsgDef"
ISO20_NAMESPACES = {  # ISO 15118-20 §8.2: one namespace per energy-transfer schema set, version 1.0
    "iso20-dc": "urn:iso:std:iso:15118:-20:DC",
    "iso20-ac": "urn:iso:std:iso:15118:-20:AC",
    "iso20-wpt": "urn:iso:std:iso:15118:-20:WPT",
    "iso20-acdp": "urn:iso:std:iso:15118:-20:ACDP",
}
MAX_OFFERS = 20  # [V2G2-167]
SAP_TIMER = "V2G_EVCC_Msg_Timeout"  # the timer that guards supportedAppProtocolReq (its entry in each table)


class SapMsgTimeout(SapTimeout):
    """supportedAppProtocolRes did not come within the request's V2G_EVCC_Msg_Timeout; ``timer`` names it."""

    timer = SAP_TIMER


@dataclass(frozen=True, slots=True)
class ProtocolOffer:
    """One offered protocol. ``protocol`` is our machine's key (``din``, ``iso2``, ``iso20-dc`` ...)."""

    protocol: str
    namespace: str
    major: int
    minor: int
    schema_id: int
    priority: int


DIN_OFFER = ProtocolOffer("din", DIN_NAMESPACE, 2, 0, schema_id=1, priority=1)
ISO2_OFFER = ProtocolOffer("iso2", ISO2_NAMESPACE, 2, 0, schema_id=2, priority=2)


def iso20_offer(protocol: str, schema_id: int, priority: int) -> ProtocolOffer:
    """The offer of a -20 schema set (``iso20-dc``, ``iso20-ac``, ``iso20-wpt``, ``iso20-acdp``), version 1.0.
    BPT is not a SupportedAppProtocol matter: DC_BPT and AC_BPT are services of the DC and AC schema sets,
    chosen in ServiceSelection."""
    return ProtocolOffer(protocol, ISO20_NAMESPACES[protocol], 1, 0, schema_id=schema_id, priority=priority)


ISO20_DC_OFFER = iso20_offer("iso20-dc", schema_id=3, priority=1)
ISO20_AC_OFFER = iso20_offer("iso20-ac", schema_id=4, priority=1)


@dataclass(frozen=True, slots=True)
class Negotiated:
    offer: ProtocolOffer
    minor_deviation: bool  # OK_SuccessfulNegotiationWithMinorDeviation


def check_offers(offers: Sequence[ProtocolOffer]) -> None:
    """Raise ValueError for a configuration the standard forbids."""
    if not 1 <= len(offers) <= MAX_OFFERS:
        raise ValueError(f"{len(offers)} protocols offered; 1..{MAX_OFFERS} allowed [V2G2-167]")
    ids = [o.schema_id for o in offers]
    if len(set(ids)) != len(ids) or not all(0 <= i <= 255 for i in ids):
        raise ValueError(f"SchemaIDs must be unique values 0..255, got {ids}")
    prios = [o.priority for o in offers]
    if not all(1 <= p <= 20 for p in prios):
        raise ValueError(f"priorities must be 1..20, got {prios}")


def build_request(offers: Sequence[ProtocolOffer]) -> sap.supportedAppProtocolReq:
    check_offers(offers)
    return sap.supportedAppProtocolReq(
        AppProtocol=[
            sap.AppProtocolType(
                ProtocolNamespace=o.namespace, VersionNumberMajor=o.major, VersionNumberMinor=o.minor,
                SchemaID=o.schema_id, Priority=o.priority,
            )
            for o in offers
        ]
    )


def handle_response(res: sap.supportedAppProtocolRes, offers: Sequence[ProtocolOffer]) -> Negotiated:
    """The chosen offer, or :class:`SapError` naming why there is none."""
    if res.ResponseCode == "Failed_NoNegotiation":
        return _fail("the SECC supports none of the offered protocols (Failed_NoNegotiation)")
    minor = res.ResponseCode == "OK_SuccessfulNegotiationWithMinorDeviation"
    for offer in offers:
        if offer.schema_id == res.SchemaID:
            return Negotiated(offer, minor)
    if sap_tolerated(str(res.ResponseCode), res.SchemaID, [o.schema_id for o in offers]) is not None:
        # one protocol offered, OK answered: it can only be that one (evcc.session.tolerance; the report counts it)
        return Negotiated(offers[0], minor)
    if res.SchemaID is None:
        return _fail(f"{res.ResponseCode} without a SchemaID")
    return _fail(f"the SECC chose SchemaID {res.SchemaID}, which was not offered")


def _fail(reason: str) -> Negotiated:
    raise SapError(f"SupportedAppProtocol: {reason}")


class SapClient:
    """One handshake. Timer: V2G_EVCC_Msg_Timeout of SupportedAppProtocolReq from the given table."""

    def __init__(self, offers: Sequence[ProtocolOffer], timers: EvccTimers) -> None:
        check_offers(offers)
        self.offers = tuple(offers)
        self.timers = timers
        self.result: Negotiated | None = None
        self.error: PeerError | None = None
        self._deadline: float | None = None
        self._out: list[bytes] = []

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def start(self, now: float) -> None:
        self._out.append(exi.encode(build_request(self.offers)))
        self._deadline = now + self.timers.msg_timeout("SupportedAppProtocolReq")

    def payloads_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        return self._deadline

    def receive_payload(self, data: bytes, now: float) -> None:
        if self.done:
            return
        self._deadline = None
        try:
            res = exi.decode("sap", data)
        except exi.ExiError as exc:
            self.error = SapError(f"SupportedAppProtocol: undecodable response: {exc}")
            return
        if not isinstance(res, sap.supportedAppProtocolRes):
            self.error = SapError(f"SupportedAppProtocol: expected supportedAppProtocolRes, got {type(res).__name__}")
            return
        try:
            self.result = handle_response(res, self.offers)
        except SapError as exc:
            self.error = exc

    def handle_timer(self, now: float) -> None:
        if self.done or self._deadline is None or now < self._deadline:
            return
        self._deadline = None
        limit = self.timers.msg_timeout("SupportedAppProtocolReq")
        self.error = SapMsgTimeout(f"SupportedAppProtocol: no response within {SAP_TIMER} ({limit} s)")
