"""ISO 15118-2 CertificateUpdate inside the session (§8.4.3.10 CertificateUpdate, Table 105/106 the
"Certificate" service, §8.8.3.3 Plug & Charge sequence): renew a contract that expires soon.

When the contract the EV would use expires within the contract port's window and the SECC lists the
certificate service (ServiceCategory ContractCertificate) in ServiceDiscoveryRes::

    ServiceDetailReq(ServiceID of the certificate service)
      -> ServiceDetailRes: a ParameterSet with Parameter Name="Service" stringValue="Update"?
         yes: SelectedService(ServiceID, ParameterSetID of "Update") in PaymentServiceSelectionReq
    -> CertificateUpdateReq (ContractSignatureCertChain, eMAID, ListOfRootCertificateIDs; signed with the
       contract key in the key store)
    -> CertificateUpdateRes: processed by evcc.contracts (CPS chain and signature, ECDH with the contract key,
       [V2G2-823]); the renewed contract replaces the old one in one atomic store write
    -> PaymentDetailsReq with the renewed contract

A FAILED_* CertificateUpdateRes ends the session like any FAILED code (machine.py, [V2G2-539]); the store is
unchanged. A response the EV rejects (a bad signature, a wrong key) is reported (ContractUpdateRejected) and the
session goes on with the old contract, which is still valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evcc.errors import EvccError
from evcc.exi import iso2
from evcc.session.events import ContractUpdated, ContractUpdateRejected
from evcc.session.iso2 import contract_flow
from evcc.session.iso2.config import State

if TYPE_CHECKING:
    from evcc.session.iso2.machine import Iso2Evcc

CERTIFICATE_CATEGORY = "ContractCertificate"  # Table 105: ServiceID 2, ServiceName "Certificate"
SERVICE_PARAMETER = "Service"  # Table 106: ParameterSet "Installation" / "Update"
UPDATE = "Update"


def service_to_ask(m: Iso2Evcc, services: list[iso2.ServiceType]) -> int | None:
    """ServiceID of the offered certificate service when the contract in use is due for an update, else None."""
    if m.config.payment != "Contract" or m.config.contracts is None:
        return None
    offered = [s.ServiceID for s in services if s.ServiceCategory == CERTIFICATE_CATEGORY]
    if not offered:
        return None
    try:
        due = m.config.contracts.update_due()
    except EvccError:
        return None  # PaymentServiceSelection finds out again and stops with the reason
    if due is None:
        return None
    m.certificate_service_id = offered[0]
    return offered[0]


def selected_service(m: Iso2Evcc, res: iso2.ServiceDetailResType) -> iso2.SelectedServiceType | None:
    """The certificate service with its "Update" parameter set, or None when the SECC does not offer Update."""
    sets = res.ServiceParameterList.ParameterSet if res.ServiceParameterList is not None else []
    for ps in sets:
        if any(p.Name == SERVICE_PARAMETER and p.stringValue == UPDATE for p in ps.Parameter):
            m.certificate_update = True
            return iso2.SelectedServiceType(ServiceID=res.ServiceID, ParameterSetID=ps.ParameterSetID)
    return None


def send_certificate_update(m: Iso2Evcc, now: float) -> None:
    assert m.config.contracts is not None and m.contract is not None
    try:
        msg = m.config.contracts.certificate_update_req(m.session_id, m.contract)
    except EvccError as exc:
        m.emit(ContractUpdateRejected(m.contract.contract_id, f"cannot sign CertificateUpdateReq: {exc}"))
        contract_flow.send_payment_details(m, now)
        return
    m.send_message("CertificateUpdateReq", msg, now)
    m.state = State.WAIT_CERTIFICATE_UPDATE_RES


def on_certificate_update(m: Iso2Evcc, res: iso2.CertificateUpdateResType, now: float) -> None:
    assert m.config.contracts is not None and m.contract is not None and m.last_message is not None
    old = m.contract
    try:
        m.contract = m.config.contracts.update(m.last_message, old)
    except EvccError as exc:
        m.emit(ContractUpdateRejected(old.contract_id, f"CertificateUpdateRes rejected: {exc}"))
    else:
        m.emit(ContractUpdated(old.contract_id, m.contract.contract_id, m.contract.emaid))
    contract_flow.send_payment_details(m, now)
