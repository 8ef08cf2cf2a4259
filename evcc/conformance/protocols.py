"""What the suite needs per protocol beyond the EV machines: the timer table (DIN SPEC 70121 Table 75-77,
ISO 15118-2 Table 109/111, ISO 15118-20 §8.8), the response expected to each request, and requests of a later
state built from the machines' own request builders (a sequence-error stimulus: a request the charger must refuse
in the state it is in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evcc.conformance.messages import body_of
from evcc.errors import ConfigError
from evcc.exi import din, iso2
from evcc.session.attach_protocols import PROTOCOLS, ProtocolChoice
from evcc.session.din import requests as din_rq
from evcc.session.din.values import message as din_message
from evcc.session.iso2 import requests as iso2_rq
from evcc.session.iso2.values import message as iso2_message
from evcc.session.timeouts import EvccTimers
from evcc.session.vehicle import VehiclePort


def choice(protocol: str) -> ProtocolChoice:
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ConfigError(f"protocol {protocol!r} unknown (known: {', '.join(PROTOCOLS)})") from None


def timers(protocol: str) -> EvccTimers:
    return choice(protocol).timers


def response_of(request: str) -> str:
    return request[: -len("Req")] + "Res" if request.endswith("Req") else request


def seconds(protocol: str, value: float | str | None, request: str | None, default: float) -> float:
    """A window in seconds: a number as it is, a timer name read from the protocol's table (per-message timers for
    ``request``/its response), ``None``: ``default``."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    table = timers(protocol)
    if value == "V2G_EVCC_Msg_Timeout" and request is not None:
        return table.msg_timeout(request)
    if value == "V2G_SECC_Msg_Performance_Time" and request is not None:
        return table.performance_time(response_of(request))
    found = getattr(table, value, None)
    if not isinstance(found, (int, float)):
        raise ConfigError(f"timer {value!r} is not in the {table.protocol} table")
    return float(found)


def _din(name: str, body: Any, session_id: bytes) -> Any:
    return din_message(session_id, name, body)


LaterBuilder = Callable[[VehiclePort, float, bytes], Any]

LATER: dict[str, dict[str, LaterBuilder]] = {
    "din": {
        "CurrentDemandReq": lambda v, now, sid: _din(
            "CurrentDemandReq", din_rq.current_demand(v, now, 10.0, v.dc_targets(now).voltage), sid),
        "WeldingDetectionReq": lambda v, now, sid: _din(
            "WeldingDetectionReq", din.WeldingDetectionReqType(DC_EVStatus=din_rq.dc_ev_status(v, now)), sid),
        "PowerDeliveryReq": lambda v, now, sid: _din("PowerDeliveryReq", din_rq.power_delivery(v, now, True), sid),
    },
    "iso2": {
        "CurrentDemandReq": lambda v, now, sid: iso2_message(sid, "CurrentDemandReq", iso2_rq.current_demand(
            v, now, 10.0, v.dc_targets(now).voltage)),
        "WeldingDetectionReq": lambda v, now, sid: iso2_message(
            sid, "WeldingDetectionReq", iso2.WeldingDetectionReqType(DC_EVStatus=iso2_rq.dc_ev_status(v, now))),
        "SessionStopReq": lambda v, now, sid: iso2_message(
            sid, "SessionStopReq", iso2.SessionStopReqType(ChargingSession="Terminate")),
    },
}


def later_request(protocol: str, name: str, vehicle: VehiclePort, now: float, session_id: bytes) -> Any:
    builders = LATER.get(protocol, {})
    if name not in builders:
        raise ConfigError(f"no builder for a {name} in a {protocol} session (have: {', '.join(builders) or 'none'})")
    msg = builders[name](vehicle, now, session_id)
    body_of(msg)  # a well-formed message
    return msg
