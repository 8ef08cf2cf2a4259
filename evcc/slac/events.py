"""Events the EV SLAC machine reports (ISO 15118-3 §9.2-9.6): matched, failed with its phase, and notices."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from evcc.plc.mme import mac_str


class Phase(enum.Enum):
    """Where SLAC failed, in the order of ISO 15118-3 Figure A.2 (EV side)."""

    LEAVE = "leave AVLN (fresh NMK to the local modem)"
    MODEM_READY = "local modem restart"
    PARM = "CM_SLAC_PARM"
    ATTEN_CHAR = "CM_ATTEN_CHAR (attenuation characterisation)"
    SELECTION = "EVSE selection (attenuation threshold)"
    VALIDATE = "CM_VALIDATE"
    MATCH = "CM_SLAC_MATCH"
    SET_KEY = "CM_SET_KEY (NMK/NID to the local modem)"
    LINK = "link detection (TT_match_join)"


@dataclass(frozen=True, slots=True)
class Matched:
    """The link to ``evse_mac`` is up: its AVLN (NID, NMK) is joined."""

    evse_mac: bytes
    attenuation_db: float
    nid: bytes
    nmk: bytes
    run_id: bytes
    started: float  # time of the first CM_SLAC_PARM.REQ
    link_up: float

    def describe(self) -> str:
        return (
            f"matched EVSE {mac_str(self.evse_mac)} attenuation {self.attenuation_db:.1f} dB"
            f" NID {self.nid.hex()} in {self.link_up - self.started:.3f} s"
        )


@dataclass(frozen=True, slots=True)
class Failed:
    phase: Phase
    reason: str

    def describe(self) -> str:
        return f"SLAC failed in phase {self.phase.name} ({self.phase.value}): {self.reason}"


@dataclass(frozen=True, slots=True)
class Left:
    """The local modem holds a fresh random NMK: the EV is in no AVLN [V2G3-M09-17]."""


@dataclass(frozen=True, slots=True)
class ToggleRequest:
    """CM_VALIDATE asks the EV to toggle S2 ``count`` times, each state ``duration`` seconds (BCB toggles)."""

    count: int
    duration: float


@dataclass(frozen=True, slots=True)
class Dropped:
    """A received frame was ignored: malformed, for another station or RunID, or not expected now."""

    reason: str


@dataclass(frozen=True, slots=True)
class Tolerated:
    """A received field the EV does not act on differs from ISO 15118-3, or an optional step went unanswered;
    the EV went on. Emitted the first time a (field, value) is seen; every occurrence is counted in the
    machine's :class:`~evcc.session.deviations.DeviationRecord`."""

    field: str
    value: str
    expected: str
    clause: str

    def describe(self) -> str:
        return f"tolerated {self.field}={self.value} (expected {self.expected}; {self.clause})"


Event = Matched | Failed | Left | ToggleRequest | Dropped | Tolerated
