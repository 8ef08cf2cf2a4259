"""sd_notify datagrams (real AF_UNIX socket, also abstract), the watchdog interval rule, the journald line
format, and the machine-state table of the daemon (evcc.app.notify, .logs, .progress)."""

from __future__ import annotations

import io
import logging
import os
import socket
from pathlib import Path

from evcc.app.logs import JournalFormatter, priority, setup_logging
from evcc.app.notify import Notifier, watchdog_interval
from evcc.app.progress import EnergyMeter, ObservedMachine, classify
from evcc.bms_bridge.state import SessionStage
from evcc.hmi.names import SessionState
from evcc.session.din.config import State as DinState
from evcc.session.iso2.config import State as Iso2State


def test_notify_sends_datagrams_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        n.ready("up")
        assert server.recv(100) == b"READY=1\nSTATUS=up"
        n.stopping("bye")
        assert server.recv(100) == b"STOPPING=1\nSTATUS=bye"
        for _ in range(500):  # nobody reads: the queue fills, sends are dropped, the caller never waits
            n.watchdog()
        assert n.dropped > 0
        n.close()


def test_notify_abstract_socket_and_disabled() -> None:
    name = f"evcc-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        n.status("x")
        assert server.recv(100) == b"STATUS=x"
        n.close()
    off = Notifier({})
    assert not off.enabled
    off.ready("nothing happens")


def test_watchdog_interval_is_half_and_respects_watchdog_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None and watchdog_interval({}) is None


def test_journal_lines_carry_priority_and_fields() -> None:
    record = logging.LogRecord("evcc.app.daemon", logging.WARNING, __file__, 1, "session ended", None, None)
    record.fields = {"kind": "timeout", "reason": "V2G_EVCC_Msg_Timeout expired"}
    assert JournalFormatter().format(record) == ('<4>evcc.app.daemon: session ended kind=timeout '
                                                 'reason="V2G_EVCC_Msg_Timeout expired"')
    assert [priority(lv) for lv in (logging.DEBUG, logging.INFO, logging.ERROR, logging.CRITICAL)] == [7, 6, 3, 2]
    out = io.StringIO()
    setup_logging("info", out)
    logging.getLogger("evcc.x").info("two\nlines")
    logging.getLogger("evcc.x").debug("hidden")
    assert out.getvalue() == "<6>evcc.x: two | lines\n"


def test_every_waiting_state_of_the_machines_is_classified() -> None:
    for state in [*Iso2State, *DinState]:
        if state.value not in ("not started", "ended"):
            assert classify(state.value) is not None, state
    assert classify(Iso2State.WAIT_CURRENT_DEMAND_RES.value) == (SessionState.CHARGING, SessionStage.CHARGING)
    assert classify("PowerDeliveryRes (Stop)") == (SessionState.STOPPING, SessionStage.STOPPING)


class _Fake:
    grammar, payload_type = "iso2", 0x8001

    def __init__(self) -> None:
        self.state = Iso2State.IDLE
        self.ended = None
        self.stops: list[str] = []

    def start(self, now: float, setup_deadline: float | None = None) -> None:
        self.state = Iso2State.WAIT_SESSION_SETUP_RES

    def receive_payload(self, data: bytes, now: float) -> None:
        self.state = Iso2State.WAIT_SERVICE_DISCOVERY_RES

    def handle_timer(self, now: float) -> None: ...

    def get_timer(self) -> float | None:
        return None

    def messages_to_send(self) -> list[object]:
        return []

    def events(self) -> list[object]:
        return []

    def stop(self, now: float, reason: str) -> None:
        self.stops.append(reason)


def test_observed_machine_reports_each_change_once_and_passes_stop() -> None:
    seen: list[str] = []
    inner = _Fake()
    m = ObservedMachine(inner, seen.append)  # type: ignore[arg-type]
    m.start(0.0)
    m.handle_timer(0.1)
    m.receive_payload(b"", 0.2)
    m.receive_payload(b"", 0.3)
    m.stop(0.4, "user")
    assert seen == ["SessionSetupRes", "ServiceDiscoveryRes"] and inner.stops == ["user"]


def test_energy_meter_integrates_power() -> None:
    meter = EnergyMeter()
    meter.sample(400.0, 100.0, 0.0)
    assert meter.sample(400.0, 100.0, 36.0) == 400.0  # 40 kW for 36 s = 400 Wh
    assert meter.sample(400.0, -10.0, 72.0) == 400.0  # discharge is not counted as delivered energy


def test_iso20_states_are_classified_and_payload_types_pass_through_the_observer() -> None:
    """An ISO 15118-20 machine under ObservedMachine keeps its V2GTP payload types (0x8002 common, 0x8004 DC):
    the runner must not send every -20 message in one type."""
    from evcc.bench.secc.iso20_responder import dc_secc
    from evcc.bench.secc.memory import run_in_memory
    from evcc.session.iso20 import Iso20Config
    from evcc.session.iso20.config import State as Iso20State
    from evcc.session.iso20.machine import Iso20Evcc
    from evcc.session.machine import MultiPayloadMachine
    from evcc.session.v2gtp import ISO20_COMMON, ISO20_DC
    from tests.session.iso20.helpers import car

    for state in Iso20State:
        if state not in (Iso20State.IDLE, Iso20State.ENDED):
            assert classify(state.value) is not None, state
    assert classify(Iso20State.WAIT_DC_CHARGE_LOOP_RES.value) == (SessionState.CHARGING, SessionStage.CHARGING)
    seen: list[str] = []
    inner = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", unix_time_offset=1_700_000_000.0), car(soc=79.0))
    m = ObservedMachine(inner, seen.append)
    assert isinstance(m, MultiPayloadMachine) and m.payload_types == inner.payload_types
    secc = dc_secc()
    result = run_in_memory(m, secc)  # delivers by payload type through the observer
    assert result.ended.kind.value == "completed" and secc.record.errors == []
    assert {ISO20_COMMON, ISO20_DC} <= m.payload_types
    assert "DC_ChargeLoopRes" in seen and seen[-1] == "ended"
