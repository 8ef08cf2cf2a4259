"""Every timer the ISO 15118-2 EVCC arms fires exactly at its ISO 15118-2 value (Table 109: V2G_EVCC_Msg_Timeout
per request, V2G_EVCC_Ongoing_Timeout; Table 111: V2G_EVCC_CommunicationSetup_Timeout, V2G_EVCC_CableCheck_Timeout,
V2G_EVCC_PreCharge_Timeout): on an injected clock, the machine is still running at value - 1 us and ends at the
value, naming the timer. The EV machine runs against the SECC simulator; a fault makes the SECC late or stuck.

Each row: how to break the SECC, the timer, the standard's value, and when the timer started (from the
Exchange events). Plug & Charge requests run with the keys in a SoftHSM2 token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evcc import exi
from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.faults import Fault, FaultKind
from evcc.bench.secc.hostile import FaultySecc
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.memory import SeccResponder, run_in_memory
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import Suite
from evcc.session.battery_model import BatteryModel
from evcc.session.events import EndKind, Exchange, SessionEvent
from evcc.session.iso2 import AcBatteryModel, Iso2Config, Iso2Evcc
from evcc.session.iso2.pnc import KeyStoreContracts
from evcc.session.machine import EvccMachine
from evcc.session.timeouts import ISO_15118_2
from tests.contracts.contracts_helpers import make_context, oem_key_in_store

MAC = bytes.fromhex("0242ac110002")
T0 = 1000.0  # link up / SessionSetupReq
EPS = 1e-6
NOW = datetime.now(timezone.utc).replace(microsecond=0)


@dataclass
class Run:
    ev: EvccMachine
    secc: SeccResponder
    now: float = T0
    events: list[SessionEvent] = field(default_factory=list)


def step_until(r: Run, until: float) -> Run:
    """The in-memory pairing (evcc.bench.secc.memory) on the injected clock, up to ``until`` (where the machine's
    timers are polled once more) or the EV's end."""
    while r.ev.ended is None:
        for msg in r.ev.messages_to_send():
            r.secc.receive_payload(exi.encode(msg), r.now)
        r.events += r.ev.events()
        due = [t for t in (r.ev.get_timer(), r.secc.get_timer()) if t is not None]
        if not due or min(due) > until:
            if until != float("inf"):  # the clock reaches ``until``: the machine is polled then too
                r.now = until
                r.ev.handle_timer(until)
            break
        r.now = max(r.now, min(due))
        for msg in r.secc.messages_to_send(r.now):
            r.ev.receive_payload(exi.encode(msg), r.now)
        r.ev.handle_timer(r.now)
    r.events += r.ev.events()
    return r


def exchanges(events: list[SessionEvent], request: str | None = None) -> list[Exchange]:
    return [e for e in events if isinstance(e, Exchange) and request in (None, e.request)]


def last_answer(events: list[SessionEvent]) -> float:
    """When the unanswered request left: right when the previous answer arrived (T0 for the first)."""
    done = exchanges(events)
    return done[-1].received_at if done else T0


def first_received(request: str) -> Callable[[list[SessionEvent]], float]:
    return lambda events: exchanges(events, request)[0].received_at


def first_sent(request: str) -> Callable[[list[SessionEvent]], float]:
    return lambda events: exchanges(events, request)[0].sent_at


def assert_fires_exactly(make: Callable[[], Run], timer: str, limit: float,
                         started: Callable[[list[SessionEvent]], float]) -> None:
    whole = step_until(make(), float("inf"))
    assert whole.ev.ended is not None and whole.ev.ended.kind is EndKind.TIMEOUT, whole.ev.ended
    assert whole.ev.ended.timer == timer, whole.ev.ended
    deadline = started(whole.events) + limit
    assert whole.now == deadline and f"{timer} ({limit} s) expired" in whole.ev.ended.reason
    again = step_until(make(), deadline - EPS)
    assert again.ev.ended is None, f"{timer} fired before {limit} s: {again.ev.ended}"
    assert step_until(again, deadline).ev.ended == whole.ev.ended


