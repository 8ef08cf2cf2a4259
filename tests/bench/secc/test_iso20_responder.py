"""The ISO 15118-20 SECC responder answering hand-built requests (EIM): complete DC, DC_BPT, AC and AC_BPT
sequences in Scheduled and Dynamic mode, and each check a real SECC makes: FAILED_SequenceError for a request
out of order, FAILED_UnknownSession for a wrong SessionID, service, schedule and power-profile errors, the EVSE's
Terminate after ``stop_after_loop``, the meter both ways, pause and OK_OldSessionJoined (faults: the shared layer,
test_hostile_iso20_memory.py). Every message crosses evcc.exi both ways with the grammar of its V2GTP payload type.
"""

from __future__ import annotations

from typing import Any

import pytest

from evcc import exi
from evcc.bench.secc.iso20_responder import Iso20Secc, Iso20SeccConfig, ac_secc, dc_secc
from evcc.bench.secc.iso20_values import GRAMMAR_OF_PAYLOAD, SUPPORTED_ISO20, number, payload_type_of
from evcc.bench.secc.sap_responder import respond
from evcc.exi import sap
from tests.bench.secc import test_iso20_requests as q

DC, DC_BPT, AC, AC_BPT = 2, 6, 1, 5
SCHEDULED, DYNAMIC = 1, 2


class Peer:
    """Drives a responder with EXI bytes and the payload type, like the server does; returns decoded answers."""

    def __init__(self, secc: Iso20Secc) -> None:
        self.secc = secc
        self.now = 0.0
        self.sid = bytes(8)

    def send(self, req: Any, payload_type: bool = True) -> Any:
        self.secc.receive_payload(exi.encode(req), self.now, payload_type_of(req) if payload_type else None)
        due = self.secc.get_timer()
        assert due is not None, self.secc.record.errors
        self.now = due
        (res,) = self.secc.messages_to_send(self.now)
        grammar = GRAMMAR_OF_PAYLOAD[self.secc.payload_type_of(res)]
        named = exi.decode_named(grammar, exi.encode(res))
        assert named.name == type(req).__name__.replace("ReqType", "Res")
        return named.value

    def ok(self, req: Any) -> Any:
        res = self.send(req)
        assert str(res.ResponseCode).startswith("OK"), (type(req).__name__, res.ResponseCode, self.secc.record)
        return res

    def setup_eim(self, service: int, parameter_set: int) -> None:
        res = self.ok(q.session_setup())
        assert res.ResponseCode == "OK_NewSessionEstablished"
        self.sid = res.Header.SessionID
        setup = self.ok(q.authorization_setup(self.sid))
        assert setup.AuthorizationServices == ["EIM"] and setup.EIM_ASResAuthorizationMode is not None
        while self.ok(q.authorization_eim(self.sid)).EVSEProcessing != "Finished":
            self.now += 0.5
        listed = self.ok(q.service_discovery(self.sid)).EnergyTransferServiceList.Service
        assert service in [s.ServiceID for s in listed]
        detail = self.ok(q.service_detail(self.sid, service))
        assert parameter_set in [p.ParameterSetID for p in detail.ServiceParameterList.ParameterSet]
        self.ok(q.service_selection(self.sid, service, parameter_set))


def schedule(p: Peer, dynamic: bool) -> Any:
    while (res := p.ok(q.schedule_exchange(p.sid, dynamic))).EVSEProcessing != "Finished":
        p.now += 0.5
    return res


def dc_to_loop(p: Peer, service: int, parameter_set: int, tuple_id: int | None = 1, power: float = 10_000) -> None:
    p.setup_eim(service, parameter_set)
    p.ok(q.dc_cpd(p.sid, service == DC_BPT))
    schedule(p, parameter_set == DYNAMIC)
    while p.ok(q.dc_cable_check(p.sid)).EVSEProcessing != "Finished":
        p.now += 0.5
    voltage = 0.0
    while voltage < 400:
        voltage = number(p.ok(q.dc_pre_charge(p.sid, voltage, 400)).EVSEPresentVoltage) or 0.0
    p.ok(q.power_delivery(p.sid, "Start", tuple_id if parameter_set == SCHEDULED else None, power=power))


def dc_finish(p: Peer) -> None:
    p.ok(q.power_delivery(p.sid, "Stop"))
    while (number(p.ok(q.dc_welding(p.sid)).EVSEPresentVoltage) or 0.0) > 0:
        pass
    p.ok(q.session_stop(p.sid))


