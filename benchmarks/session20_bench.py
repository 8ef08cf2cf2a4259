"""ISO 15118-20 session benchmark (issue 7, Performance). Figures and ratios against the target, never assertions.

EV-side CPU per -20 charge-loop message: decode the charge-loop response (iso20-dc / iso20-ac grammar, chosen by
its V2GTP payload type) + the machine's step (checks, vehicle port, the next request's contents) + encode the
next request, in memory against the bench's -20 SECC simulator (evcc.bench.secc.iso20_responder), for DC
Scheduled and DC_BPT Dynamic (the richest loop request: energy requests and discharge limits), AC Dynamic, and
AC_BPT Dynamic / DC_BPT Scheduled for comparison. The vehicle port is the bench battery model
(evcc.session.ac_vehicle.AcBatteryModel); its answers are part of the EV's work. Only the EV side is timed.

Per case: median / p90 / p99 and the ratio of the median to the 50 us target; the median of each part (decode,
machine step with the vehicle port, encode). The session runner resolves the machine's payload-type routing once
per session (evcc.session.machine.routing), as this script does (``ev.payload_type_of``, ``ev.receive_typed``).

History (2 shared cores, other work running; medians): before the round-3 work DC Scheduled ~108 us, DC_BPT
Dynamic ~160 us, AC Dynamic ~120 us (incl. the runner's isinstance). Profile then: rational() tried up to 11
exponents with round() for each of ~12 RationalNumberTypes per request, the vehicle port was asked the same
thing 2-3 times per message (dc_targets x3, dc_limits x3, bpt_limits x3, dc_status x3; each answer a new frozen
dataclass of 1.5-5 us in the battery model), schema modules were looked up through importlib per message.
Now: bisection to the first possible exponent, a per-machine memo of RationalNumberType instances (limits repeat
message after message), each port answer read once per message, cached schema modules, request classes and
headers. Measured after (load ~0.7, best round; the runner's isinstance shown apart): DC Scheduled ~44 us,
DC_BPT Dynamic ~54 us (of which the bench battery model ~13 us), AC Dynamic ~45 us; AC_BPT Dynamic ~50 us,
DC_BPT Scheduled ~48 us.
Figures are load-sensitive: on a shared 2-CPU machine a case runs ~1.7x slower while another process runs
beside it (the medians of whole runs move between two levels). The script prints the load average, the median
over all messages and the median of the best of ``--rounds`` consecutive rounds (the least disturbed); the
verdict line uses the latter.

Run: python3 benchmarks/session20_bench.py [--messages N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evcc import exi  # noqa: E402
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig  # noqa: E402
from evcc.bench.secc.memory import deliver, payload_type_for  # noqa: E402
from evcc.session.ac_vehicle import AcBatteryModel  # noqa: E402
from evcc.session.iso20 import Iso20Config, Iso20Evcc, State  # noqa: E402
from evcc.session.iso20.values import GRAMMAR_OF_PAYLOAD  # noqa: E402

TARGET_US = 50.0
LOOP_STATES = {State.WAIT_DC_CHARGE_LOOP_RES, State.WAIT_AC_CHARGE_LOOP_RES}
CASES = (("DC", "Scheduled"), ("DC_BPT", "Dynamic"), ("AC", "Dynamic"), ("AC_BPT", "Dynamic"),
         ("DC_BPT", "Scheduled"))
TARGET_CASES = CASES[:3]  # issue 7 names these three


class TimedPort:
    """The vehicle port with the time spent inside its methods added up (for the "vehicle port" line: a second,
    separate pass, so the proxy's own overhead never enters the main figures)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.spent = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kw)
            finally:
                self.spent += time.perf_counter() - t0
        return timed


def port_share(service: str, control: str, count: int) -> float:
    """Median seconds per charge-loop message spent inside the vehicle port (the bench battery model)."""
    vehicle = TimedPort(AcBatteryModel(capacity_wh=1e9, soc=50.0, target_soc=80.0))
    ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service=service, control_mode=control,  # type: ignore[arg-type]
                               unix_time_offset=1_700_000_000.0), vehicle)
    secc = Iso20Secc(kind="DC" if service.startswith("DC") else "AC",
                     config=Iso20SeccConfig(response_time=0.0, dynamic_power=50_000.0))
    now, spent = 0.0, list[float]()
    ev.start(now)
    while len(spent) < count and ev.ended is None:
        for msg in ev.messages_to_send():
            deliver(secc, ev.payload_type_of(msg), exi.encode(msg), now)
        now += 0.01
        for msg in secc.messages_to_send(now):
            in_loop = ev.state in LOOP_STATES
            vehicle.spent = 0.0
            ev.receive_typed(payload_type_for(secc, msg), exi.encode(msg), now)
            if in_loop:
                spent.append(vehicle.spent)
        ev.events()
    return statistics.median(spent)


