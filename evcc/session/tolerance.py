"""Which checks on received V2G values stop a session, and which are tolerated and counted (issue #14, point 2).

Rule: reject only what makes a message unusable or unsafe (a value the EV acts on, out of range or inconsistent);
tolerate what the EV does not use and count it in the session's :class:`~evcc.session.deviations.DeviationRecord`
(reported as ``deviations`` by ``evcc session --json`` / ``evcc bench --json``). The SLAC/MME side is in
:mod:`evcc.slac.machine`, empty EXI values in :func:`evcc.session.deviations.note_exi`.

Audit of every check that stops a session on a received value (S = kept strict, T = tolerated and counted,
- = no check):

====================================================  ===  =====================================================
check (where)                                          S/T  why
====================================================  ===  =====================================================
V2GTP version / inverse version (v2gtp)                S    framing: the bytes after it cannot be trusted
V2GTP payload type not accepted, length > limit        S    unusable (no decoder for it) / memory bound
SDP response not 20 bytes, port 0 (sdp)                S    unusable: nowhere to connect
SDP address not link-local, port not dynamic (sdp)     S    the EV connects there (answer dropped, SDP retried)
SDP security / transport byte unknown (sdp)            S    the EV acts on it (TLS or not); answer dropped,
                                                            SDP retried, the session does not stop
SAP Failed_NoNegotiation (sap)                         S    no protocol
SAP OK_* with a SchemaID not offered / none, several   S    the EV cannot tell which protocol to speak
  protocols offered (sap)
SAP OK_* with a SchemaID not offered / none, exactly   T    the only protocol it can be is the one offered; if
  one protocol offered (sap, :func:`sap_tolerated`)         the SECC speaks another, the next message fails
                                                            to decode (strict); field "supportedAppProtocolRes
                                                            SchemaID", [V2G2-168]
undecodable EXI, not a V2G_Message (checks.decode)     S    unusable
no request outstanding / unexpected message (checks)   S    sequence: the EV cannot act on it
Header.SessionID differs from the session's (checks)   S    identity of the session (another EV's answer)
ResponseCode FAILED* (checks)                          S    the SECC refuses: [V2G2-539], DIN [V2G-DC-...]
ResponseCode OK_* variants (checks)                    -    valid codes, not deviations: they go on (OK_Certifi-
                                                            cateExpiresSoon is reported as a ResponseNote)
SessionSetupRes SessionID 0 / OldSessionJoined with    S    the EV sends that SessionID in every request
  another SessionID (iso2/iso20 setup)
ServiceDetailRes for another ServiceID (setup)         S    the EV selects a ParameterSet from it
GenChallenge not 16 bytes (contract_flow, -20 setup)   S    the EV signs it (security)
ChargeParameterDiscoveryRes without the EVSE charge    S    the EV sets current/voltage from it
  parameters; -20 ... without the mode's (ac, dc)
SAScheduleList empty, IDs not unique, PMax negative,   S    the EV chooses a tuple and limits power by it
  no RelativeTimeInterval / start != 0 (schedules)
a tuple with more PMaxScheduleEntry / SalesTariff-     T    the tuple stays usable (the EV limits power by the
  Entry than MaxEntriesSAScheduleTuple (iso2                whole PMaxSchedule, its ChargingProfile takes the
  schedules, :func:`too_many_entries`)                      first 24); one PeerDeviation naming the longest
                                                            list, counted in the SessionLog's record; field
                                                            "ChargeParameterDiscoveryRes SAScheduleTuple
                                                            entries". The limit is read per tuple as EVerest
                                                            and Josev do ([V2G2-310]/[V2G2-610] as cited by
                                                            EVerest); the number of tuples (1..3, the
                                                            schema's bound) is not checked against it
more than 3 ScheduleTuples (iso20 schedule)            S    the schema's bound (maxOccurs 3), not one the EV
                                                            announced: such a message does not decode
-20 PowerSchedule with more entries than the EV's      T    the EV reads every entry (its EVPowerProfile takes
  MaximumSupportingPoints (iso20 schedule,                  the first 1024); a PeerDeviation per schedule kind
  :func:`too_many_points`)                                  (field "ScheduleExchangeRes ChargingSchedule
                                                            PowerScheduleEntry count"); price schedules: not
                                                            counted, the EV does not use them
DIN: more than one SAScheduleTuple (din transitions)   -    DIN's ChargeParameterDiscoveryReq announces no
                                                            count; the EV limits power by the first tuple
ReceiptRequired without MeterInfo (contract_flow)      S    the EV must sign MeterInfo it does not have
  (orderly stop)
ScheduleExchangeRes (Finished) without Dynamic mode    S    the EV's power comes from it
EVSEPresentVoltage/Current outside the vehicle's       S    the vehicle would act on it: orderly stop, not fed
  range (din/iso2/iso20 transitions)                        to the vehicle
EVSENotification StopCharging / Terminate, isolation   S    the EVSE asks to stop / unsafe: orderly stop
  Fault (dc, ac, stopping)
Multiplier out of -3..3 (values.value_of)              -    no session check: the EXI grammar bounds it (n-bit
                                                            integer); value_of scales what the decoder yields
EVSEID format, MeterInfo content, notification enums   -    no session check: the EV stores or echoes them
  the EV does not act on (beyond the schema's enum)
EVSE limits that make no sense (limits)                T    taken as 0 and reported as limit_deviations
====================================================  ===  =====================================================

Pure functions: no clock, no I/O; :mod:`evcc.session.sap` decides with :func:`sap_tolerated`, the session report
(:mod:`evcc.session.report`) notes the same deviation from the recorded SupportedAppProtocol pair
(:func:`note_sap`). Deviations a protocol machine finds while it runs reach the same report as
:class:`~evcc.session.events.PeerDeviation` events (the way LimitDeviation events carry limits), which the
session's :class:`~evcc.session.session_log.SessionLog` counts in its bounded record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evcc.session.deviations import DeviationRecord

SAP_SCHEMA_FIELD = "supportedAppProtocolRes SchemaID"
SAP_SCHEMA_CLAUSE = "ISO 15118-2 §8.2.1 [V2G2-168], DIN SPEC 70121 §9.2 (the SchemaID of the chosen AppProtocol)"


def sap_tolerated(response_code: str, schema_id: int | None, offered: Sequence[int]) -> int | None:
    """The offered SchemaID the EV goes on with although the response names none or another one: exactly one
    protocol was offered and the SECC answered OK_*; None when there is nothing to tolerate (or it is not
    tolerable: several offers, or Failed_NoNegotiation)."""
    if not response_code.startswith("OK") or len(offered) != 1 or schema_id in offered:
        return None
    return offered[0]


def sap_deviation(response_code: str, schema_id: int | None, offered: Sequence[int]
                  ) -> tuple[str, str, str, str] | None:
    """(field, value, expected, clause) of a tolerated SupportedAppProtocol answer, or None."""
    chosen = sap_tolerated(response_code, schema_id, offered)
    if chosen is None:
        return None
    value = "absent" if schema_id is None else str(schema_id)
    return SAP_SCHEMA_FIELD, f"{value} with {response_code}", f"{chosen} (the one offered)", SAP_SCHEMA_CLAUSE


def note_sap(record: DeviationRecord, req: Any, res: Any) -> None:
    """Note the tolerated deviation of a decoded supportedAppProtocolReq/Res pair, if any."""
    protocols = getattr(req, "AppProtocol", None)
    code = getattr(res, "ResponseCode", None)
    if protocols is None or code is None:
        return
    found = sap_deviation(str(code), getattr(res, "SchemaID", None), [p.SchemaID for p in protocols])
    if found is not None:
        record.note(*found)
