"""Fault strings of bench scenarios and `evcc bench --fault`: the SECC faults of the shared fault layer
(:func:`evcc.bench.secc.faults.parse_fault`, applied by :class:`~evcc.bench.secc.hostile.FaultySecc` to any
responder, or by :func:`~evcc.bench.secc.hostile_tls.hostile_tls` (TLS 1.2) and
:func:`~evcc.bench.secc.hostile_tls13.hostile_tls13` (TLS 1.3, -20) for certificate faults) plus the bench's own
link faults and the charger's wish to stop.

    evse-silent                  the EVSE SLAC simulators never answer (ISO 15118-3 matching fails)
    no-secc                      SLAC matches but no SECC answers SDP (ISO 15118-2 §7.10.1)
    stop-after-loop:<n>          the EVSE asks to stop after n charge-loop messages (a charger's decision)
    KIND[:TARGET[#N]][=VALUE]    one SECC fault of evcc.bench.secc.faults: code, session-id, delay, silence,
                                 stall, unexpected, garbage-exi, disconnect, oversized, truncated, wrong-version,
                                 wrong-payload-type, cert:expired, cert:untrusted, cert:vehicle-refused (-20)

Earlier spellings stay accepted as aliases: ``silent-from:<Res>`` = ``silence:<Res>``,
``response-code:<Res>=<Code>`` = ``code:<Res>=<Code>``, ``wrong-session-id:<Res>`` = ``session-id:<Res>``,
``ongoing-forever:<Res>`` = ``stall:<Res>`` (the first, Ongoing answer repeats). One SECC fault per run (the
layer applies one); a wrong string raises :class:`~evcc.errors.ConfigError` naming it and the accepted forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evcc.bench.secc.faults import Fault, FaultSpecError, parse_fault
from evcc.errors import ConfigError

FORMS = ("evse-silent", "no-secc", "stop-after-loop:<n>", "code:<Res>=<ResponseCode>", "delay:<Res>[=<s>]",
         "silence:<Res>", "stall:<Res>[=<pace s>]", "session-id:<Res>", "unexpected:<Res>[=<Res>]",
         "garbage-exi:<Res>", "disconnect:<Res>", "oversized", "truncated:<Res>", "wrong-version:<Res>",
         "wrong-payload-type:<Res>", "cert:expired", "cert:untrusted",
         "aliases: silent-from:<Res>, response-code:<Res>=<Code>, wrong-session-id:<Res>, ongoing-forever:<Res>")
ALIASES = {"silent-from": "silence", "response-code": "code", "wrong-session-id": "session-id",
           "ongoing-forever": "stall"}


@dataclass(frozen=True, slots=True)
class ParsedFaults:
    secc: Fault | None = None
    evse_silent: bool = False
    no_secc: bool = False
    stop_after_loop: int | None = None


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"fault {spec!r}: {why}; accepted: {', '.join(FORMS)}")


def _loops(spec: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not a whole number of loop messages") from None
    if not 1 <= value <= 100_000:
        raise _bad(spec, f"{value} is outside 1..100000")
    return value


def canonical(spec: str) -> str:
    """The shared layer's spelling of ``spec`` (aliases replaced)."""
    kind, colon, rest = spec.strip().partition(":")
    return f"{ALIASES.get(kind, kind)}{colon}{rest}"


def parse_faults(specs: Iterable[str]) -> ParsedFaults:
    secc: Fault | None = None
    evse_silent = no_secc = False
    loops: int | None = None
    for spec in specs:
        kind, _, arg = spec.strip().partition(":")
        if kind in ("evse-silent", "no-secc"):
            if arg:
                raise _bad(spec, f"{kind} takes no argument")
            evse_silent |= kind == "evse-silent"
            no_secc |= kind == "no-secc"
            continue
        if kind == "stop-after-loop":
            loops = _loops(spec, arg)
            continue
        try:
            fault = parse_fault(canonical(spec))
        except FaultSpecError as exc:
            raise _bad(spec, str(exc)) from None
        if secc is not None:
            raise _bad(spec, f"one SECC fault per run, {secc.describe()} is set already")
        secc = fault
    return ParsedFaults(secc, evse_silent, no_secc, loops)
