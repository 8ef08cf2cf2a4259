"""Service figures of the `evcc` daemon (issue 6 "Performance"), measured on the end-to-end bench of
tests/app/harness.py (network namespaces, veth, udp_multicast CAN, SoftHSM2, a private dbus-daemon: needs root):

- cold start to READY=1 (process start -> sd_notify READY)                             target <= 1 s
  READY = configuration valid, interface present, token open and logged in, D-Bus name owned (the BMS bridge,
  cantools and python-can come after it; evcc.app.daemon). Wall time depends on the machine's load; the
  daemon's own CPU time at READY (``cpu_s`` of its "ready" log line, interpreter start included) is what the
  wall time would be on an idle machine.
- daemon RSS during a charging session (VmRSS, VmHWM of the Python process)              target <= 60 MB
- D-Bus latency: the SECC hands PowerDeliveryRes(Start) to TCP -> the client receives
  PropertiesChanged with Session.State = Charging (includes the EV decoding the response)  target <= 10 ms

Prints figures and ratios to the targets; never asserts. Run: python3 benchmarks/service_bench.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evcc.hmi.names import BUS_NAME, SESSION_INTERFACE, SessionState  # noqa: E402
from evcc.hmi.private_bus import PrivateBus  # noqa: E402
from evcc.hsm.softhsm import init_softhsm  # noqa: E402
from evcc.session.battery_model import BatteryModel  # noqa: E402
from tests.app.harness import Bench, DaemonProcess, until  # noqa: E402

TARGETS = {"ready_s": 1.0, "ready_cpu_s": 1.0, "rss_mb": 60.0, "dbus_ms": 10.0}
CPU_FIELD = re.compile(r"evcc\.app\.daemon: ready .*cpu_s=([0-9.]+)")


def _rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _subscribe(bench: Bench) -> tuple[MessageBus, list[tuple[float, Message]]]:
    seen: list[tuple[float, Message]] = []

    async def connect() -> MessageBus:
        bus = await MessageBus(bus_address=bench.bus_address).connect()
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                               body=[f"type='signal',sender='{BUS_NAME}'"]))
        bus.add_message_handler(lambda m: seen.append((time.monotonic(), m))
                                if m.message_type is MessageType.SIGNAL else None)
        return bus

    return bench.peer.call(connect()), seen


def _charging_signal(seen: list[tuple[float, Message]], after: float) -> float | None:
    for t, m in list(seen):
        if t >= after and m.member == "PropertiesChanged" and m.body and m.body[0] == SESSION_INTERFACE:
            state = m.body[1].get("State")
            if state is not None and state.value == SessionState.CHARGING:
                return t
    return None


def one_run(bench: Bench, tag: str) -> dict[str, float]:
    bench.set_battery(BatteryModel(capacity_wh=500_000.0, soc=30.0, target_soc=95.0))
    client, seen = _subscribe(bench)
    daemon = DaemonProcess.start(bench, bench.config(f"bench-{tag}.toml", restart_delay_s=30.0), tag)
    try:
        ready = daemon.notify.wait_for("READY=1", 20.0) - daemon.started
        until(lambda: any(s.first("CurrentDemandReq") for s in bench.sessions_since(daemon.started)), 30.0, "charging")
        session = next(s for s in bench.sessions_since(daemon.started) if s.first("CurrentDemandReq"))
        handed = next(t for t, name in session.sent if name == "PowerDeliveryRes")
        until(lambda: _charging_signal(seen, handed) is not None, 5.0, "PropertiesChanged State=Charging")
        latency = (_charging_signal(seen, handed) or handed) - handed
        time.sleep(1.0)  # a second of charge loop
        rss, hwm = _rss_mb(daemon.proc.pid)
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.wait(20)
    finally:
        daemon.stop()
        bench.peer.do(client.disconnect)
    cpu = CPU_FIELD.search(daemon.output())
    return {"ready_s": ready, "ready_cpu_s": float(cpu.group(1)) if cpu else float("nan"), "rss_mb": rss,
            "hwm_mb": hwm, "dbus_ms": latency * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    tmp = Path(tempfile.mkdtemp(prefix="evcc-service-bench-"))
    with PrivateBus() as bus:
        bench = Bench(tmp, init_softhsm(tmp / "softhsm"), bus.address).create()
        try:
            results = [one_run(bench, f"run{i}") for i in range(runs)]
        finally:
            bench.close()
    print(f"evcc daemon service figures ({runs} runs; direct link, ISO 15118-2 PnC, SoftHSM2, udp_multicast CAN; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
    rows = (("cold start to READY (wall)", "ready_s", "s", TARGETS["ready_s"]),
            ("daemon CPU at READY (= wall time when idle)", "ready_cpu_s", "s", TARGETS["ready_cpu_s"]),
            ("RSS while charging", "rss_mb", "MB",
            TARGETS["rss_mb"]), ("peak RSS (VmHWM)", "hwm_mb", "MB", TARGETS["rss_mb"]),
            ("D-Bus State=Charging after PowerDeliveryRes", "dbus_ms", "ms", TARGETS["dbus_ms"]))
    for title, key, unit, target in rows:
        values = [r[key] for r in results]
        med = statistics.median(values)
        print(f"  {title:<46} median {med:8.3f} {unit:<2} (min {min(values):.3f}, max {max(values):.3f})"
              f"  target {target:g} {unit}: {med / target:.2f}x")


if __name__ == "__main__":
    main()