def test_dc_scheduled_session_charges_within_the_schedule() -> None:
    secc = dc_secc(Iso20SeccConfig(schedules=(20_000.0, 60_000.0)))
    p = Peer(secc)
    dc_to_loop(p, DC, SCHEDULED, tuple_id=1)
    res = p.ok(q.dc_loop(p.sid, "Scheduled", voltage=400, current=150))
    assert res.Scheduled_DC_CLResControlMode is not None
    assert number(res.EVSEPresentCurrent) == pytest.approx(50.0)  # 20 kW schedule at 400 V
    p.now += 3600
    res = p.ok(q.dc_loop(p.sid, "Scheduled", voltage=400, current=150))
    assert res.MeterInfo.ChargedEnergyReadingWh == 20_000
    dc_finish(p)
    rec = secc.record
    assert (rec.selected_service, rec.control_mode, rec.schedule_tuple_id) == ("DC", "Scheduled", 1)
    assert rec.authorization_service == "EIM" and rec.charging_session == "Terminate"
    assert rec.energy_delivered_wh == pytest.approx(20_000.0, rel=1e-4) and rec.energy_returned_wh == 0


def test_dc_bpt_dynamic_discharges_within_the_evse_limits() -> None:
    secc = dc_secc(Iso20SeccConfig(dynamic_power=-80_000.0, max_discharge_power=30_000.0))
    p = Peer(secc)
    dc_to_loop(p, DC_BPT, DYNAMIC)
    res = p.ok(q.dc_loop(p.sid, "BPT_Dynamic", voltage=400))
    assert number(res.EVSEPresentCurrent) == pytest.approx(-75.0)  # 30 kW (EVSE) < 50 kW (EV) < 80 kW asked
    assert res.BPT_Dynamic_DC_CLResControlMode is not None
    p.now += 1800
    p.ok(q.dc_loop(p.sid, "BPT_Dynamic", voltage=400))
    dc_finish(p)
    assert secc.record.energy_returned_wh == pytest.approx(15_000.0, rel=1e-4)
    assert secc.record.min_power_w == pytest.approx(-30_000.0)


def test_dc_bpt_scheduled_negative_target_current_is_clamped_to_the_discharge_limit() -> None:
    p = Peer(dc_secc(Iso20SeccConfig(max_discharge_current=60.0)))
    dc_to_loop(p, DC_BPT, SCHEDULED)
    res = p.ok(q.dc_loop(p.sid, "BPT_Scheduled", voltage=400, current=-100))
    assert number(res.EVSEPresentCurrent) == pytest.approx(-60.0)


def test_dc_without_bpt_never_discharges() -> None:
    p = Peer(dc_secc())
    dc_to_loop(p, DC, SCHEDULED)
    wrong = p.send(q.dc_loop(p.sid, "BPT_Scheduled", current=-50))  # the DC service has no BPT control mode
    assert wrong.ResponseCode == "FAILED_WrongChargeParameter" and number(wrong.EVSEPresentCurrent) == 0
    res = p.ok(q.dc_loop(p.sid, "Scheduled", current=-50))
    assert number(res.EVSEPresentCurrent) == 0


def test_dc_dynamic_stops_when_the_ev_wants_no_more_energy() -> None:
    p = Peer(dc_secc())
    dc_to_loop(p, DC, DYNAMIC)
    assert number(p.ok(q.dc_loop(p.sid, "Dynamic", max_power=40_000)).EVSEPresentCurrent) == pytest.approx(100.0)
    assert number(p.ok(q.dc_loop(p.sid, "Dynamic", energy=0)).EVSEPresentCurrent) == 0


@pytest.mark.parametrize("bpt", [False, True])
def test_ac_scheduled_and_dynamic_sessions(bpt: bool) -> None:
    for parameter_set, mode in ((SCHEDULED, "Scheduled"), (DYNAMIC, "Dynamic")):
        secc = ac_secc(Iso20SeccConfig(schedules=(7_000.0,), dynamic_power=-5_000.0 if bpt else None))
        p = Peer(secc)
        p.setup_eim(AC_BPT if bpt else AC, parameter_set)
        cpd = p.ok(q.ac_cpd(p.sid, bpt))
        assert (cpd.BPT_AC_CPDResEnergyTransferMode is not None) is bpt
        schedule(p, parameter_set == DYNAMIC)
        channel = "Discharge" if bpt and mode == "Scheduled" else None
        p.ok(q.power_delivery(p.sid, "Start", 1 if mode == "Scheduled" else None, power=-5_000 if channel else 5_000,
                              channel=channel))
        name = ("BPT_" if bpt else "") + mode
        present = -5_000 if bpt else 7_000
        res = p.ok(q.ac_loop(p.sid, name, present=present))
        target = number(getattr(res, f"{name}_AC_CLResControlMode").EVSETargetActivePower)
        expected = {(False, "Scheduled"): 7_000, (False, "Dynamic"): 11_000,  # EV max 11 kW
                    (True, "Scheduled"): -11_000, (True, "Dynamic"): -5_000}[(bpt, mode)]  # EVSE discharge limit
        assert target == pytest.approx(expected)
        p.now += 3600
        p.ok(q.ac_loop(p.sid, name, present=present))
        p.ok(q.power_delivery(p.sid, "Stop"))
        p.ok(q.session_stop(p.sid))
        rec = secc.record
        assert rec.control_mode == mode and rec.selected_service == ("AC_BPT" if bpt else "AC")
        moved = rec.energy_returned_wh if bpt else rec.energy_delivered_wh
        assert moved == pytest.approx(abs(present), rel=1e-4)


