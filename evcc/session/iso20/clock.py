"""The SECC's clock as the EV sees it, and when a Scheduled-mode schedule no longer applies (ISO 15118-20 §8.3.3
message header, §8.3.4.7 ScheduleExchange).

Every -20 message header carries TimeStamp, the sender's Unix time in seconds; a PowerSchedule's TimeAnchor (and
the EVPowerProfile's) is a point on the SECC's clock, and the entries' Durations count from it. The vehicle's
clock may differ from the charger's by any amount (no common time source is required), so schedules are read
on the SECC's time base: the EV keeps the offset between the SECC's Header TimeStamp and its own clock, learnt
from every response that passed the machine's checks (SessionSetupRes first).

Estimate: a sample is ``SECC TimeStamp - the vehicle's Unix second when the response arrived``. Both clocks tick
in whole seconds and a response is stamped before it arrives, so samples scatter by about a second below the
true offset; the estimate keeps the largest sample, which puts the SECC's time within a second of its own
clock. A sample more than ``CLOCK_STEP`` away from the estimate (either way) is a clock that was set, not jitter:
it replaces the estimate. With both clocks in agreement the offset is 0 and schedules read exactly as before.

Outside the schedule: before its TimeAnchor (beyond ``ANCHOR_TOLERANCE``, the one-second stamps of both sides)
or at/after the end of its last entry. The charge loops then hold no power (the schedule gives none) and this
EVCC stops in order, naming the schedule's window and the SECC time (stopping.py, EVTerminationCode
``ScheduleExpired``). The schema also lets the EV ask for a new schedule (PowerDeliveryReq with ChargeProgress
ScheduleRenegotiation, V2G_CI_CommonMessages.xsd chargeProgressType), which this EVCC does not implement (as for
an EVSE's ScheduleRenegotiation notification): stopping is the orderly end it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from evcc.session.iso20.schedule import Schedule

CLOCK_STEP = 2  # s: a sample this far from the estimate means the SECC's clock was set
ANCHOR_TOLERANCE = 2  # s: a TimeAnchor this little ahead of the SECC's clock as we estimate it is its current time


@dataclass(slots=True)
class SeccClock:
    """``offset``: the SECC's clock minus the vehicle's (whole seconds); None until a response arrived."""

    offset: int | None = None

    def note(self, secc_timestamp: int, vehicle_timestamp: int) -> None:
        """A response's Header TimeStamp and the vehicle's Unix second when it arrived."""
        sample = int(secc_timestamp) - int(vehicle_timestamp)
        if self.offset is None or abs(sample - self.offset) > CLOCK_STEP or sample > self.offset:
            self.offset = sample

    def at(self, vehicle_timestamp: int) -> int:
        """The SECC's Unix time when the vehicle's clock reads ``vehicle_timestamp`` (no offset yet: the same)."""
        return vehicle_timestamp + (self.offset or 0)


def outside(schedule: Schedule, secc_time: int) -> str | None:
    """Why ``secc_time`` lies outside every entry of the chosen ScheduleTuple, or None while one applies."""
    end = schedule.end
    if secc_time >= end:
        return (f"ScheduleTuple {schedule.tuple_id} ended at {end} (TimeAnchor {schedule.time_anchor}); the SECC's "
                f"time is {secc_time}")
    if secc_time < schedule.time_anchor - ANCHOR_TOLERANCE:
        return (f"ScheduleTuple {schedule.tuple_id} starts at its TimeAnchor {schedule.time_anchor}, "
                f"{schedule.time_anchor - secc_time} s after the SECC's time {secc_time}")
    return None
