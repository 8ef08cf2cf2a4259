"""Honest timers (issue 13 item 2): V2G_EVCC_Msg_Timeout runs from the moment the request has been written to the
connection (ISO 15118-2 §8.7 Table 109, DIN SPEC 70121 §9.6 Table 75, ISO 15118-20 §8.8: the time the EVCC waits
for the response after sending the request), so a pause on the EV's side between a response and its next request
is the EV's own time: reported as such (``ev_turn``, ``ev_work``), never as the charger's lateness, and never
expiring the charger's timer. The clock is injected: the EV's pause is a step of its clock, not a sleep."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from evcc.bench.protocols import EvOptions, SeccOptions, plan_for
from evcc.bench.secc.iso20_responder import dc_secc
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import serve_secc
from evcc.bench.vehicle_sim import make_vehicle
from evcc.session import v2gtp
from evcc.session.checks import MachineCore
from evcc.session.connection import open_connection
from evcc.session.events import EndKind, LateResponse
from evcc.session.iso2 import AcBatteryModel
from evcc.session.iso20 import ISO_15118_20, Iso20Config
from evcc.session.iso20.factory import iso20_machines, iso20_offers
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import ISO20_NAMESPACES
from evcc.session.session_log import SessionLog
from evcc.session.vehicle import DcTargets
from tests.session.soak_helpers import Pair

STALL = 0.6  # s: longer than DC_ChargeLoopReq's V2G_EVCC_Msg_Timeout (0.5 s, ISO 15118-20)


@dataclass
class SkewedClock:
    """Monotonic time plus the EV's pauses."""

    skew: float = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skew


class StallingCar(AcBatteryModel):
    """A car whose BMS takes STALL seconds (on the EV's clock) to answer once, in the middle of the charge loop."""

    clock: SkewedClock
    calls: int = 0

    def dc_targets(self, now: float) -> DcTargets:
        self.calls += 1
        if self.calls == 4:
            self.clock.skew += STALL
        return super().dc_targets(now)


def test_a_0_6_s_ev_stall_does_not_expire_the_0_5_s_charge_loop_timer_over_tcp() -> None:
    clock = SkewedClock()
    car = StallingCar(capacity_wh=400.0, soc=79.0, target_soc=80.0)
    car.clock = clock
    config = Iso20Config(evcc_id="0242AC110002", service="DC", control_mode="Scheduled")
    supported = [SupportedProtocol("iso20-dc", ISO20_NAMESPACES["iso20-dc"], 1, 0)]

    async def main() -> SessionReport:
        server, _ = await serve_secc("::1", 0, supported, responders={"iso20-dc": dc_secc},
                                     timers={"iso20-dc": ISO_15118_20})
        try:
            conn = await open_connection("::1", server.sockets[0].getsockname()[1],
                                         accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
            return await run_session(conn, iso20_offers(config), iso20_machines(config, car), ISO_15118_20, clock)
        finally:
            server.close()
            await server.wait_closed()

    report = asyncio.run(main())
    assert car.calls > 4 and clock.skew == STALL  # the stall happened, inside the loop
    assert report.ended.kind is EndKind.COMPLETED, report.ended
    log = report.events
    loop = log.rtt.stats["DC_ChargeLoopRes"]
    assert loop.max < STALL  # the charger's time: from the written request, without the EV's pause
    assert not [e for e in log if isinstance(e, LateResponse) and e.latency >= STALL]
    assert log.ev_turn.max >= STALL and log.ev_work.max >= STALL  # the EV's own time, reported as the EV's


def _loop_pair() -> Pair:
    plan = plan_for("iso20-dc", ["iso20-dc"])
    vehicle = make_vehicle(10.0, 90.0, 500.0, 1.0)
    ev = plan.make_machine(EvOptions(bytes(6)), vehicle)
    assert isinstance(ev, MachineCore)
    pair = Pair(ev, plan.make_responder(SeccOptions()), SessionLog())
    pair.start()
    pair.run(until=lambda p: p.ev.state.value == "DC_ChargeLoopRes" and p.log.rtt.stats.get("DC_ChargeLoopRes")
             is not None and p.log.rtt.stats["DC_ChargeLoopRes"].count >= 3)
    return pair


def _stalled_write(pair: Pair, report_write: bool) -> None:
    """Take the pending DC_ChargeLoopRes, then write the next request STALL seconds later (the EV's pause)."""
    pair.step()  # the response arrives and is handled; the next request is queued
    queued_at = pair.now
    sent = pair.ev.messages_to_send()
    assert len(sent) == 1 and type(sent[0]).__name__ == "DC_ChargeLoopReqType"
    pair.now = queued_at + STALL
    if report_write:
        pair.ev.request_written(pair.now)
    pair.now += 0.002  # the charger answers within 2 ms of the write
    pair.ev.handle_timer(pair.now)


def test_the_timer_runs_from_the_write_in_the_machine() -> None:
    pair = _loop_pair()
    _stalled_write(pair, report_write=True)
    assert pair.ev.ended is None
    deadline = pair.ev.get_timer()
    assert deadline is not None and abs(deadline - (pair.now - 0.002 + 0.5)) < 1e-9


def test_without_the_write_report_the_same_pause_would_expire_the_timer() -> None:
    """What the issue saw (the timer armed when the response was handled): the same pause ends the session."""
    pair = _loop_pair()
    _stalled_write(pair, report_write=False)
    ended = pair.ev.ended
    assert ended is not None and ended.kind is EndKind.TIMEOUT and ended.timer == "V2G_EVCC_Msg_Timeout"