def test_ac_responder_offers_only_ac_services() -> None:
    p = Peer(ac_secc(Iso20SeccConfig(services=("DC", "AC"))))
    p.ok(q.session_setup())
    p.sid = p.secc.session_id
    p.ok(q.authorization_setup(p.sid))
    p.ok(q.authorization_eim(p.sid))
    p.ok(q.authorization_eim(p.sid))
    assert [s.ServiceID for s in p.ok(q.service_discovery(p.sid)).EnergyTransferServiceList.Service] == [AC]
    assert p.send(q.service_detail(p.sid, DC)).ResponseCode == "FAILED_ServiceIDInvalid"
    assert p.send(q.service_selection(p.sid, DC, 1)).ResponseCode == "FAILED_ServiceSelectionInvalid"
    assert p.send(q.service_selection(p.sid, AC, 9)).ResponseCode == "FAILED_ServiceSelectionInvalid"
    p.ok(q.service_selection(p.sid, AC, 1))


@pytest.mark.parametrize("first", ["ServiceDiscoveryReq", "DC_CableCheckReq", "PowerDeliveryReq", "SessionSetupReq"])
def test_out_of_sequence_is_failed_sequence_error(first: str) -> None:
    p = Peer(dc_secc())
    p.setup_eim(DC, SCHEDULED)
    req = {"ServiceDiscoveryReq": q.service_discovery(p.sid), "DC_CableCheckReq": q.dc_cable_check(p.sid),
           "PowerDeliveryReq": q.power_delivery(p.sid, "Start", 1), "SessionSetupReq": q.session_setup(p.sid)}[first]
    assert p.send(req).ResponseCode == "FAILED_SequenceError"
    p.ok(q.dc_cpd(p.sid, False))  # the state did not move


def test_service_discovery_before_authorization_finished_is_a_sequence_error() -> None:
    p = Peer(dc_secc(Iso20SeccConfig(ongoing_rounds=2)))
    p.sid = p.ok(q.session_setup()).Header.SessionID
    p.ok(q.authorization_setup(p.sid))
    assert p.ok(q.authorization_eim(p.sid)).EVSEProcessing == "Ongoing"
    assert p.send(q.service_discovery(p.sid)).ResponseCode == "FAILED_SequenceError"


def test_wrong_session_id_is_failed_unknown_session() -> None:
    p = Peer(dc_secc())
    p.sid = p.ok(q.session_setup()).Header.SessionID
    assert p.send(q.authorization_setup(bytes(8))).ResponseCode == "FAILED_UnknownSession"
    p.ok(q.authorization_setup(p.sid))


def test_schedule_and_power_profile_checks() -> None:
    p = Peer(dc_secc(Iso20SeccConfig(schedules=(10_000.0, 20_000.0))))
    p.setup_eim(DC, SCHEDULED)
    p.ok(q.dc_cpd(p.sid, False))
    assert p.send(q.schedule_exchange(p.sid, dynamic=True)).ResponseCode == "FAILED_WrongChargeParameter"
    tuples = schedule(p, False).Scheduled_SEResControlMode.ScheduleTuple
    assert [(t.ScheduleTupleID, number(t.ChargingSchedule.PowerSchedule.PowerScheduleEntries.PowerScheduleEntry[0]
                                       .Power)) for t in tuples] == [(1, 10_000), (2, 20_000)]
    assert tuples[0].DischargingSchedule is None
    p.ok(q.dc_cable_check(p.sid))
    p.ok(q.dc_cable_check(p.sid))
    p.ok(q.dc_cable_check(p.sid))
    p.ok(q.dc_pre_charge(p.sid, 0, 100))
    assert p.send(q.power_delivery(p.sid, "Start", 3)).ResponseCode == "FAILED_ScheduleSelectionInvalid"
    assert p.send(q.power_delivery(p.sid, "Start", 1, power=15_000)).ResponseCode == "FAILED_EVPowerProfileInvalid"
    assert p.send(q.power_delivery(p.sid, "Start", 2, power=15_000, channel="Discharge")).ResponseCode == \
        "FAILED_WrongChargeParameter"
    p.ok(q.power_delivery(p.sid, "Start", 2, power=15_000))
    assert p.secc.record.schedule_tuple_id == 2


