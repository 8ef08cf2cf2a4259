"""ISO 15118-20 authorization on the EV side (§8.3.4.3-4, §8.3.4.8, §8.3.4.12): EIM, and Plug & Charge with
several contracts.

    AuthorizationSetupRes (PnC offered, GenChallenge)
      no usable contract and CertificateInstallationService -> CertificateInstallationReq (repeated while
        RemainingContractCertificateChains > 0, up to MaximumContractCertificateChains)
      -> AuthorizationReq(PnC, signed PnC_AReqAuthorizationMode) with the best contract
      AuthorizationRes WARNING_* (eMSP unknown, certificate revoked, ...) -> the next contract by priority
      -> every contract refused: EIM when allowed (eim_fallback), else an orderly stop naming the refusals
    MeteringConfirmation (EVSENotification=MeteringConfirmation): SignedMeteringData signed by the contract key

The contract port (pnc.py) signs and installs; its errors (evcc.errors tree) end the session in order with the
reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evcc.errors import EvccError
from evcc.exi.signature import rebind
from evcc.session.events import EndKind
from evcc.session.iso20.config import State
from evcc.session.iso20.stopping import begin_stop
from evcc.session.iso20.values import common

if TYPE_CHECKING:
    from evcc.session.iso20.machine import Iso20Evcc
    from evcc.session.iso20.pnc import ContractPort20


def _port(m: Iso20Evcc) -> ContractPort20:
    assert m.config.contracts is not None  # Iso20Config requires it for PnC
    return m.config.contracts


def send_eim_authorization(m: Iso20Evcc, now: float) -> None:
    mode = common().EIM_AReqAuthorizationModeType()
    m.send("AuthorizationReq", now, SelectedAuthorizationService="EIM", EIM_AReqAuthorizationMode=mode)
    m.state = State.WAIT_AUTHORIZATION_RES


def start(m: Iso20Evcc, now: float) -> None:
    """Contracts by priority; none usable: install one if the charger offers it."""
    try:
        m.contract_queue = _port(m).contracts()
    except EvccError as exc:
        begin_stop(m, EndKind.STOPPED, f"no contract to charge with: {exc}", now)
        return
    if m.contract_queue:
        next_contract(m, now)
    elif m.certificate_installation_offered:
        send_certificate_installation(m, now)
    else:
        _no_contract_left(m, "no usable contract and the EVSE offers no CertificateInstallation", now)


def next_contract(m: Iso20Evcc, now: float) -> None:
    m.contract = m.contract_queue.pop(0)
    send_signed_authorization(m, now)


def send_signed_authorization(m: Iso20Evcc, now: float) -> None:
    """AuthorizationReq with PnC_AReqAuthorizationMode (Id, GenChallenge, contract chain) signed with the
    contract key (also when the SECC answered Ongoing and the request is repeated)."""
    assert m.contract is not None and m.gen_challenge is not None
    try:
        msg = _port(m).authorization_req(m.session_id, m.timestamp(now), m.gen_challenge, m.contract)
    except EvccError as exc:
        begin_stop(m, EndKind.STOPPED, f"cannot sign AuthorizationReq: {exc}", now)
        return
    m.queue("AuthorizationReq", msg, now)
    m.state = State.WAIT_AUTHORIZATION_RES


def send_certificate_installation(m: Iso20Evcc, now: float) -> None:
    try:
        msg = _port(m).certificate_installation_req(m.session_id, m.timestamp(now))
    except EvccError as exc:
        begin_stop(m, EndKind.STOPPED, f"no contract and cannot ask for one: {exc}", now)
        return
    m.queue("CertificateInstallationReq", msg, now)
    m.state = State.WAIT_CERTIFICATE_INSTALLATION_RES


def on_certificate_installation(m: Iso20Evcc, res: Any, now: float) -> None:
    if res.EVSEProcessing != "Finished":
        m.arm("V2G_EVCC_Ongoing_Timeout", now)
        send_certificate_installation(m, now)
        return
    m.disarm("V2G_EVCC_Ongoing_Timeout")
    try:
        _port(m).install(res)
    except EvccError as exc:
        begin_stop(m, EndKind.PROTOCOL_ERROR, f"CertificateInstallationRes rejected: {exc}", now)
        return
    m.installed += 1
    if res.RemainingContractCertificateChains > 0 and m.installed < m.config.maximum_contract_chains:
        send_certificate_installation(m, now)
        return
    start(m, now)


def contract_refused(m: Iso20Evcc, code: str, now: float) -> None:
    """The charger refused the contract just tried (AuthorizationRes WARNING_*): try the next one."""
    if m.contract is not None:
        m.refused_contracts.append(f"{m.contract.emaid} ({code})")
    if m.contract_queue:
        next_contract(m, now)
        return
    _no_contract_left(m, f"the EVSE refused every contract: {', '.join(m.refused_contracts)}", now)


def _no_contract_left(m: Iso20Evcc, reason: str, now: float) -> None:
    if m.config.eim_fallback:
        m.authorization = "EIM"
        m.contract = None
        send_eim_authorization(m, now)
        return
    begin_stop(m, EndKind.STOPPED, reason, now)


def metering_step(m: Iso20Evcc, asked: bool, res: Any, now: float) -> bool:
    """The EVSE asked for a MeteringConfirmation (``asked``) or the EV waits for the MeterInfo to sign: True when
    a MeteringConfirmationReq went out or the session stops; False: go on with the loop (the next request sets
    MeterInfoRequested when the reading is still missing)."""
    if not (asked or m.meter_info_wanted):
        return False
    if res.MeterInfo is not None:
        m.meter_info_wanted = False
        send_metering_confirmation(m, res, now)
        return True
    if m.meter_info_wanted:
        begin_stop(m, EndKind.PROTOCOL_ERROR, "MeterInfoRequested for the MeteringConfirmation, none came", now)
        return True
    m.meter_info_wanted = True
    return False


def send_metering_confirmation(m: Iso20Evcc, res: Any, now: float) -> bool:
    """SignedMeteringData over the meter reading of ``res`` (a charge-loop response with MeterInfo); False when
    the session stops instead."""
    assert m.contract is not None
    c = common()
    mode: dict[str, Any] = ({"Scheduled_SMDTControlMode": c.Scheduled_SMDTControlModeType(
        SelectedScheduleTupleID=m.schedule.tuple_id)} if m.schedule is not None else
        {"Dynamic_SMDTControlMode": c.Dynamic_SMDTControlModeType()})
    receipt = rebind(res.Receipt, "iso20_common") if res.Receipt is not None else None
    data = c.SignedMeteringDataType(Id="ID1", SessionID=m.session_id, MeterInfo=rebind(res.MeterInfo, "iso20_common"),
                                    Receipt=receipt, **mode)
    try:
        msg = _port(m).metering_confirmation_req(m.session_id, m.timestamp(now), data, m.contract)
    except EvccError as exc:
        begin_stop(m, EndKind.STOPPED, f"cannot sign MeteringConfirmationReq: {exc}", now)
        return False
    m.confirmations += 1
    m.queue("MeteringConfirmationReq", msg, now)
    m.state = State.WAIT_METERING_CONFIRMATION_RES
    return True