def with_fault(secc: SeccResponder, fault: Fault | None) -> SeccResponder:
    """``secc`` broken by ``fault`` (the shared layer, evcc.bench.secc.hostile); None: as it is."""
    return secc if fault is None else FaultySecc(secc, fault)


def iso2_run(fault: Fault | None, mode: str = "DC_extended", secc_config: Iso2SeccConfig | None = None,
             setup_deadline: float | None = None, **config: Any) -> Callable[[], Run]:
    def make() -> Run:
        car = (AcBatteryModel if mode.startswith("AC") else BatteryModel)(capacity_wh=40.0, soc=70.0, target_soc=80.0)
        ev = Iso2Evcc(Iso2Config(evcc_id=MAC, energy_transfer_mode=mode, **config), car)  # type: ignore[arg-type]
        secc = Iso2Secc(config=secc_config or Iso2SeccConfig())
        ev.start(T0, setup_deadline)
        return Run(ev, with_fault(secc, fault))
    return make


MSG_TIMEOUT_ROWS = [  # (request, ISO 15118-2 Table 109 value, energy transfer mode)
    ("SessionSetupReq", 2.0, "DC_extended"), ("ServiceDiscoveryReq", 2.0, "DC_extended"),
    ("ServiceDetailReq", 5.0, "DC_extended"), ("PaymentServiceSelectionReq", 2.0, "DC_extended"),
    ("AuthorizationReq", 2.0, "DC_extended"), ("ChargeParameterDiscoveryReq", 2.0, "DC_extended"),
    ("CableCheckReq", 2.0, "DC_extended"), ("PreChargeReq", 2.0, "DC_extended"),
    ("PowerDeliveryReq", 5.0, "DC_extended"), ("CurrentDemandReq", 0.25, "DC_extended"),
    ("WeldingDetectionReq", 2.0, "DC_extended"), ("SessionStopReq", 2.0, "DC_extended"),
    ("ChargingStatusReq", 2.0, "AC_three_phase_core"), ("PowerDeliveryReq", 5.0, "AC_single_phase_core"),
]


@pytest.mark.parametrize(("request_name", "limit", "mode"), MSG_TIMEOUT_ROWS)
def test_v2g_evcc_msg_timeout_per_request(request_name: str, limit: float, mode: str) -> None:
    assert ISO_15118_2.msg_timeout(request_name) == limit
    response = request_name.replace("Req", "Res")
    make = iso2_run(Fault(FaultKind.SILENCE, response), mode, Iso2SeccConfig(value_added_services=(3,)),
                    service_detail_ids=(3,))
    assert_fires_exactly(make, "V2G_EVCC_Msg_Timeout", limit, last_answer)


SEQUENCE_ROWS = [  # (fault, timer, ISO 15118-2 value, when it starts)
    (Fault(FaultKind.STALL, "AuthorizationRes"), "V2G_EVCC_Ongoing_Timeout", 60.0, first_received("AuthorizationReq")),
    (Fault(FaultKind.STALL, "ChargeParameterDiscoveryRes"), "V2G_EVCC_Ongoing_Timeout", 60.0,
     first_received("ChargeParameterDiscoveryReq")),
    (Fault(FaultKind.STALL, "CableCheckRes"), "V2G_EVCC_CableCheck_Timeout", 40.0, first_sent("CableCheckReq")),
]


@pytest.mark.parametrize(("fault", "timer", "limit", "started"), SEQUENCE_ROWS,
                         ids=[f"{row[1]}-{row[0].target}" for row in SEQUENCE_ROWS])
def test_sequence_timers(fault: Fault, timer: str, limit: float,
                         started: Callable[[list[SessionEvent]], float]) -> None:
    assert getattr(ISO_15118_2, timer) == limit
    assert_fires_exactly(iso2_run(fault, secc_config=Iso2SeccConfig(response_time=0.5)), timer, limit, started)


