"""Shared facts of the ISO 15118-20 SECC simulator: the V2GTP payload type of each schema set (ISO 15118-20
§7.8.3.3, Table 14), the SupportedAppProtocol entries the SECC offers (§8.2), the energy-transfer ServiceIDs
(Table 204), RationalNumberType values (§8.3.5.3, Value × 10^Exponent) and the message header (§8.3.3).

    payload type  schema set          grammar
    0x8002        CommonMessages      iso20-common
    0x8003        AC                  iso20-ac
    0x8004        DC                  iso20-dc
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.exi import Message, schema_module

if TYPE_CHECKING:
    from evcc.bench.secc.iso20_responder import Iso20Secc

Built = tuple[Any, str]
"""What a response builder returns: the response and the sequence state it leads to."""

PAYLOAD_COMMON = 0x8002
PAYLOAD_AC = 0x8003
PAYLOAD_DC = 0x8004
PAYLOAD_TYPES: dict[str, int] = {"iso20_common": PAYLOAD_COMMON, "iso20_ac": PAYLOAD_AC, "iso20_dc": PAYLOAD_DC}
GRAMMAR_OF_PAYLOAD: dict[int, str] = {PAYLOAD_COMMON: "iso20-common", PAYLOAD_AC: "iso20-ac",
                                      PAYLOAD_DC: "iso20-dc"}

ISO20_DC_NAMESPACE = "urn:iso:std:iso:15118:-20:DC"
ISO20_AC_NAMESPACE = "urn:iso:std:iso:15118:-20:AC"
ISO20_DC = SupportedProtocol("iso20-dc", ISO20_DC_NAMESPACE, 1, 0)
ISO20_AC = SupportedProtocol("iso20-ac", ISO20_AC_NAMESPACE, 1, 0)
SUPPORTED_ISO20: tuple[SupportedProtocol, ...] = (ISO20_DC, ISO20_AC)
"""What the SECC answers SupportedAppProtocol with for -20 (the key is the responder's protocol)."""

# ISO 15118-20 Table 204: energy transfer ServiceIDs (WPT and ACDP are not simulated here).
SERVICE_IDS: dict[str, int] = {"AC": 1, "DC": 2, "AC_BPT": 5, "DC_BPT": 6}
SERVICE_NAMES: dict[int, str] = {v: k for k, v in SERVICE_IDS.items()}
# ServiceDetail parameter values (Tables 205..208): ControlMode 1 Scheduled, 2 Dynamic.
CONTROL_MODE_IDS: dict[str, int] = {"Scheduled": 1, "Dynamic": 2}

_SHORT = 32767


def rational(m: ModuleType, value: float) -> Any:
    """``value`` as RationalNumberType of schema set ``m``: the smallest exponent (from -3) whose Value fits a
    short; saturates instead of raising."""
    if value != value:  # NaN
        value = 0.0
    for exponent in range(-3, 8):
        scaled = round(value / 10**exponent) if abs(value) < 1e15 else _SHORT * 10
        if -_SHORT - 1 <= scaled <= _SHORT:
            return m.RationalNumberType(Exponent=exponent, Value=scaled)
    return m.RationalNumberType(Exponent=7, Value=_SHORT if value > 0 else -_SHORT - 1)


def number(r: Any) -> float | None:
    """The float a RationalNumberType stands for (None for a missing element)."""
    return None if r is None else float(r.Value) * 10.0**r.Exponent


def module_of(schema: str) -> ModuleType:
    return schema_module(schema)


def header(m: ModuleType, session_id: bytes, timestamp: int, signature: Any = None) -> Any:
    return m.MessageHeaderType(SessionID=session_id, TimeStamp=timestamp, Signature=signature)


def payload_type_of(msg: Message) -> int:
    """The V2GTP payload type a -20 message travels with (ISO 15118-20 Table 14)."""
    try:
        return PAYLOAD_TYPES[msg._schema]
    except KeyError:
        raise ValueError(f"{type(msg).__name__} is not an ISO 15118-20 AC, DC or common message") from None


def refine(code: str, refined: str) -> str:
    return refined if code == "OK" else code


def status(s: Iso20Secc, m: Any, loop: bool = False) -> Any:
    """EVSEStatus of schema set ``m`` for a charge-loop response (``loop``): Terminate once ``stop_after_loop``
    loop messages were answered, MeteringConfirmation on the configured loop messages; otherwise (and for
    other responses) None, no status element."""
    notification = None
    if loop:
        n = s.config.stop_after_loop
        if n is not None and s.loop_count >= n:
            notification = "Terminate"
        elif s.loop_count in s.config.metering_confirmation_at:
            notification = "MeteringConfirmation"
    if notification is None:
        return None
    return m.EVSEStatusType(NotificationMaxDelay=0, EVSENotification=notification)


def is_bpt(s: Iso20Secc) -> bool:
    return (s.record.selected_service or "").endswith("_BPT")


def cpd_code(s: Iso20Secc, req: Any, code: str, kind: str) -> str:
    """``code`` refined for an AC/DC ChargeParameterDiscoveryReq (``kind``): FAILED_WrongChargeParameter when the
    selected service is not of that kind or the request lacks its (BPT_)kind_CPDReqEnergyTransferMode."""
    given = getattr(req, f"{'BPT_' if is_bpt(s) else ''}{kind}_CPDReqEnergyTransferMode", None)
    if given is None or not (s.record.selected_service or "").startswith(kind):
        return refine(code, "FAILED_WrongChargeParameter")
    return code


def meter(s: Iso20Secc, m: Any, power: float) -> Any:
    """Count the energy since the last charge-loop message at the power that flowed until now, then switch to
    ``power`` (W, < 0 while discharging); the MeterInfo of schema set ``m``."""
    if s.metered_at is not None:
        wh = s.present_power * max(0.0, s.now - s.metered_at) / 3600.0
        if wh >= 0:
            s.record.energy_delivered_wh += wh
        else:
            s.record.energy_returned_wh -= wh
    s.metered_at = s.now
    s.present_power = power
    s.record.min_power_w = min(s.record.min_power_w, power)
    return m.MeterInfoType(
        MeterID="SIM-METER-1", ChargedEnergyReadingWh=int(s.record.energy_delivered_wh),
        BPT_DischargedEnergyReadingWh=int(s.record.energy_returned_wh) if is_bpt(s) else None,
        MeterTimestamp=s.unix_time())


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
