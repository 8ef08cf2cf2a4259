"""EV-side CPU per DIN charge-loop message: decode CurrentDemandRes + machine step + encode CurrentDemandReq.

Prints the median and percentiles against the issue's 50 us target (a figure, not an assertion).
Run: python3 benchmarks/session_bench.py
"""

from __future__ import annotations

import statistics
import time

from evcc import exi
from evcc.bench.secc.din_responder import DinSecc
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc, State


def main() -> None:
    car = BatteryModel(capacity_wh=1e9, soc=50.0, target_soc=80.0)
    ev = DinEvcc(DinConfig(evcc_id=bytes(6)), car)
    secc = DinSecc()
    now = 0.0
    ev.start(now)
    samples: list[float] = []
    while len(samples) < 5000:
        for msg in ev.messages_to_send():
            secc.receive_payload(exi.encode(msg), now)
        now += 0.01
        for msg in secc.messages_to_send(now):
            data = exi.encode(msg)
            loop = ev.state is State.WAIT_CURRENT_DEMAND_RES
            t0 = time.perf_counter()
            ev.receive_payload(data, now)
            out = [exi.encode(m) for m in ev.messages_to_send()]
            dt = time.perf_counter() - t0
            for payload in out:
                secc.receive_payload(payload, now)
            if loop:
                samples.append(dt)
        ev.events()
    samples.sort()
    median = statistics.median(samples) * 1e6
    print(f"DIN CurrentDemand EV-side CPU per message: median {median:.1f} us, "
          f"p90 {samples[int(len(samples) * 0.9)] * 1e6:.1f} us, p99 {samples[int(len(samples) * 0.99)] * 1e6:.1f} us "
          f"over {len(samples)} messages; target 50 us -> ratio {median / 50:.2f}")


if __name__ == "__main__":
    main()
