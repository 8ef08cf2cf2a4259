"""SECC side of SupportedAppProtocol (ISO 15118-2 §8.2.1, DIN SPEC 70121 §9.2) for the bench.

Picks the offer with the best (lowest) Priority among those whose namespace and major version the SECC
supports; an equal minor version is OK_SuccessfulNegotiation, a different one ...WithMinorDeviation; none is
Failed_NoNegotiation without a SchemaID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evcc.exi import sap


@dataclass(frozen=True, slots=True)
class SupportedProtocol:
    protocol: str  # our key: din, iso2 ...
    namespace: str
    major: int
    minor: int


def respond(
    req: sap.supportedAppProtocolReq, supported: Sequence[SupportedProtocol]
) -> tuple[sap.supportedAppProtocolRes, SupportedProtocol | None]:
    best: tuple[sap.AppProtocolType, SupportedProtocol] | None = None
    for offer in req.AppProtocol:
        for ours in supported:
            if offer.ProtocolNamespace == ours.namespace and offer.VersionNumberMajor == ours.major:
                if best is None or offer.Priority < best[0].Priority:
                    best = (offer, ours)
    if best is None:
        return sap.supportedAppProtocolRes(ResponseCode="Failed_NoNegotiation"), None
    offer, ours = best
    if offer.VersionNumberMinor == ours.minor:
        return sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation", SchemaID=offer.SchemaID), ours
    res = sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiationWithMinorDeviation", SchemaID=offer.SchemaID)
    return res, ours