def test_precharge_timeout() -> None:
    assert ISO_15118_2.V2G_EVCC_PreCharge_Timeout == 7.0
    make = iso2_run(None, secc_config=Iso2SeccConfig(precharge_step=0.0, response_time=0.1))
    assert_fires_exactly(make, "V2G_EVCC_PreCharge_Timeout", 7.0, first_sent("PreChargeReq"))


def test_communication_setup_timeout_from_link_up() -> None:
    """Link up at T0 - 19 s (SDP, TLS took long); SessionSetupRes late: 20 s after link up the session ends."""
    assert ISO_15118_2.V2G_EVCC_CommunicationSetup_Timeout == 20.0
    link_up = T0 - 19.0
    make = iso2_run(Fault(FaultKind.DELAY, "SessionSetupRes", delay=1.5), setup_deadline=link_up + 20.0)
    assert_fires_exactly(make, "V2G_EVCC_CommunicationSetup_Timeout", 20.0, lambda events: link_up)


# ------------------------------------------------------------ Plug & Charge requests (keys in SoftHSM2)
@pytest.fixture(scope="module")
def pki() -> TestPki:
    return build_pki(Suite.ISO2, NOW)


def pnc_secc(pki: TestPki, validity: timedelta = timedelta(days=365)) -> Iso2Secc:
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki, contract_validity=validity)), NOW)
    config = Iso2SeccConfig(certificate_service=("Installation", "Update"))
    return Iso2Secc(config=config, pnc=sim)


def pnc_ev(contracts: KeyStoreContracts) -> Iso2Evcc:
    car = BatteryModel(capacity_wh=40.0, soc=70.0, target_soc=80.0)
    return Iso2Evcc(Iso2Config(evcc_id=MAC, payment="Contract", contracts=contracts), car)


PNC_ROWS = [  # (request, Table 109 value, validity of a contract installed before; None: no contract)
    ("CertificateInstallationReq", 5.0, None), ("PaymentDetailsReq", 5.0, timedelta(days=365)),
    ("MeteringReceiptReq", 2.0, timedelta(days=365)), ("CertificateUpdateReq", 5.0, timedelta(days=10)),
]


def test_every_request_of_table_109_has_a_row() -> None:
    covered = {row[0] for row in MSG_TIMEOUT_ROWS} | {row[0] for row in PNC_ROWS}
    # supportedAppProtocolReq: tests/session/test_sap.py
    assert covered == set(ISO_15118_2.V2G_EVCC_Msg_Timeout) - {"SupportedAppProtocolReq"}


@pytest.mark.parametrize(("request_name", "limit", "installed"), PNC_ROWS)
def test_v2g_evcc_msg_timeout_of_plug_and_charge_requests(
        request_name: str, limit: float, installed: timedelta | None, tmp_path: Path, token: Pkcs11KeyStore,
        pki: TestPki) -> None:
    assert ISO_15118_2.msg_timeout(request_name) == limit
    label, cert = oem_key_in_store(pki, token, KeyAlgorithm.EC_P256)
    contracts = KeyStoreContracts(make_context(tmp_path, token, pki, NOW), oem_key_label=label, oem_cert=cert)
    if installed is not None:  # a first session installs a contract valid for ``installed``
        first = run_in_memory(pnc_ev(contracts), pnc_secc(pki, installed), T0 - 1000.0)
        assert first.ended.kind is EndKind.COMPLETED, first.ended
    silence = Fault(FaultKind.SILENCE, request_name.replace("Req", "Res"))

    def make() -> Run:
        ev = pnc_ev(contracts)
        ev.start(T0)
        return Run(ev, FaultySecc(pnc_secc(pki), silence))

    assert_fires_exactly(make, "V2G_EVCC_Msg_Timeout", limit, last_answer)
