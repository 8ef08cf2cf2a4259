"""Every timer the DIN SPEC 70121 EVCC arms fires exactly at its DIN value (Table 75: V2G_EVCC_Msg_Timeout per
request, 2 s and 250 ms for CurrentDemandReq; Table 76/77: V2G_EVCC_Ongoing_Timeout, CommunicationSetup,
CableCheck, PreCharge, ReadyToCharge): on an injected clock the machine still runs at value - 1 us and ends at
the value, naming the timer. The values were checked against DIN SPEC 70121:2014 as cited by Josev's DIN timeout
table and its issue #157 (CurrentDemandRes within 25 ms, Table 75)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from evcc.bench.secc.din_responder import DinSecc, DinSeccConfig
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.session.battery_model import BatteryModel
from evcc.session.din import DinConfig, DinEvcc
from evcc.session.events import SessionEvent
from evcc.session.timeouts import DIN_70121, EvccTimers
from tests.session.test_timeouts_iso2 import (
    MAC,
    T0,
    Run,
    assert_fires_exactly,
    exchanges,
    first_received,
    first_sent,
    last_answer,
    with_fault,
)


def din_run(fault: Fault | None, secc_config: DinSeccConfig | None = None, setup_deadline: float | None = None,
            timers: EvccTimers = DIN_70121) -> Callable[[], Run]:
    def make() -> Run:
        ev = DinEvcc(DinConfig(evcc_id=MAC, timers=timers), BatteryModel(capacity_wh=40.0, soc=70.0, target_soc=80.0))
        secc = DinSecc(config=secc_config or DinSeccConfig())
        ev.start(T0, setup_deadline)
        return Run(ev, with_fault(secc, fault))
    return make


MSG_TIMEOUT_ROWS = [  # (request, DIN SPEC 70121 Table 75 value)
    ("SessionSetupReq", 2.0), ("ServiceDiscoveryReq", 2.0), ("ServicePaymentSelectionReq", 2.0),
    ("ContractAuthenticationReq", 2.0), ("ChargeParameterDiscoveryReq", 2.0), ("CableCheckReq", 2.0),
    ("PreChargeReq", 2.0), ("PowerDeliveryReq", 2.0), ("CurrentDemandReq", 0.25), ("WeldingDetectionReq", 2.0),
    ("SessionStopReq", 2.0),
]


def test_every_request_of_table_75_has_a_row() -> None:
    # supportedAppProtocolReq: tests/session/test_sap.py
    assert {r for r, _ in MSG_TIMEOUT_ROWS} == set(DIN_70121.V2G_EVCC_Msg_Timeout) - {"SupportedAppProtocolReq"}
    assert DIN_70121.performance_time("CurrentDemandRes") == 0.025


@pytest.mark.parametrize(("request_name", "limit"), MSG_TIMEOUT_ROWS)
def test_v2g_evcc_msg_timeout_per_request(request_name: str, limit: float) -> None:
    assert DIN_70121.msg_timeout(request_name) == limit
    make = din_run(Fault(FaultKind.SILENCE, request_name.replace("Req", "Res")))
    assert_fires_exactly(make, "V2G_EVCC_Msg_Timeout", limit, last_answer)


SEQUENCE_ROWS = [
    (Fault(FaultKind.STALL, "ContractAuthenticationRes"), "V2G_EVCC_Ongoing_Timeout", 60.0,
     first_received("ContractAuthenticationReq")),
    (Fault(FaultKind.STALL, "ChargeParameterDiscoveryRes"), "V2G_EVCC_Ongoing_Timeout", 60.0,
     first_received("ChargeParameterDiscoveryReq")),
    (Fault(FaultKind.STALL, "CableCheckRes"), "V2G_EVCC_CableCheck_Timeout", 40.0, first_sent("CableCheckReq")),
]


@pytest.mark.parametrize(("fault", "timer", "limit", "started"), SEQUENCE_ROWS,
                         ids=[f"{row[1]}-{row[0].target}" for row in SEQUENCE_ROWS])
def test_sequence_timers(fault: Fault, timer: str, limit: float,
                         started: Callable[[list[SessionEvent]], float]) -> None:
    assert getattr(DIN_70121, timer) == limit
    assert_fires_exactly(din_run(fault, DinSeccConfig(response_time=0.5)), timer, limit, started)


def test_precharge_timeout() -> None:
    assert DIN_70121.V2G_EVCC_PreCharge_Timeout == 7.0
    make = din_run(None, DinSeccConfig(precharge_step=0.0, response_time=0.1))
    assert_fires_exactly(make, "V2G_EVCC_PreCharge_Timeout", 7.0, first_sent("PreChargeReq"))


def test_communication_setup_timeout_from_link_up() -> None:
    assert DIN_70121.V2G_EVCC_CommunicationSetup_Timeout == 20.0
    link_up = T0 - 19.0
    make = din_run(Fault(FaultKind.DELAY, "SessionSetupRes", delay=1.5), setup_deadline=link_up + 20.0)
    assert_fires_exactly(make, "V2G_EVCC_CommunicationSetup_Timeout", 20.0, lambda events: link_up)


def test_ready_to_charge_timeout() -> None:
    """V2G_EVCC_ReadyToCharge_Timeout (150 s) runs from ChargeParameterDiscoveryRes (Finished) to
    PowerDeliveryRes (ReadyToChargeState=true). Within the standard's own CableCheck (40 s) and PreCharge (7 s)
    bounds it cannot expire first, so this row lifts the CableCheck bound to show the 150 s value itself."""
    assert DIN_70121.V2G_EVCC_ReadyToCharge_Timeout == 150.0
    timers = dataclasses.replace(DIN_70121, V2G_EVCC_CableCheck_Timeout=1000.0)
    make = din_run(Fault(FaultKind.STALL, "CableCheckRes"), DinSeccConfig(response_time=1.0), timers=timers)

    def started(events: list[SessionEvent]) -> float:
        return exchanges(events, "ChargeParameterDiscoveryReq")[-1].received_at

    assert_fires_exactly(make, "V2G_EVCC_ReadyToCharge_Timeout", 150.0, started)
