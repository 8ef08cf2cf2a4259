"""Fault strings of bench scenarios and `evcc bench --fault`, turned into the SECC simulators' fault settings
(DinFaults, Iso2Faults: evcc/bench/secc) and the bench's own link faults.

    evse-silent                          the EVSE SLAC simulators never answer (ISO 15118-3 matching fails)
    no-secc                              SLAC matches but no SECC answers SDP (ISO 15118-2 §7.10.1)
    silent-from:<Res>                    the SECC stops answering at this response (a V2G_EVCC_* timeout)
    response-code:<Res>=<ResponseCode>   answer <Res> with this code (FAILED_... ends the session)
    delay:<Res>=<seconds>                answer <Res> late (past V2G_EVCC_Msg_Timeout when long enough)
    wrong-session-id:<Res>               answer <Res> with another SessionID
    ongoing-forever:<Res>                EVSEProcessing stays Ongoing (the Ongoing timer runs out)
    stop-after-loop:<n>                  the EVSE asks to stop after n CurrentDemand/ChargingStatus loops

A wrong string raises :class:`~evcc.errors.ConfigError` naming it and the accepted forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from evcc.bench.secc.din_responder import DinFaults
from evcc.bench.secc.iso2_responder import Iso2Faults
from evcc.errors import ConfigError

_RES = re.compile(r"[A-Z][A-Za-z]{2,60}Res")
_CODE = re.compile(r"(OK|FAILED)[A-Za-z_]{0,60}")
FORMS = ("evse-silent", "no-secc", "silent-from:<Res>", "response-code:<Res>=<ResponseCode>",
         "delay:<Res>=<seconds>", "wrong-session-id:<Res>", "ongoing-forever:<Res>", "stop-after-loop:<n>")


@dataclass(frozen=True, slots=True)
class SeccFaults:
    silent_from: str | None = None
    response_code: tuple[tuple[str, str], ...] = ()
    delay: tuple[tuple[str, float], ...] = ()
    wrong_session_id: frozenset[str] = frozenset()
    ongoing_forever: frozenset[str] = frozenset()
    stop_after_loop: int | None = None

    def din(self) -> DinFaults:
        return DinFaults(response_code=dict(self.response_code), wrong_session_id=set(self.wrong_session_id),
                         delay=dict(self.delay), silent_from=self.silent_from,
                         ongoing_forever=set(self.ongoing_forever), stop_after_current_demands=self.stop_after_loop)

    def iso2(self) -> Iso2Faults:
        return Iso2Faults(response_code=dict(self.response_code), wrong_session_id=set(self.wrong_session_id),
                          delay=dict(self.delay), silent_from=self.silent_from,
                          ongoing_forever=set(self.ongoing_forever), stop_after_loop=self.stop_after_loop)


@dataclass
class ParsedFaults:
    secc: SeccFaults = field(default_factory=SeccFaults)
    evse_silent: bool = False
    no_secc: bool = False


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"fault {spec!r}: {why}; accepted: {', '.join(FORMS)}")


def _response(spec: str, name: str) -> str:
    if not _RES.fullmatch(name):
        raise _bad(spec, f"{name!r} is not a response message name (like CableCheckRes)")
    return name


def _number(spec: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not a number") from None
    if not low <= value <= high:
        raise _bad(spec, f"{value:g} is outside {low:g}..{high:g}")
    return value


def parse_faults(specs: Iterable[str]) -> ParsedFaults:
    out = ParsedFaults()
    codes: dict[str, str] = {}
    delays: dict[str, float] = {}
    wrong: set[str] = set()
    ongoing: set[str] = set()
    silent: str | None = None
    loops: int | None = None
    for spec in specs:
        kind, _, arg = spec.strip().partition(":")
        name, _, value = arg.partition("=")
        if kind in ("evse-silent", "no-secc") and not arg:
            out.evse_silent |= kind == "evse-silent"
            out.no_secc |= kind == "no-secc"
        elif kind == "silent-from" and arg:
            silent = _response(spec, arg)
        elif kind == "response-code" and value:
            if not _CODE.fullmatch(value):
                raise _bad(spec, f"{value!r} is not a ResponseCode (OK... or FAILED...)")
            codes[_response(spec, name)] = value
        elif kind == "delay" and value:
            delays[_response(spec, name)] = _number(spec, value, 0.0, 600.0)
        elif kind == "wrong-session-id" and arg:
            wrong.add(_response(spec, arg))
        elif kind == "ongoing-forever" and arg:
            ongoing.add(_response(spec, arg))
        elif kind == "stop-after-loop" and arg:
            loops = int(_number(spec, arg, 1, 100_000))
        else:
            raise _bad(spec, "unknown form")
    out.secc = SeccFaults(silent, tuple(sorted(codes.items())), tuple(sorted(delays.items())), frozenset(wrong),
                          frozenset(ongoing), loops)
    return out
