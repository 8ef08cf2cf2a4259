"""Plug & Charge for the ISO 15118-2 EVCC: the contract port the machine calls (like the vehicle port: synchronous
answers, no awaiting in a state) and its implementation on evcc.contracts and a key store.

ISO 15118-2 §8.4.3.4 PaymentDetails (eMAID + ContractSignatureCertChain), §8.4.3.7 Authorization (GenChallenge
signed with the contract key, [V2G2-475]), §8.4.3.9-10 CertificateInstallation (no usable contract: signed with
the OEM provisioning key) and CertificateUpdate (the contract expires within the window: signed with its own
key, the renewed contract replaces it atomically), §8.4.3.13 MeteringReceipt (signed with the contract key when the SECC sets
ReceiptRequired), §8.5.2.13 SalesTariff (signed by the MO: checked with the Sub-CA 2 of the contract chain,
[V2G2-xxx] "the EVCC shall verify"). Keys never leave the key store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from cryptography import x509

from evcc.contracts import messages2
from evcc.contracts.install_common import InstallContext
from evcc.contracts.response2 import install_from_message, update_from_message
from evcc.contracts.select import ChargerOffer, select_contract
from evcc.contracts.signed import check_signature, keystore_signer
from evcc.contracts.store import Contract, ContractState
from evcc.errors import ConfigError
from evcc.exi import iso2
from evcc.exi.signature import ECDSA_SHA256, sign_elements

RECEIPT_ID = "ID1"


class ContractPort(Protocol):
    """What the machine asks the contracts part. Failures raise evcc.errors.EvccError subclasses (SecurityError
    for a rejected response or signature); the machine turns them into an orderly stop with the reason."""

    def contract(self) -> Contract | None:
        """The installed contract to use now, or None (then CertificateInstallation)."""
        ...

    def certificate_installation_req(self, session_id: bytes) -> iso2.V2G_Message: ...

    def install(self, response: iso2.V2G_Message) -> Contract:
        """Process a CertificateInstallationRes; the new contract is stored before this returns."""
        ...

    def update_due(self) -> Contract | None:
        """The contract :meth:`contract` picks, when it expires within the update window (CertificateUpdate
        at this session); else None."""
        ...

    def certificate_update_req(self, session_id: bytes, contract: Contract) -> iso2.V2G_Message:
        """CertificateUpdateReq for ``contract``, signed with its own key."""
        ...

    def update(self, response: iso2.V2G_Message, contract: Contract) -> Contract:
        """Process a CertificateUpdateRes for ``contract``; the renewed contract replaces it in the store
        (one atomic write) before this returns. On any error the store is unchanged."""
        ...

    def authorization_req(self, session_id: bytes, gen_challenge: bytes, contract: Contract) -> iso2.V2G_Message: ...

    def metering_receipt_req(self, session_id: bytes, body: iso2.MeteringReceiptReqType,
                             contract: Contract) -> iso2.V2G_Message: ...

    def check_sales_tariffs(self, response: iso2.V2G_Message, tariffs: list[iso2.SalesTariffType],
                            contract: Contract) -> None: ...


@dataclass
class KeyStoreContracts:
    """The contract port on the contract store and key store of ``ctx`` (evcc.contracts). ``oem_key_label`` and
    ``oem_cert``: the OEM provisioning key and certificate for CertificateInstallation (None: cannot install).
    ``expiry_window``: a contract this close to its notAfter is EXPIRING: still used, and renewed with
    CertificateUpdate when the SECC offers it."""

    ctx: InstallContext
    oem_key_label: str | None = None
    oem_cert: x509.Certificate | None = None
    expiry_window: timedelta = timedelta(days=30)
    installed_priority: int = 0

    def contract(self) -> Contract | None:
        offer = ChargerOffer(frozenset({"Contract"}))
        return select_contract(self.ctx.store.list(), offer, self.ctx.now, self.expiry_window).contract

    def certificate_installation_req(self, session_id: bytes) -> iso2.V2G_Message:
        if self.oem_key_label is None or self.oem_cert is None:
            raise ConfigError("no contract installed and no OEM provisioning key to install one")
        return messages2.certificate_installation_req(session_id, self.oem_cert, self.ctx.v2g_roots,
                                                      self.ctx.keystore, self.oem_key_label)

    def install(self, response: iso2.V2G_Message) -> Contract:
        if self.oem_key_label is None:
            raise ConfigError("CertificateInstallationRes without an OEM provisioning key")
        return install_from_message(response, oem_key_label=self.oem_key_label, ctx=self.ctx,
                                    priority=self.installed_priority)

    def update_due(self) -> Contract | None:
        chosen = self.contract()
        if chosen is None or chosen.state(self.ctx.now, self.expiry_window) is not ContractState.EXPIRING:
            return None
        return chosen

    def certificate_update_req(self, session_id: bytes, contract: Contract) -> iso2.V2G_Message:
        _key(contract)
        return messages2.certificate_update_req(session_id, contract, self.ctx.v2g_roots, self.ctx.keystore)

    def update(self, response: iso2.V2G_Message, contract: Contract) -> Contract:
        return update_from_message(response, old_contract_id=contract.contract_id, ctx=self.ctx)

    def authorization_req(self, session_id: bytes, gen_challenge: bytes, contract: Contract) -> iso2.V2G_Message:
        return messages2.authorization_req(session_id, gen_challenge, self.ctx.keystore, _key(contract))

    def metering_receipt_req(self, session_id: bytes, body: iso2.MeteringReceiptReqType,
                             contract: Contract) -> iso2.V2G_Message:
        body.Id = RECEIPT_ID
        signature = sign_elements("iso2-fragment", [("MeteringReceiptReq", body)],
                                  keystore_signer(self.ctx.keystore, _key(contract)), ECDSA_SHA256)
        return iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=session_id, Signature=signature),
                                Body=iso2.BodyType(MeteringReceiptReq=body))

    def check_sales_tariffs(self, response: iso2.V2G_Message, tariffs: list[iso2.SalesTariffType],
                            contract: Contract) -> None:
        if len(contract.chain) < 2:
            raise ConfigError(f"contract {contract.contract_id} has no MO Sub-CA in its chain")
        mo_sub_ca = x509.load_der_x509_certificate(contract.chain[1])
        check_signature("iso2-fragment", response.Header.Signature, response,
                        [("SalesTariff", t) for t in tariffs], mo_sub_ca, ECDSA_SHA256)


def _key(contract: Contract) -> str:
    if contract.key_label is None:
        raise ConfigError(f"contract {contract.contract_id} has no key in the key store")
    return contract.key_label