def loop_cpu(service: str, control: str, count: int) -> dict[str, list[float]]:
    """Seconds per charge-loop response handled (``count`` samples each): "total" (decode + machine + encode),
    the parts "decode", "machine" (the rest of receive_typed), "encode"."""
    vehicle = AcBatteryModel(capacity_wh=1e9, soc=50.0, target_soc=80.0)  # never full: the loop goes on
    ev = Iso20Evcc(Iso20Config(evcc_id="0242AC110002", service=service, control_mode=control,  # type: ignore[arg-type]
                               unix_time_offset=1_700_000_000.0), vehicle)
    secc = Iso20Secc(kind="DC" if service.startswith("DC") else "AC",
                     config=Iso20SeccConfig(response_time=0.0, dynamic_power=50_000.0))
    typer = ev.payload_type_of  # resolved once per machine
    now = 0.0
    ev.start(now)
    parts: dict[str, list[float]] = {k: [] for k in ("total", "decode", "machine", "encode")}
    while len(parts["total"]) < count and ev.ended is None:
        for msg in ev.messages_to_send():
            deliver(secc, typer(msg), exi.encode(msg), now)
        ev.events()
        now += 0.01
        for msg in secc.messages_to_send(now):
            data, payload_type = exi.encode(msg), payload_type_for(secc, msg)
            in_loop = ev.state in LOOP_STATES
            t0 = time.perf_counter()
            ev.receive_typed(payload_type, data, now)  # what evcc.session.machine.deliver calls
            t1 = time.perf_counter()
            sent = ev.messages_to_send()
            out = [(typer(m), exi.encode(m)) for m in sent]
            t2 = time.perf_counter()
            if in_loop:
                t3 = time.perf_counter()
                exi.decode_named(GRAMMAR_OF_PAYLOAD[payload_type], data)  # the decode inside receive_typed, again
                t4 = time.perf_counter()
                for key, dt in (("total", t2 - t0), ("decode", t4 - t3), ("machine", t1 - t0 - (t4 - t3)),
                                ("encode", t2 - t1)):
                    parts[key].append(dt)
            for kind, payload in out:
                deliver(secc, kind, payload, now)
        ev.handle_timer(now)
    if ev.ended is not None and len(parts["total"]) < count:
        raise SystemExit(f"{service} {control}: the session ended early: {ev.ended}")
    return parts


def report(name: str, parts: dict[str, list[float]], rounds: int, port: float) -> float:
    """Print the figures; returns the best round's median (us)."""
    samples = sorted(parts["total"])
    median = statistics.median(samples) * 1e6
    p90, p99 = samples[int(len(samples) * 0.9)] * 1e6, samples[int(len(samples) * 0.99)] * 1e6
    size = max(1, len(parts["total"]) // rounds)
    chunks = [parts["total"][i:i + size] for i in range(0, size * rounds, size)]
    best = min(statistics.median(c) for c in chunks if c) * 1e6
    split = ", ".join(f"{k} {statistics.median(parts[k]) * 1e6:.1f}" for k in ("decode", "machine", "encode"))
    print(f"{name:22} EV-side CPU per charge-loop message: median {median:6.1f} us (best of {rounds} rounds "
          f"{best:6.1f} us), p90 {p90:6.1f} us, p99 {p99:6.1f} us over {len(samples)} messages; target "
          f"{TARGET_US:.0f} us -> ratio {median / TARGET_US:.2f} (best round {best / TARGET_US:.2f})")
    print(f"{'':22}   parts (medians, us): {split}; of the machine's part, inside the vehicle port (bench "
          f"battery model): {port * 1e6:.1f}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="charge-loop messages per case (default 3000)")
    parser.add_argument("--rounds", type=int, default=5, help="consecutive rounds the messages are split into")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    loop_cpu(*CASES[0], 300)  # warm-up: first imports, allocator, caches
    worst = 0.0
    for service, control in CASES:
        best = report(f"-20 {service} {control}", loop_cpu(service, control, args.messages), args.rounds,
                      port_share(service, control, min(args.messages, 1000)))
        if (service, control) in TARGET_CASES:
            worst = max(worst, best)
    print(f"worst best-round median of the issue's three cases: {worst:.1f} us -> ratio {worst / TARGET_US:.2f} to "
          f"the {TARGET_US:.0f} us target")


if __name__ == "__main__":
    main()
