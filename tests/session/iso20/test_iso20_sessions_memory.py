"""Complete ISO 15118-20 sessions of the EVCC machine against the bench's -20 SECC simulator
(evcc.bench.secc.iso20_responder, which checks the EV like a charger: sequence, SessionID, service and parameter
set, control mode, charge parameters, schedule and power profile), in memory, every payload with its V2GTP
payload type: AC, DC, AC_BPT, DC_BPT in Scheduled and Dynamic control, each with EIM and with Plug & Charge (keys in
SoftHSM2); Plug & Charge with two contracts where the charger rejects the first, and with CertificateInstallation then
MeteringConfirmation; BPT discharging when the grid asks; pause and resume on the same charger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evcc.bench.secc.iso20_pnc import Iso20PncSim
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig
from evcc.pki.generator import TestPki
from evcc.session.events import EndKind
from evcc.session.iso20 import Iso20Evcc, State
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from tests.session.iso20.helpers import COMBINATIONS, car, machine, run_typed
from tests.session.iso20.test_iso20_pnc import FIRST, NOW, SECOND, _install, _port
from tests.session.iso20.test_iso20_pnc import pki as pki  # noqa: F401  (module fixture)


def _secc(service: str, **kw: object) -> Iso20Secc:
    return Iso20Secc(kind="DC" if service.startswith("DC") else "AC", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("service", "mode"), COMBINATIONS)
def test_eim_session_against_the_simulator(service: str, mode: str) -> None:
    vehicle = car()
    secc = _secc(service)
    result = run_typed(machine(vehicle, service=service, control_mode=mode), secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    r = secc.record
    assert not r.errors and (r.selected_service, r.control_mode) == (service, mode)
    assert r.authorization_service == "EIM" and r.charging_session == "Terminate"
    assert vehicle.soc >= 80.0 and r.energy_delivered_wh > 0


@pytest.mark.parametrize(("service", "mode"), [("DC_BPT", "Dynamic"), ("AC_BPT", "Dynamic")])
def test_bpt_gives_energy_back_when_the_grid_asks(service: str, mode: str) -> None:
    """The grid asks for -10 kW: the vehicle discharges within its limits until the EVSE ends the session."""
    vehicle = car(soc=60.0, target=80.0)
    config = Iso20SeccConfig(dynamic_power=-10_000.0, stop_after_loop=40)
    secc = _secc(service, config=config)
    result = run_typed(machine(vehicle, service=service, control_mode=mode), secc)
    assert result.ended.kind is EndKind.STOPPED and "Terminate" in result.ended.reason
    assert vehicle.discharged_wh > 0 and vehicle.soc < 60.0
    assert secc.record.energy_returned_wh > 0 and secc.record.min_power_w < 0


@pytest.mark.parametrize(("service", "mode"), COMBINATIONS)
def test_pnc_session_against_the_simulator(service: str, mode: str, tmp_path: Path, token: Pkcs11KeyStore,
                                           pki: TestPki) -> None:  # noqa: F811
    """Every service and control mode with Plug & Charge: the contract installed before the session signs
    PnC_AReqAuthorizationMode (the simulator checks chain and signature) and the session completes."""
    port, provisioning = _install_one(tmp_path, token, pki)
    vehicle = car()
    secc = _secc(service, pnc=Iso20PncSim(provisioning, NOW))
    result = run_typed(machine(vehicle, service=service, control_mode=mode, authorization="PnC", contracts=port), secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    r = secc.record
    assert not r.errors and (r.selected_service, r.control_mode) == (service, mode)
    assert r.authorization_service == "PnC" and r.emaids_authorized == [FIRST]
    assert "CertificateInstallationReq" not in r.received and r.charging_session == "Terminate"
    assert vehicle.soc >= 80.0 and r.energy_delivered_wh > 0


def _install_one(tmp_path: Path, token: Pkcs11KeyStore, pki: TestPki) -> tuple[Any, Any]:  # noqa: F811
    port, provisioning = _port(tmp_path, token, pki)
    _install(port, provisioning, FIRST, priority=10)
    return port, provisioning


def test_pnc_second_contract_after_the_charger_rejects_the_first(tmp_path: Path, token: Pkcs11KeyStore,
                                                                  pki: TestPki) -> None:  # noqa: F811
    port, service = _port(tmp_path, token, pki)
    _install(port, service, FIRST, priority=10)
    _install(port, service, SECOND, priority=5)
    secc = _secc("DC", pnc=Iso20PncSim(service, NOW, reject_contracts=1))
    ev = machine(service="DC_BPT", control_mode="Scheduled", authorization="PnC", contracts=port)
    result = run_typed(ev, secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert secc.record.emaids_rejected == [FIRST] and secc.record.emaids_authorized == [SECOND]
    assert secc.record.authorization_service == "PnC" and not secc.record.errors
    assert ev.refused_contracts == [f"{FIRST} (WARNING_eMSPUnknown)"]


def test_pnc_installation_then_metering_confirmation(tmp_path: Path, token: Pkcs11KeyStore,
                                                     pki: TestPki) -> None:  # noqa: F811
    port, service = _port(tmp_path, token, pki)
    config = Iso20SeccConfig(metering_confirmation_at=frozenset({3}))
    secc = _secc("AC", config=config, pnc=Iso20PncSim(service, NOW))
    ev = machine(service="AC", control_mode="Dynamic", authorization="PnC", contracts=port)
    result = run_typed(ev, secc)
    assert result.ended.kind is EndKind.COMPLETED, result.ended
    assert "CertificateInstallationReq" in secc.record.received and ev.installed == 1
    assert secc.record.metering_confirmations == 1 and ev.confirmations == 1
    assert [c.emaid for c in port.contracts()] == secc.record.emaids_authorized


def test_pause_then_resume_on_the_same_charger() -> None:
    paused: set[bytes] = set()
    secc = _secc("DC", paused=paused)
    ev = machine(car(soc=70.0, target=80.0), service="DC")
    ev_run = run_typed_until_loop(ev, secc)
    assert ev_run.paused and secc.record.charging_session == "Pause" and ev.session_id in paused
    again = machine(car(soc=72.0, target=80.0), resume_session_id=ev.session_id, service="DC")
    second = _secc("DC", paused=paused)
    result = run_typed(again, second)
    assert result.ended.kind is EndKind.COMPLETED and again.resumed and second.record.joined_old_session


def run_typed_until_loop(ev: Iso20Evcc, secc: Iso20Secc) -> Iso20Evcc:
    """Pause from the vehicle once the charge loop runs (the EV's stop(pause=True))."""
    original = ev.receive_message

    def receive(name: str, res: object, now: float) -> None:
        if ev.state is State.WAIT_DC_CHARGE_LOOP_RES and ev.loop_count >= 3:
            ev.stop(now, "driver pressed pause", pause=True)
        original(name, res, now)

    ev.receive_message = receive  # type: ignore[method-assign]
    result = run_typed(ev, secc)
    assert result.ended.kind is EndKind.STOPPED and "paused" in result.ended.reason
    return ev
