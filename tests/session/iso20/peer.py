"""A small hand-built ISO 15118-20 SECC for the machine tests (DC, AC and the BPT variants, Scheduled and Dynamic,
EIM and Plug & Charge through the real provisioning service): it answers every request of the EV's sequence with
a schema-valid response through the EXI codec, on the injected clock. Not the bench simulator
(evcc.bench.secc.iso20_responder): that one checks the EV like a charger; this one lets a test shape each answer
(``override``) and records what the EV sent (``received``, ``requests``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime
from typing import Any

from evcc import exi
from evcc.session.iso20.values import ac, common, dc, number, rational

TIME_BASE = 1_700_000_000


@dataclass
class MiniSecc:
    kind: str = "DC"  # DC or AC
    services: tuple[int, ...] = (1, 2, 5, 6)
    authorization_services: tuple[str, ...] = ("EIM", "PnC")
    refuse_emaids: frozenset[str] = frozenset()  # PnC: AuthorizationRes WARNING_eMSPUnknown for these
    provisioning: Any = None  # evcc.contracts.provisioning_service.ProvisioningService for CertificateInstallation
    install_now: datetime | None = None
    schedule_power: float = 50_000.0  # W of the one PowerScheduleEntry (< 0 discharges)
    schedule_entries: tuple[tuple[int, float], ...] | None = None  # (duration, W) instead of schedule_power
    power_tolerance: float | None = None  # W; PowerTolerance of the PowerSchedule (Scheduled mode)
    dynamic_power: float = 50_000.0  # W the EVSE sets in Dynamic mode (< 0 discharges)
    ongoing: int = 1  # Ongoing answers before Finished (Authorization, ScheduleExchange, DC_CableCheck)
    metering_at: frozenset[int] = frozenset()  # charge-loop numbers answered with MeteringConfirmation
    response_time: float = 0.01
    clock_offset: int = 0  # s the charger's clock runs ahead of TIME_BASE + now (Header TimeStamp, TimeAnchor)
    session_id: bytes = field(default_factory=lambda: secrets.token_bytes(8))
    override: dict[str, Callable[[Any], None]] = field(default_factory=dict)  # response name -> edit
    received: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    authorized_emaids: list[str] = field(default_factory=list)
    voltage: float = 0.0
    loops: int = 0
    _rounds: dict[str, int] = field(default_factory=dict)
    _queue: list[tuple[float, Any]] = field(default_factory=list)

    def receive_payload(self, data: bytes, now: float, payload_type: int | None = None) -> None:
        energy = "iso20-dc" if self.kind == "DC" else "iso20-ac"
        for grammar in ("iso20-common", energy):
            try:
                named = exi.decode_named(grammar, data)
            except exi.ExiError:
                continue
            if exi.encode(named.value, named.name).rstrip(b"\0") == data.rstrip(b"\0"):
                break
        else:
            raise AssertionError("the EV sent bytes that are no -20 message")
        self.received.append(named.name)
        self.requests.append(named.value)
        res = getattr(self, "_" + named.name)(named.value, now)
        name = named.name[:-3] + "Res"
        if name in self.override:
            self.override[name](res)
        self._queue.append((now + self.response_time, res))

    def messages_to_send(self, now: float) -> list[Any]:
        due = [m for t, m in self._queue if t <= now]
        self._queue = [(t, m) for t, m in self._queue if t > now]
        return due

    def get_timer(self) -> float | None:
        return min((t for t, _ in self._queue), default=None)

    # ------------------------------------------------------------------------------------------- helpers
    def _h(self, m: Any, now: float) -> Any:
        return m.MessageHeaderType(SessionID=self.session_id, TimeStamp=self.unix_time(now))

    def unix_time(self, now: float) -> int:
        """The charger's clock: TIME_BASE + now, ``clock_offset`` ahead (negative: behind)."""
        return TIME_BASE + self.clock_offset + int(now)

    def _round(self, name: str) -> str:
        n = self._rounds.get(name, 0)
        self._rounds[name] = n + 1
        return "Ongoing" if n < self.ongoing else "Finished"

    # ------------------------------------------------------------------------------------------- common
    def _SessionSetupReq(self, req: Any, now: float) -> Any:
        c = common()
        joined = req.Header.SessionID == self.session_id
        return c.SessionSetupResType(Header=self._h(c, now), EVSEID="DE*EVC*E1",
                                     ResponseCode="OK_OldSessionJoined" if joined else "OK_NewSessionEstablished")

    def _AuthorizationSetupReq(self, req: Any, now: float) -> Any:
        c = common()
        pnc = c.PnC_ASResAuthorizationModeType(GenChallenge=secrets.token_bytes(16)) \
            if "PnC" in self.authorization_services else None
        return c.AuthorizationSetupResType(Header=self._h(c, now), ResponseCode="OK",
                                           AuthorizationServices=list(self.authorization_services),
                                           CertificateInstallationService=self.provisioning is not None,
                                           PnC_ASResAuthorizationMode=pnc,
                                           EIM_ASResAuthorizationMode=None if pnc else c.EIM_ASResAuthorizationModeType())

    def _CertificateInstallationReq(self, req: Any, now: float) -> Any:
        assert self.provisioning is not None and self.install_now is not None
        res = self.provisioning.answer(req, self.install_now)
        res.Header.SessionID = self.session_id
        return res

    def _AuthorizationReq(self, req: Any, now: float) -> Any:
        c = common()
        code, processing = "OK", self._round("AuthorizationRes")
        if req.PnC_AReqAuthorizationMode is not None:
            from cryptography import x509

            from evcc.contracts.chain import common_name
            leaf = x509.load_der_x509_certificate(req.PnC_AReqAuthorizationMode.ContractCertificateChain.Certificate)
            emaid = common_name(leaf)
            if emaid in self.refuse_emaids:
                code, processing = "WARNING_eMSPUnknown", "Finished"
            elif processing == "Finished":
                self.authorized_emaids.append(emaid)
        return c.AuthorizationResType(Header=self._h(c, now), ResponseCode=code, EVSEProcessing=processing)

    def _ServiceDiscoveryReq(self, req: Any, now: float) -> Any:
        c = common()
        services = [c.ServiceType(ServiceID=i, FreeService=True) for i in self.services]
        return c.ServiceDiscoveryResType(Header=self._h(c, now), ResponseCode="OK", ServiceRenegotiationSupported=False,
                                         EnergyTransferServiceList=c.ServiceListType(Service=services))

    def _ServiceDetailReq(self, req: Any, now: float) -> Any:
        c = common()

        def pset(i: int, mode: int) -> Any:
            ps = [c.ParameterType(Name="Connector", intValue=2), c.ParameterType(Name="ControlMode", intValue=mode),
                  c.ParameterType(Name="MobilityNeedsMode", intValue=1), c.ParameterType(Name="Pricing", intValue=0)]
            if req.ServiceID in (5, 6):
                ps.append(c.ParameterType(Name="BPTChannel", intValue=1))
            return c.ParameterSetType(ParameterSetID=i, Parameter=ps)
        return c.ServiceDetailResType(Header=self._h(c, now), ResponseCode="OK", ServiceID=req.ServiceID,
                                      ServiceParameterList=c.ServiceParameterListType(
                                          ParameterSet=[pset(1, 1), pset(2, 2)]))

    def _ServiceSelectionReq(self, req: Any, now: float) -> Any:
        c = common()
        return c.ServiceSelectionResType(Header=self._h(c, now), ResponseCode="OK")

    def _ScheduleExchangeReq(self, req: Any, now: float) -> Any:
        c = common()
        processing = self._round("ScheduleExchangeRes")
        fields: dict[str, Any] = {}
        if req.Dynamic_SEReqControlMode is not None:
            fields["Dynamic_SEResControlMode"] = c.Dynamic_SEResControlModeType()
        else:
            entries = self.schedule_entries or ((86_400, self.schedule_power),)
            tolerance = None if self.power_tolerance is None else rational(c, self.power_tolerance)
            ps = c.PowerScheduleType(TimeAnchor=self.unix_time(now), PowerTolerance=tolerance,
                                     PowerScheduleEntries=c.PowerScheduleEntryListType(
                PowerScheduleEntry=[c.PowerScheduleEntryType(Duration=d, Power=rational(c, p)) for d, p in entries]))
            tup = c.ScheduleTupleType(ScheduleTupleID=1, ChargingSchedule=c.ChargingScheduleType(PowerSchedule=ps))
            fields["Scheduled_SEResControlMode"] = c.Scheduled_SEResControlModeType(ScheduleTuple=[tup])
        return c.ScheduleExchangeResType(Header=self._h(c, now), ResponseCode="OK", EVSEProcessing=processing, **fields)

    def _PowerDeliveryReq(self, req: Any, now: float) -> Any:
        c = common()
        return c.PowerDeliveryResType(Header=self._h(c, now), ResponseCode="OK")

    def _MeteringConfirmationReq(self, req: Any, now: float) -> Any:
        c = common()
        return c.MeteringConfirmationResType(Header=self._h(c, now), ResponseCode="OK")

    def _SessionStopReq(self, req: Any, now: float) -> Any:
        c = common()
        return c.SessionStopResType(Header=self._h(c, now), ResponseCode="OK")

    def _status(self, m: Any) -> Any:
        if self.loops in self.metering_at:
            return m.EVSEStatusType(NotificationMaxDelay=10, EVSENotification="MeteringConfirmation")
        return None

    def _meter(self, m: Any) -> Any:
        return m.MeterInfoType(MeterID="M1", ChargedEnergyReadingWh=1000 + self.loops)

    # ------------------------------------------------------------------------------------------- DC
    def _DC_ChargeParameterDiscoveryReq(self, req: Any, now: float) -> Any:
        d = dc()
        r = partial(rational, d)
        base = dict(EVSEMaximumChargePower=r(100_000), EVSEMinimumChargePower=r(0), EVSEMaximumChargeCurrent=r(200),
                    EVSEMinimumChargeCurrent=r(0), EVSEMaximumVoltage=r(500), EVSEMinimumVoltage=r(50))
        if req.BPT_DC_CPDReqEnergyTransferMode is not None:
            mode = d.BPT_DC_CPDResEnergyTransferModeType(**base, EVSEMaximumDischargePower=r(30_000),
                                                         EVSEMinimumDischargePower=r(0),
                                                         EVSEMaximumDischargeCurrent=r(100),
                                                         EVSEMinimumDischargeCurrent=r(0))
            return d.DC_ChargeParameterDiscoveryResType(Header=self._h(d, now), ResponseCode="OK",
                                                        BPT_DC_CPDResEnergyTransferMode=mode)
        return d.DC_ChargeParameterDiscoveryResType(Header=self._h(d, now), ResponseCode="OK",
                                                    DC_CPDResEnergyTransferMode=d.DC_CPDResEnergyTransferModeType(**base))

    def _DC_CableCheckReq(self, req: Any, now: float) -> Any:
        d = dc()
        return d.DC_CableCheckResType(Header=self._h(d, now), ResponseCode="OK",
                                      EVSEProcessing=self._round("DC_CableCheckRes"))

    def _DC_PreChargeReq(self, req: Any, now: float) -> Any:
        d = dc()
        target = number(req.EVTargetVoltage) or 0.0
        self.voltage = min(target, self.voltage + 150.0)
        return d.DC_PreChargeResType(Header=self._h(d, now), ResponseCode="OK",
                                     EVSEPresentVoltage=rational(d, self.voltage))

    def _DC_ChargeLoopReq(self, req: Any, now: float) -> Any:
        d = dc()
        self.loops += 1
        voltage = number(req.EVPresentVoltage) or 0.0
        scheduled = req.Scheduled_DC_CLReqControlMode or req.BPT_Scheduled_DC_CLReqControlMode
        current = number(scheduled.EVTargetCurrent) if scheduled is not None else self.dynamic_power / max(voltage, 1)
        r = partial(rational, d)
        dyn = dict(EVSEMaximumChargePower=r(100_000), EVSEMinimumChargePower=r(0), EVSEMaximumChargeCurrent=r(200),
                   EVSEMaximumVoltage=r(500))
        bpt = dict(EVSEMaximumDischargePower=r(30_000), EVSEMinimumDischargePower=r(0),
                   EVSEMaximumDischargeCurrent=r(100), EVSEMinimumVoltage=r(50))
        if req.Scheduled_DC_CLReqControlMode is not None:
            mode = {"Scheduled_DC_CLResControlMode": d.Scheduled_DC_CLResControlModeType()}
        elif req.BPT_Scheduled_DC_CLReqControlMode is not None:
            mode = {"BPT_Scheduled_DC_CLResControlMode": d.BPT_Scheduled_DC_CLResControlModeType()}
        elif req.Dynamic_DC_CLReqControlMode is not None:
            mode = {"Dynamic_DC_CLResControlMode": d.Dynamic_DC_CLResControlModeType(**dyn)}
        else:
            mode = {"BPT_Dynamic_DC_CLResControlMode": d.BPT_Dynamic_DC_CLResControlModeType(**dyn, **bpt)}
        return d.DC_ChargeLoopResType(**mode,
            Header=self._h(d, now), ResponseCode="OK", EVSEStatus=self._status(d), MeterInfo=self._meter(d),
            EVSEPresentCurrent=rational(d, current or 0.0), EVSEPresentVoltage=rational(d, voltage),
            EVSEPowerLimitAchieved=False, EVSECurrentLimitAchieved=False, EVSEVoltageLimitAchieved=False)

    def _DC_WeldingDetectionReq(self, req: Any, now: float) -> Any:
        d = dc()
        self.voltage = max(0.0, self.voltage - 200.0)
        return d.DC_WeldingDetectionResType(Header=self._h(d, now), ResponseCode="OK",
                                            EVSEPresentVoltage=rational(d, self.voltage))

    # ------------------------------------------------------------------------------------------- AC
    def _AC_ChargeParameterDiscoveryReq(self, req: Any, now: float) -> Any:
        a = ac()
        r = partial(rational, a)
        base = dict(EVSEMaximumChargePower=r(22_000), EVSEMinimumChargePower=r(0), EVSENominalFrequency=r(50))
        if req.BPT_AC_CPDReqEnergyTransferMode is not None:
            mode = a.BPT_AC_CPDResEnergyTransferModeType(**base, EVSEMaximumDischargePower=r(11_000),
                                                         EVSEMinimumDischargePower=r(0))
            return a.AC_ChargeParameterDiscoveryResType(Header=self._h(a, now), ResponseCode="OK",
                                                        BPT_AC_CPDResEnergyTransferMode=mode)
        return a.AC_ChargeParameterDiscoveryResType(Header=self._h(a, now), ResponseCode="OK",
                                                    AC_CPDResEnergyTransferMode=a.AC_CPDResEnergyTransferModeType(**base))

    def _AC_ChargeLoopReq(self, req: Any, now: float) -> Any:
        a = ac()
        self.loops += 1
        fields: dict[str, Any] = {}
        target = rational(a, self.dynamic_power)
        if req.Dynamic_AC_CLReqControlMode is not None:
            fields["Dynamic_AC_CLResControlMode"] = a.Dynamic_AC_CLResControlModeType(EVSETargetActivePower=target)
        elif req.BPT_Dynamic_AC_CLReqControlMode is not None:
            fields["BPT_Dynamic_AC_CLResControlMode"] = a.BPT_Dynamic_AC_CLResControlModeType(
                EVSETargetActivePower=target)
        elif req.Scheduled_AC_CLReqControlMode is not None:
            fields["Scheduled_AC_CLResControlMode"] = a.Scheduled_AC_CLResControlModeType()
        else:
            fields["BPT_Scheduled_AC_CLResControlMode"] = a.BPT_Scheduled_AC_CLResControlModeType()
        return a.AC_ChargeLoopResType(Header=self._h(a, now), ResponseCode="OK", EVSEStatus=self._status(a),
                                      MeterInfo=self._meter(a), **fields)
