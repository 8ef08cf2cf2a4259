"""ISO 15118-2 Plug & Charge handlers of the EVCC (§8.4.3, §8.8.3.3): after PaymentServiceSelection(Contract)
either CertificateInstallation (no usable contract) then PaymentDetails, CertificateUpdate (certificate_update.py)
then PaymentDetails, or PaymentDetails at once; the signed
AuthorizationReq over the GenChallenge; the SalesTariff signature check; the signed MeteringReceipt.

The contract port (pnc.py) signs and installs; its errors (evcc.errors tree) end the session in order with the
reason. SalesTariff and receipt steps are called from setup.py and transitions.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.contracts.messages2 import certificate_chain
from evcc.errors import EvccError
from evcc.exi import iso2
from evcc.session.events import EndKind
from evcc.session.iso2.config import State

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc
    from evcc.session.iso2.pnc import ContractPort

GEN_CHALLENGE_LENGTH = 16  # genChallengeType: base64Binary, length 16


def _port(m: Iso2Evcc) -> ContractPort:
    assert m.config.contracts is not None  # Iso2Config requires it for payment Contract
    return m.config.contracts


def choose_contract(m: Iso2Evcc, now: float) -> bool:
    """After PaymentServiceSelection(Contract): True with ``m.contract`` set; False when CertificateInstallation
    was sent (no usable contract) or the session stops (nothing to install with)."""
    try:
        m.contract = _port(m).contract()
        if m.contract is None:
            m.send_message("CertificateInstallationReq", _port(m).certificate_installation_req(m.session_id), now)
            m.state = State.WAIT_CERTIFICATE_INSTALLATION_RES
            return False
    except EvccError as exc:
        m.begin_stop(EndKind.STOPPED, f"no contract to charge with: {exc}", now)
        return False
    return True


def on_certificate_installation(m: Iso2Evcc, res: iso2.CertificateInstallationResType, now: float) -> None:
    assert m.last_message is not None
    try:
        m.contract = _port(m).install(m.last_message)
    except EvccError as exc:
        m.begin_stop(EndKind.PROTOCOL_ERROR, f"CertificateInstallationRes rejected: {exc}", now)
        return
    send_payment_details(m, now)


def send_payment_details(m: Iso2Evcc, now: float) -> None:
    assert m.contract is not None
    req = iso2.PaymentDetailsReqType(eMAID=m.contract.emaid, ContractSignatureCertChain=certificate_chain(m.contract.chain))
    m.send("PaymentDetailsReq", req, now)
    m.state = State.WAIT_PAYMENT_DETAILS_RES


def on_payment_details(m: Iso2Evcc, res: iso2.PaymentDetailsResType, now: float) -> None:
    if len(res.GenChallenge) != GEN_CHALLENGE_LENGTH:
        m.end(EndKind.PROTOCOL_ERROR, f"PaymentDetailsRes GenChallenge has {len(res.GenChallenge)} bytes, not 16")
        return
    m.gen_challenge = res.GenChallenge
    send_signed_authorization(m, now)


def send_signed_authorization(m: Iso2Evcc, now: float) -> None:
    """[V2G2-475]: AuthorizationReq with Id and the GenChallenge, signed with the contract key (also when the
    SECC answered Ongoing and the request is repeated)."""
    assert m.contract is not None and m.gen_challenge is not None
    try:
        msg = _port(m).authorization_req(m.session_id, m.gen_challenge, m.contract)
    except EvccError as exc:
        m.begin_stop(EndKind.STOPPED, f"cannot sign AuthorizationReq: {exc}", now)
        return
    m.send_message("AuthorizationReq", msg, now)
    m.state = State.WAIT_AUTHORIZATION_RES


def sales_tariffs_rejected(m: Iso2Evcc, tuples: list[iso2.SAScheduleTupleType], now: float) -> bool:
    """Check the MO's signature over every SalesTariff (Plug & Charge only); True when the session stops."""
    tariffs = [t.SalesTariff for t in tuples if t.SalesTariff is not None]
    if m.config.payment != "Contract" or not tariffs:
        return False
    assert m.contract is not None and m.last_message is not None
    try:
        _port(m).check_sales_tariffs(m.last_message, tariffs, m.contract)
    except EvccError as exc:
        m.begin_stop(EndKind.PROTOCOL_ERROR, f"SalesTariff signature rejected: {exc}", now)
        return True
    return False


def receipt_needed(m: Iso2Evcc, receipt_required: bool | None) -> bool:
    """ReceiptRequired only binds with a contract ([V2G2-691]); in EIM the EV has no key to sign with."""
    return bool(receipt_required) and m.config.payment == "Contract"


def send_metering_receipt(m: Iso2Evcc, meter: iso2.MeterInfoType | None, now: float) -> None:
    if meter is None:
        m.begin_stop(EndKind.PROTOCOL_ERROR, "ReceiptRequired without MeterInfo", now)
        return
    assert m.contract is not None
    body = iso2.MeteringReceiptReqType(SessionID=m.session_id, SAScheduleTupleID=m.sa_schedule_tuple_id, MeterInfo=meter)
    try:
        msg = _port(m).metering_receipt_req(m.session_id, body, m.contract)
    except EvccError as exc:
        m.begin_stop(EndKind.STOPPED, f"cannot sign MeteringReceiptReq: {exc}", now)
        return
    m.receipts += 1
    m.send_message("MeteringReceiptReq", msg, now)
    m.state = State.WAIT_METERING_RECEIPT_RES
