"""Acceptance (issue 6): orderly stops of the daemon end to end (bench of harness.py).

- BMS silence while charging: the bridge drops the contactor close request at the freshness deadline
  (1.0 s) and the session stops in order (PowerDeliveryReq(Stop) ... SessionStopReq at the simulator) within
  1.5 s of the last BMS frame.
- SIGTERM while charging: STOPPING=1, PowerDelivery(Stop) and SessionStop reach the simulator, exit status 0.
- kill -9 right after a priority change, then a restart: the contract store is intact (both contracts, the
  changed order) and the next session completes with the new first contract.
"""

from __future__ import annotations

import signal
import time

from evcc.bms_bridge.battery_bms import BmsFault
from evcc.hmi.names import SessionState
from evcc.session.battery_model import BatteryModel

from .conftest import DbusClient
from .harness import Bench, DaemonProcess, SeccSession, until


def _long_charge() -> BatteryModel:
    """A battery far from its target: the charge loop runs until something stops it."""
    return BatteryModel(capacity_wh=500_000.0, soc=30.0, target_soc=95.0)


def _charging(bench: Bench, since: float) -> SeccSession:
    until(lambda: any(s.first("CurrentDemandReq") for s in bench.sessions_since(since)), 25.0, "the charge loop")
    return next(s for s in bench.sessions_since(since) if s.first("CurrentDemandReq"))


def _orderly_end(session: SeccSession) -> list[str]:
    """The requests after the charge loop."""
    received = session.secc.received
    last_loop = max(i for i, n in enumerate(received) if n in ("CurrentDemandReq", "MeteringReceiptReq"))
    return [n for i, n in enumerate(received) if i > last_loop and (i == 0 or n != received[i - 1])]


def test_bms_silence_while_charging_stops_the_session_in_order(bench: Bench, dbus_client: DbusClient) -> None:
    bench.set_battery(_long_charge())
    daemon = DaemonProcess.start(bench, bench.config(restart_delay_s=30.0), "silence")
    try:
        session = _charging(bench, daemon.started)
        until(lambda: bench.battery is not None and bench.battery.contactors_closed, 5.0, "contactors closed")
        assert dbus_client.session("State") == SessionState.CHARGING
        silent = bench.peer.do(lambda: (bench.battery.faults.add(BmsFault.SILENCE), time.monotonic())[1])  # type: ignore[union-attr]
        until(lambda: session.first("PowerDeliveryReq", silent) is not None, 3.0, "PowerDelivery(Stop)")
        until(lambda: session.stopped, 5.0, "SessionStopReq")
        stop_at = session.first("PowerDeliveryReq", silent)
        assert stop_at is not None
        assert stop_at - silent <= 1.5, f"orderly stop began {stop_at - silent:.3f} s after silence"
        print(f"BMS silence -> PowerDeliveryReq(Stop) at the SECC: {stop_at - silent:.3f} s")
        assert _orderly_end(session)[0] == "PowerDeliveryReq" and _orderly_end(session)[-1] == "SessionStopReq"
        assert bench.battery is not None and not bench.battery.contactors_closed
        until(lambda: dbus_client.session("State") == SessionState.STOPPED, 3.0, "Session.State Stopped")
        assert "BMS" in dbus_client.session("Reason") or any("BMS" in e for e in dbus_client.session("Errors"))
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, daemon.output()
        assert "BMS_Status stale" in daemon.output() or "BMS frame stale" in daemon.output()
    finally:
        daemon.stop()
        bench.set_battery(BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0))


def test_sigterm_while_charging_stops_in_order_and_exits_0(bench: Bench) -> None:
    bench.set_battery(_long_charge())
    daemon = DaemonProcess.start(bench, bench.config(restart_delay_s=30.0), "sigterm")
    try:
        session = _charging(bench, daemon.started)
        time.sleep(0.3)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, daemon.output()
        assert daemon.notify.wait_for("STOPPING=1", 1.0) >= daemon.started
        assert session.stopped and _orderly_end(session)[0] == "PowerDeliveryReq"
        assert _orderly_end(session)[-1] == "SessionStopReq" and session.secc.errors == []
        out = daemon.output()
        assert "Traceback" not in out and "service stopping (SIGTERM)" in out
    finally:
        daemon.stop()
        bench.set_battery(BatteryModel(capacity_wh=40.0, soc=75.0, target_soc=80.0))


def test_kill_9_then_restart_keeps_the_store_and_the_next_session_works(bench: Bench,
                                                                         dbus_client: DbusClient) -> None:
    daemon = DaemonProcess.start(bench, bench.config(restart_delay_s=0.5), "kill9-a")
    try:
        daemon.notify.wait_for("READY=1")
        before = dbus_client.contracts()
        reordered = [before[1][0], before[0][0]]
        dbus_client.set_priorities(reordered)
        daemon.proc.send_signal(signal.SIGKILL)
        assert daemon.wait(10) == -signal.SIGKILL
    finally:
        daemon.stop()
    restarted = DaemonProcess.start(bench, bench.config(restart_delay_s=0.5), "kill9-b")
    try:
        restarted.notify.wait_for("READY=1")
        after = dbus_client.contracts()
        assert [emaid for _, emaid, _ in after] == [before[1][1], before[0][1]]
        until(lambda: any(s.stopped and s.first("PaymentDetailsReq") for s in bench.sessions_since(restarted.started)),
              25.0, "a session after the restart")
        session = next(s for s in bench.sessions_since(restarted.started) if s.stopped)
        assert session.emaid == after[0][1] and session.pnc.refusals == []
        restarted.proc.send_signal(signal.SIGTERM)
        assert restarted.wait(15) == 0, restarted.output()
    finally:
        restarted.stop()


def test_a_bms_bridge_that_cannot_open_after_ready_is_one_line_and_exit_3(bench: Bench) -> None:
    """READY means: config valid, token open, D-Bus name owned. The CAN bus opens after it; its failure is a
    start error all the same (STATUS= names it, one line on stderr, exit 3)."""
    config = bench.config("nocan.toml", bms='interface = "socketcan"\nchannel = "nocan7"')
    daemon = DaemonProcess.start(bench, config, "nocan")
    try:
        daemon.notify.wait_for("READY=1")
        assert daemon.wait(15) == 3
        out = daemon.output()
        assert "Traceback" not in out
        assert "<3>evcc run: CAN bus socketcan:nocan7 cannot be opened" in out
        assert any(m.startswith("STATUS=BMS bridge: CAN bus socketcan:nocan7") for _, m in daemon.notify.drain())
    finally:
        daemon.stop()
