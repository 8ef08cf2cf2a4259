"""The parts of one bench run that both links share (compose.py on sockets, memory_link.py in process): the
vehicle with its observers (progress line, scripted steps, D-Bus state), the EV's SupportedAppProtocol offers
and machine factories (ISO 15118-2 §8.2.1; machines keyed by the negotiated SAP key, ISO 15118-20 BPT sharing
its AC/DC namespace), the SECC's options (Plug & Charge, paused sessions, -20 charger settings) and its fault
(the shared layer), and what a finished session adds to the report (Plug & Charge: the eMAID used, installed in
this run or not)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from evcc.bench.display import Display
from evcc.bench.pnc import BenchPnc
from evcc.bench.pnc20 import BenchPnc20
from evcc.bench.protocols import plan_for
from evcc.bench.report import BenchReport, PncResult
from evcc.bench.scenario import PROTOCOLS, EvOptions, Scenario, SeccOptions, title
from evcc.bench.secc.faults import Fault
from evcc.bench.secc.iso20_responder import Iso20SeccConfig
from evcc.session.limits import Allowance
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.steps import StepDriver
from evcc.bench.vehicle_sim import ScaledVehicle, VehicleSnapshot, make_vehicle
from evcc.session.machine import EvccMachine
from evcc.session.sap import Negotiated, ProtocolOffer

StatePublisher = Callable[[str, VehicleSnapshot, str], None]  # (machine phase, snapshot, limit) -> D-Bus


@dataclass
class RunParts:
    sc: Scenario
    display: Display
    report: BenchReport
    pnc: BenchPnc | BenchPnc20 | None = None
    publish: StatePublisher | None = None
    unix_time_offset: float = 0.0  # Unix time of the link's clock zero (ISO 15118-20 Header TimeStamp)
    machine: EvccMachine | None = None
    vehicle: ScaledVehicle = field(init=False)
    steps: StepDriver = field(init=False)
    secc: SeccOptions = field(init=False)

    def __post_init__(self) -> None:
        sc = self.sc
        self.vehicle = make_vehicle(sc.start_soc, sc.target_soc, sc.capacity_kwh, sc.time_scale,
                                    self.display.progress, sc.max_current, sc.max_power_kw)
        self.steps = StepDriver(sc.steps)
        self.vehicle.observers.append(self.steps.observe)
        if self.publish is not None:
            self.vehicle.observers.append(self._publish)
        self.display.phase = self.phase
        self.secc = SeccOptions(self._secc_pnc(), iso20=self._iso20_charger(), stop_after_loop=sc.stop_after_loop,
                                limits=sc.charger_limits, violations=self.report.limit_violations)
        self.report.auth, self.report.current = sc.auth, sc.current
        if self.pnc is not None and sc.auth == "pnc":
            self.report.pnc = PncResult(keystore=self.pnc.keystore_kind)
        self.report.fault = sc.fault.describe() if sc.fault is not None else None
        if PROTOCOLS[sc.protocol].iso20:
            self.report.service = PROTOCOLS[sc.protocol].title.removeprefix("ISO 15118-20 ")
            self.report.control = sc.control_mode

    @property
    def fault(self) -> Fault | None:
        return self.sc.fault

    def _secc_pnc(self) -> Callable[[], object] | None:
        pnc = self.pnc if self.sc.auth == "pnc" else None
        if isinstance(pnc, BenchPnc20):
            return lambda: pnc.secc_pnc(self.sc.reject_contracts)
        return pnc.secc_pnc if pnc is not None else None

    def _iso20_charger(self) -> Iso20SeccConfig:
        power = self.sc.dynamic_power_kw
        return Iso20SeccConfig(dynamic_power=None if power is None else power * 1000.0)

    def phase(self) -> str:
        value = getattr(getattr(self.machine, "state", None), "value", None)
        key = self.report.protocol or self.sc.protocol
        return f"{key}: {value}" if isinstance(value, str) else ""

    def _publish(self, snap: VehicleSnapshot) -> None:
        assert self.publish is not None
        self.publish(self.phase(), snap, self.limit())

    def limit(self) -> str:
        """What the EV may ask for now and what set it (evcc.session.limits), "" before the charge loop."""
        tracker = getattr(self.machine, "limits", None)
        current = getattr(tracker, "current", None)
        return current.describe() if isinstance(current, Allowance) else ""

    def preinstall(self) -> None:
        """Scenario ``install_contract = false``: a contract is there before the first session."""
        if self.pnc is None or self.sc.auth != "pnc" or self.sc.install_contract or self.pnc.contract() is not None:
            return
        made = self.pnc.install_before(self.sc.contracts) if isinstance(self.pnc, BenchPnc20) else [
            self.pnc.install_before()]
        assert self.report.pnc is not None
        self.report.pnc.preinstalled, self.report.pnc.emaid = True, made[0].emaid
        for contract in made:
            self.display.note(f"PnC: contract {contract.emaid} installed before the session")

    def offers(self) -> list[ProtocolOffer]:
        return [PROTOCOLS[key].offer_at(i) for i, key in enumerate(self.sc.offered, start=1)]

    def supported(self) -> list[SupportedProtocol]:
        """One entry per SAP key (DC and DC_BPT share the -20 DC namespace)."""
        entries = {PROTOCOLS[key].sap_key: PROTOCOLS[key].supported for key in self.sc.supported}
        return list(entries.values())

    def responders(self) -> dict[str, Callable[[], SeccResponder]]:
        """SECC responder factories by SAP key (the server's ``responders``)."""
        out: dict[str, Callable[[], SeccResponder]] = {}
        for key in self.sc.supported:
            out.setdefault(PROTOCOLS[key].sap_key, functools.partial(PROTOCOLS[key].make_responder, self.secc))
        return out

    def make_machine(self, sap_key: str, evcc_id: bytes, resume: bytes | None = None) -> EvccMachine:
        """The EV machine for the negotiated ``sap_key`` (the offered protocol that negotiates it)."""
        plan = plan_for(sap_key, self.sc.offered)
        pnc = self.pnc if self.sc.auth == "pnc" else None
        options = EvOptions(
            evcc_id, pnc.contracts if isinstance(pnc, BenchPnc) and plan.key == "iso2" else None,
            self.sc.current if plan.key == "iso2" else "dc", resume, self.sc.control_mode,  # type: ignore[arg-type]
            pnc.contracts if isinstance(pnc, BenchPnc20) and plan.iso20 else None, self.unix_time_offset,
            self.sc.loop_min_cycle)
        self.vehicle.new_session()
        self.machine = plan.make_machine(options, self.vehicle)
        self.steps.machine = self.machine
        return self.machine

    def factories(self, evcc_id: bytes, resume: bytes | None = None) -> dict[str, Callable[[Negotiated], EvccMachine]]:
        def factory(sap_key: str) -> Callable[[Negotiated], EvccMachine]:
            return lambda _negotiated: self.make_machine(sap_key, evcc_id, resume)

        return {PROTOCOLS[key].sap_key: factory(PROTOCOLS[key].sap_key) for key in self.sc.offered}

    def describe(self, sap_key: str) -> str:
        return title(plan_for(sap_key, self.sc.offered).key, self.sc)

    def paused_session(self) -> bytes | None:
        """The SessionID to resume with when the machine paused (ISO 15118-2 [V2G2-741])."""
        if getattr(self.machine, "paused", False):
            session_id = getattr(self.machine, "session_id", None)
            return session_id if isinstance(session_id, bytes) else None
        return None

    def session_done(self) -> None:
        """Plug & Charge facts of the session just ended, into the report."""
        self.report.steps_done = list(self.steps.done)
        if self.pnc is None or self.report.pnc is None:
            return
        requests = [m["request"] for m in self.report.messages]
        result = self.report.pnc
        result.installed = result.installed or "CertificateInstallationReq" in requests
        result.authorized = "AuthorizationReq" in requests and self.sc.auth == "pnc"
        used = getattr(self.machine, "contract", None)  # -20: the contract the charger authorised
        contract = used if used is not None else self.pnc.contract()
        if contract is not None:
            result.emaid = contract.emaid
        refused = getattr(self.machine, "refused_contracts", None)
        if refused:
            result.refused = list(refused)

    def finish(self, origin: float) -> None:
        self.report.end_soc = self.vehicle.battery.soc
        self.report.delivered_wh = self.vehicle.battery.delivered_wh
        self.report.discharged_wh = self.vehicle.battery.discharged_wh
        self.report.take_series(self.vehicle.samples, origin)
