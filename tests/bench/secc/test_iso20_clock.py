"""The ISO 15118-20 SECC simulator's clock (Header TimeStamp, PowerSchedule TimeAnchor, MeterTimestamp; §8.3.3,
§8.3.4.7): by default the simulated charger's wall clock agrees with the vehicle's (taken from the
SessionSetupReq's Header TimeStamp), so an EV paired with ``dc_secc()`` in memory charges in Scheduled mode
whatever its ``unix_time_offset``; an explicit ``time_base`` is a charger on its own clock.

Found while pairing Iso20Evcc with dc_secc() in memory: with the simulator fixed at 1.7e9 s and the EV's default
offset 0, the EV read the schedule's TimeAnchor as 54 years ahead, asked for 0 A, and never left the DC charge
loop (energy 0 after 1,000,000 steps)."""

from __future__ import annotations

from typing import Any

import pytest

from evcc.bench.secc.iso20_responder import DEFAULT_TIME_BASE, Iso20Secc, Iso20SeccConfig, ac_secc, dc_secc
from evcc.bench.secc.memory import run_in_memory
from evcc.session.events import EndKind
from evcc.session.iso2 import AcBatteryModel
from evcc.session.iso20 import Iso20Config, Iso20Evcc

EVCC_ID = "0242AC110002"


def _ev(service: str = "DC", offset: float = 0.0, **kw: Any) -> tuple[Iso20Evcc, AcBatteryModel]:
    car = AcBatteryModel(capacity_wh=400.0, soc=79.0, target_soc=80.0)
    config = Iso20Config(evcc_id=EVCC_ID, service=service, unix_time_offset=offset, **kw)  # type: ignore[arg-type]
    return Iso20Evcc(config, car), car


class Anchors:
    """Wraps a responder: the TimeAnchor of each offered PowerSchedule and each Header TimeStamp sent."""

    def __init__(self, inner: Iso20Secc) -> None:
        self.inner = inner
        self.anchors: list[int] = []
        self.stamps: list[int] = []

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        self.inner.receive_typed(payload_type, data, now)

    def receive_payload(self, data: bytes, now: float) -> None:
        self.inner.receive_payload(data, now)

    def messages_to_send(self, now: float) -> list[Any]:
        out: list[Any] = list(self.inner.messages_to_send(now))
        for msg in out:
            self.stamps.append(int(msg.Header.TimeStamp))
            mode = getattr(msg, "Scheduled_SEResControlMode", None)
            if mode is not None:
                self.anchors += [int(t.ChargingSchedule.PowerSchedule.TimeAnchor) for t in mode.ScheduleTuple]
        return out

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def payload_type_of(self, msg: Any) -> int:
        return int(self.inner.payload_type_of(msg))

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return frozenset(self.inner.accepted_payload_types)


@pytest.mark.parametrize("offset", [0.0, 1_790_000_000.0])
@pytest.mark.parametrize("service", ["DC", "DC_BPT", "AC"])
def test_scheduled_session_charges_whatever_the_vehicle_clock(service: str, offset: float) -> None:
    ev, car = _ev(service, offset)
    secc = dc_secc() if service.startswith("DC") else ac_secc()
    watched = Anchors(secc)
    result = run_in_memory(ev, watched, 1000.0, max_steps=20_000)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.record.energy_delivered_wh > 0 and car.soc >= 80.0
    assert watched.anchors and watched.anchors[0] == int(offset + 1000.0)  # ScheduleExchange within 1 s
    assert watched.stamps[0] == int(offset + 1000.0)  # SessionSetupRes on the vehicle's clock
    assert all(b >= a for a, b in zip(watched.stamps, watched.stamps[1:]))  # a clock never runs backwards


def test_explicit_time_base_is_the_charger_own_clock() -> None:
    ev, _ = _ev("DC", offset=DEFAULT_TIME_BASE)
    secc = dc_secc(Iso20SeccConfig(time_base=DEFAULT_TIME_BASE - 600))
    watched = Anchors(secc)
    result = run_in_memory(ev, watched, 100.0, max_steps=20_000)
    assert result.ended.kind is EndKind.COMPLETED, result.ended  # the charger is 10 min behind: within the schedule
    assert watched.stamps[0] == DEFAULT_TIME_BASE - 500
    assert watched.anchors[0] >= DEFAULT_TIME_BASE - 500


def test_before_any_session_setup_the_default_time_base_applies() -> None:
    secc = dc_secc()
    secc.now = 5.0
    assert secc.unix_time() == DEFAULT_TIME_BASE + 5


def test_charger_clock_one_day_ahead_still_ends_the_session() -> None:
    """The machine reads the schedule on the SECC's time base (evcc.session.iso20.clock: the offset between the
    SECC's Header TimeStamp and the vehicle's clock), so a charger one day ahead is no reason to charge at 0 A."""
    ev, car = _ev("DC", offset=DEFAULT_TIME_BASE)
    secc = dc_secc(Iso20SeccConfig(time_base=DEFAULT_TIME_BASE + 86_400))
    result = run_in_memory(ev, secc, 0.0, max_steps=3_000)  # a normal session needs ~200 messages
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.record.energy_delivered_wh > 0 and car.soc >= 80.0
    assert ev.secc_clock.offset is not None and abs(ev.secc_clock.offset - 86_400) <= 1
