"""How fast the EV runs the charge loop (CurrentDemandReq, ChargingStatusReq, ISO 15118-20 DC_/AC_ChargeLoopReq):
never faster than a minimum cycle, the time from one loop request to the next (evcc.session.checks
``MachineCore.pace``).

The default is what real vehicles do. Public captures of real cars (shared/docs/SERVICE.md, "How fast real cars
run the charge loop", from the tux-evse simulator's pcaps): Tesla Model 3 DIN 70121 DC CurrentDemandReq every
~117 ms, Audi ISO 15118-2 DC every ~220 ms, Porsche Taycan ISO 15118-2 AC ChargingStatusReq every ~211 ms; none
sends as fast as the charger can answer. :data:`DEFAULT_MIN_CYCLE` takes the fastest of them, rounded down
(0.1 s); with a BMS on CAN the BMS frame period (a new value cannot come sooner) when it is longer.

The standards bound the cycle from above, not from below:

* DIN SPEC 70121 §9.6 Table 76 and ISO 15118-2 §8.7 Table 109: V2G_SECC_Sequence_Timeout, 60 s, is how long the
  SECC waits for the next request; CurrentDemandReq's V2G_EVCC_Msg_Timeout is 0.25 s and the charger's
  V2G_SECC_Msg_Performance_Time for CurrentDemandRes 25 ms: the loop is meant to run several times a second.
* ISO 15118-20 §8.8: in the charge loop the SECC waits 0.5 s for the next DC_/AC_ChargeLoopReq (its
  V2G_SECC_Sequence_Timeout for the loop; Josev's timeout table carries it as V2G_SECC_SEQUENCE_TIMEOUT_DC_CL /
  _AC_CL = 0.5 s): :data:`MAX_MIN_CYCLE` keeps the EV's cycle well below that.
* ISO 15118-2 AC with ReceiptRequired (Plug & Charge): MeteringReceiptReq follows the ChargingStatusRes at once
  (it is not a loop request and is not paced); the ChargingStatusReq after it keeps the cycle.

The bench and the tests choose their pace explicitly (often 0: unpaced, on a virtual or scaled clock).
"""

from __future__ import annotations

import dataclasses

from evcc.errors import ConfigError
from evcc.session.timeouts import EvccTimers

DEFAULT_MIN_CYCLE = 0.1  # s; real cars: 117-220 ms per cycle (SERVICE.md)
MAX_MIN_CYCLE = 0.4  # s; below ISO 15118-20's 0.5 s charge-loop sequence timeout of the SECC


def check_min_cycle(seconds: float, option: str = "--min-cycle") -> float:
    """``seconds`` when it is a usable minimum cycle, else a ConfigError naming ``option``."""
    if not 0.0 <= seconds <= MAX_MIN_CYCLE:  # also refuses NaN
        raise ConfigError(f"{option} {seconds}: outside [0, {MAX_MIN_CYCLE}] s (0: unpaced; ISO 15118-20 chargers "
                          "wait 0.5 s for the next charge-loop request)")
    return seconds


def effective_min_cycle(configured: float, bms_frame_period: float | None = None) -> float:
    """The cycle in use: the configured one, or the BMS frame period when that is longer (capped at
    :data:`MAX_MIN_CYCLE`)."""
    if bms_frame_period is None:
        return configured
    return min(MAX_MIN_CYCLE, max(configured, bms_frame_period))


def with_min_cycle(timers: EvccTimers, seconds: float) -> EvccTimers:
    """``timers`` with the charge loop's minimum cycle set (the machines read it from their timer table)."""
    return dataclasses.replace(timers, charge_loop_min_cycle=check_min_cycle(seconds))
