"""The parts of one bench run that both links share (compose.py on sockets, memory_link.py in process): the
vehicle with its observers (progress line, scripted steps, D-Bus state), the EV's SupportedAppProtocol offers
and machine factories (ISO 15118-2 §8.2.1), the SECC's options (faults, Plug & Charge, paused sessions), and
what a finished session adds to the report (Plug & Charge: the eMAID used, installed in this run or not)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from evcc.bench.display import Display
from evcc.bench.pnc import BenchPnc
from evcc.bench.report import BenchReport, PncResult
from evcc.bench.scenario import PROTOCOLS, EvOptions, Scenario, SeccOptions, title
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.steps import StepDriver
from evcc.bench.vehicle_sim import ScaledVehicle, VehicleSnapshot, make_vehicle
from evcc.session.machine import EvccMachine
from evcc.session.sap import Negotiated, ProtocolOffer

StatePublisher = Callable[[str, VehicleSnapshot], None]  # (machine phase, snapshot) -> D-Bus


@dataclass
class RunParts:
    sc: Scenario
    display: Display
    report: BenchReport
    pnc: BenchPnc | None = None
    publish: StatePublisher | None = None
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
        self.secc = SeccOptions(sc.faults, self.pnc.secc_pnc if self.pnc is not None else None)
        self.report.auth, self.report.current = sc.auth, sc.current
        if self.pnc is not None:
            self.report.pnc = PncResult(keystore=self.pnc.keystore_kind)

    def phase(self) -> str:
        value = getattr(getattr(self.machine, "state", None), "value", None)
        key = self.report.protocol or self.sc.protocol
        return f"{key}: {value}" if isinstance(value, str) else ""

    def _publish(self, snap: VehicleSnapshot) -> None:
        assert self.publish is not None
        self.publish(self.phase(), snap)

    def preinstall(self) -> None:
        """Scenario ``install_contract = false``: a contract is there before the first session."""
        if self.pnc is not None and not self.sc.install_contract and self.pnc.contract() is None:
            contract = self.pnc.install_before()
            assert self.report.pnc is not None
            self.report.pnc.preinstalled, self.report.pnc.emaid = True, contract.emaid
            self.display.note(f"PnC: contract {contract.emaid} installed before the session")

    def offers(self) -> list[ProtocolOffer]:
        return [PROTOCOLS[key].offer_at(i) for i, key in enumerate(self.sc.offered, start=1)]

    def supported(self) -> list[SupportedProtocol]:
        return [PROTOCOLS[key].supported for key in self.sc.supported]

    def make_machine(self, key: str, evcc_id: bytes, resume: bytes | None = None) -> EvccMachine:
        contracts = self.pnc.contracts if self.pnc is not None and key == "iso2" else None
        options = EvOptions(evcc_id, contracts, self.sc.current if key == "iso2" else "dc", resume)
        self.vehicle.new_session()
        self.machine = PROTOCOLS[key].make_machine(options, self.vehicle)
        self.steps.machine = self.machine
        return self.machine

    def factories(self, evcc_id: bytes, resume: bytes | None = None) -> dict[str, Callable[[Negotiated], EvccMachine]]:
        def factory(key: str) -> Callable[[Negotiated], EvccMachine]:
            return lambda _negotiated: self.make_machine(key, evcc_id, resume)

        return {key: factory(key) for key in self.sc.offered}

    def describe(self, key: str) -> str:
        return title(key, self.sc)

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
        result.authorized = "AuthorizationReq" in requests
        contract = self.pnc.contract()
        if contract is not None:
            result.emaid = contract.emaid

    def finish(self, origin: float) -> None:
        self.report.end_soc = self.vehicle.battery.soc
        self.report.delivered_wh = self.vehicle.battery.delivered_wh
        self.report.take_series(self.vehicle.samples, origin)