def test_schedule_renegotiation_goes_back_to_schedule_exchange_then_power_delivery() -> None:
    p = Peer(dc_secc())
    dc_to_loop(p, DC, SCHEDULED)
    p.ok(q.dc_loop(p.sid, "Scheduled"))
    p.ok(q.power_delivery(p.sid, "ScheduleRenegotiation"))
    assert p.send(q.dc_loop(p.sid, "Scheduled")).ResponseCode == "FAILED_SequenceError"
    schedule(p, False)
    p.ok(q.power_delivery(p.sid, "Start", 1))
    p.ok(q.dc_loop(p.sid, "Scheduled"))


@pytest.mark.parametrize(("make", "service", "cpd"), [(dc_secc, DC_BPT, q.dc_cpd), (ac_secc, AC_BPT, q.ac_cpd)])
def test_charge_parameters_without_the_bpt_mode_of_a_bpt_service_are_refused(make: Any, service: int,
                                                                             cpd: Any) -> None:
    p = Peer(make())
    p.setup_eim(service, SCHEDULED)
    assert p.send(cpd(p.sid, False)).ResponseCode == "FAILED_WrongChargeParameter"
    assert p.ok(cpd(p.sid, True)).ResponseCode == "OK"


def test_stop_after_loop_asks_the_ev_to_terminate() -> None:
    p = Peer(dc_secc(Iso20SeccConfig(stop_after_loop=2)))
    dc_to_loop(p, DC, DYNAMIC)
    assert p.ok(q.dc_loop(p.sid, "Dynamic")).EVSEStatus is None
    assert p.ok(q.dc_loop(p.sid, "Dynamic")).EVSEStatus.EVSENotification == "Terminate"
    assert p.ok(q.dc_loop(p.sid, "Dynamic")).EVSEStatus.EVSENotification == "Terminate"  # until the EV stops


def test_pause_then_the_old_session_is_joined_by_a_new_responder() -> None:
    paused: set[bytes] = set()
    p = Peer(dc_secc(paused=paused))
    dc_to_loop(p, DC, SCHEDULED)
    p.ok(q.dc_loop(p.sid, "Scheduled"))
    p.ok(q.power_delivery(p.sid, "Stop"))
    p.ok(q.dc_welding(p.sid))
    p.ok(q.session_stop(p.sid, "Pause"))
    assert paused == {p.sid}
    again = Peer(dc_secc(paused=paused))
    res = again.ok(q.session_setup(p.sid))
    assert res.ResponseCode == "OK_OldSessionJoined" and res.Header.SessionID == p.sid
    assert again.secc.record.joined_old_session and paused == set()


def test_in_memory_bytes_without_payload_type_pick_the_grammar_that_round_trips() -> None:
    p = Peer(dc_secc())
    p.sid = p.secc.session_id
    assert p.send(q.session_setup(), payload_type=False).ResponseCode == "OK_NewSessionEstablished"
    assert p.send(q.dc_cable_check(p.sid), payload_type=False).ResponseCode == "FAILED_SequenceError"
    secc = dc_secc()
    secc.receive_payload(b"\x80\xff\xff\xff", 0.0)
    secc.receive_payload(exi.encode(q.ac_cpd(p.sid, False)), 0.0, 0x8003)
    assert secc.get_timer() is None and len(secc.record.errors) == 2
    assert "0x8003" in secc.record.errors[1]


def test_metering_confirmation_request_with_eim() -> None:
    p = Peer(dc_secc(Iso20SeccConfig(metering_confirmation_at=frozenset({2}))))
    dc_to_loop(p, DC, SCHEDULED)
    assert p.ok(q.dc_loop(p.sid, "Scheduled")).EVSEStatus is None
    assert p.ok(q.dc_loop(p.sid, "Scheduled")).EVSEStatus.EVSENotification == "MeteringConfirmation"
    assert p.send(q.metering_confirmation(p.sid, data_sid=bytes(8))).ResponseCode == \
        "FAILED_MeteringSignatureNotValid"
    p.ok(q.metering_confirmation(p.sid))
    p.ok(q.dc_loop(p.sid, "Scheduled"))


def test_sap_answers_the_iso20_namespaces() -> None:
    req = sap.supportedAppProtocolReq(AppProtocol=[
        sap.AppProtocolType(ProtocolNamespace="urn:iso:std:iso:15118:-20:AC", VersionNumberMajor=1,
                            VersionNumberMinor=0, SchemaID=3, Priority=2),
        sap.AppProtocolType(ProtocolNamespace="urn:iso:std:iso:15118:-20:DC", VersionNumberMajor=1,
                            VersionNumberMinor=0, SchemaID=4, Priority=1)])
    res, chosen = respond(req, SUPPORTED_ISO20)
    assert res.ResponseCode == "OK_SuccessfulNegotiation" and res.SchemaID == 4
    assert chosen is not None and chosen.protocol == "iso20-dc"
