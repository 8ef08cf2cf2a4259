"""Plug & Charge for the ISO 15118-20 EVCC: the contract port the machine calls (synchronous answers, no awaiting in
a state) and its implementation on evcc.contracts and a key store.

- Authorization with PnC (§8.3.4.3, [V2G20-2209..]): PnC_AReqAuthorizationMode (Id, the GenChallenge of
  AuthorizationSetupRes, ContractCertificateChain) signed by the contract key, the signature over that element
  only (EXI.md §3): ECDSA-SHA512 for secp521r1 keys, EdDSA for Ed448, ECDSA-SHA256 for a P-256 contract.
- Several contracts: ``contracts()`` lists the usable ones best first (evcc.contracts.select priority rule);
  the machine tries the next when the charger refuses one (AuthorizationRes WARNING_*).
- CertificateInstallation (§8.3.4.8, messages20): OEMProvisioningCertificateChain signed by the OEM key;
  PrioritizedEMAIDs carries the eMAIDs of the vehicle's contracts in priority order (-20 has no other place for
  the priorities); the response is decrypted per [V2G20-2491..2502] (install20), or a TPM_EncryptedPrivateKey
  imported under the TPM storage key the OEM certificate names (install20_tpm, PKI.md §1).
- MeteringConfirmation (§8.3.4.12): SignedMeteringData signed by the contract key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from cryptography import x509

from evcc.contracts import messages20
from evcc.contracts.install20 import SkiEncoding
from evcc.contracts.install20_tpm import storage_key_label
from evcc.contracts.install_common import InstallContext
from evcc.contracts.messages20 import install_from_message_20
from evcc.contracts.select import ChargerOffer, select_contract
from evcc.contracts.signed import algorithm_of_certificate, keystore_signer
from evcc.contracts.store import Contract
from evcc.errors import ConfigError
from evcc.exi.signature import sign_elements
from evcc.hsm.keystore import KeyAlgorithm
from evcc.session.iso20.values import common, header

GRAMMAR = "iso20-common-fragment"
AUTHORIZATION_ID = "ID1"
METERING_ID = "ID1"
MAX_SUB_CERTIFICATES = 3  # SubCertificatesType: Certificate maxOccurs 3


class ContractPort20(Protocol):
    """What the -20 machine asks the contracts part. Failures raise evcc.errors.EvccError subclasses; the machine
    turns them into an orderly stop naming the reason."""

    def contracts(self) -> list[Contract]:
        """Usable installed contracts, the one to try first at index 0."""
        ...

    def certificate_installation_req(self, session_id: bytes, timestamp: int) -> Any: ...

    def install(self, response: Any) -> Contract:
        """Process a CertificateInstallationRes; the new contract is stored before this returns."""
        ...

    def authorization_req(self, session_id: bytes, timestamp: int, gen_challenge: bytes, contract: Contract) -> Any: ...

    def metering_confirmation_req(self, session_id: bytes, timestamp: int, data: Any, contract: Contract) -> Any: ...


def contract_chain(ders: Sequence[bytes]) -> Any:
    """ContractCertificateChainType (leaf + Sub-CAs; SubCertificates is mandatory in -20)."""
    m = common()
    if not ders:
        raise ConfigError("contract without a certificate chain")
    subs = list(ders[1:1 + MAX_SUB_CERTIFICATES])
    return m.ContractCertificateChainType(Certificate=ders[0], SubCertificates=m.SubCertificatesType(Certificate=subs))


@dataclass
class KeyStoreContracts20:
    """The -20 contract port on the contract store and key store of ``ctx``. ``oem_chain`` (leaf first) with its
    key ``oem_key_label`` and ``oem_key_algorithm`` (P-521 or Ed448) sign CertificateInstallationReq;
    ``ecdh_key_label`` decrypts the response (the OEM key for SECP521, its X448 alternate key for X448);
    ``tpm_storage_key_label`` imports a TPM_EncryptedPrivateKey, by default the TPM storage key the OEM
    certificate names (evcc.contracts.install20_tpm.storage_key_label)."""

    ctx: InstallContext
    pcid: str = ""
    oem_chain: tuple[x509.Certificate, ...] = ()
    oem_key_label: str | None = None
    oem_key_algorithm: KeyAlgorithm = KeyAlgorithm.EC_P521
    ecdh_key_label: str | None = None
    ski_encoding: SkiEncoding = SkiEncoding.HEX_TEXT
    maximum_chains: int = 1
    expiry_window: timedelta = timedelta(days=30)
    installed_priority: int = 0
    tpm_storage_key_label: str | None = None

    def contracts(self) -> list[Contract]:
        offer = ChargerOffer(frozenset({"Contract"}))
        left = list(self.ctx.store.list())
        ordered: list[Contract] = []
        while True:
            best = select_contract(left, offer, self.ctx.now, self.expiry_window).contract
            if best is None:
                return ordered
            ordered.append(best)
            left = [c for c in left if c.contract_id != best.contract_id]

    def certificate_installation_req(self, session_id: bytes, timestamp: int) -> Any:
        if self.oem_key_label is None or not self.oem_chain:
            raise ConfigError("no OEM provisioning key and certificate to ask for a contract with")
        ranked = sorted(self.ctx.store.list(), key=lambda c: -c.priority)
        emaids = tuple(dict.fromkeys(c.emaid for c in ranked))[:messages20.MAX_PRIORITIZED_EMAIDS]
        return messages20.certificate_installation_req(
            session_id, timestamp, self.oem_chain, self.ctx.v2g_roots, self.ctx.keystore, self.oem_key_label,
            self.oem_key_algorithm, self.maximum_chains, emaids)

    def install(self, response: Any) -> Contract:
        return self._install(response, None)

    def _install(self, response: Any, replaces: str | None) -> Contract:
        """``replaces``: a pending record the contract takes the place and current priority of (one write)."""
        label = self.ecdh_key_label or self.oem_key_label
        if label is None:
            raise ConfigError("CertificateInstallationRes without an OEM key to decrypt it")
        storage = self.tpm_storage_key_label
        if storage is None and self.oem_chain:
            storage = storage_key_label(self.ctx.keystore, self.oem_chain[0])
        return install_from_message_20(response, pcid=self.pcid, ecdh_key_label=label, ctx=self.ctx,
                                       ski_encoding=self.ski_encoding, priority=self.installed_priority,
                                       tpm_storage_key_label=storage, replaces=replaces)

    def authorization_req(self, session_id: bytes, timestamp: int, gen_challenge: bytes, contract: Contract) -> Any:
        m = common()
        mode = m.PnC_AReqAuthorizationModeType(Id=AUTHORIZATION_ID, GenChallenge=gen_challenge,
                                               ContractCertificateChain=contract_chain(contract.chain))
        signature = self._sign("PnC_AReqAuthorizationMode", mode, contract)
        return m.AuthorizationReqType(Header=header(m, session_id, timestamp, signature),
                                      SelectedAuthorizationService="PnC", PnC_AReqAuthorizationMode=mode)

    def metering_confirmation_req(self, session_id: bytes, timestamp: int, data: Any, contract: Contract) -> Any:
        m = common()
        data.Id = METERING_ID
        signature = self._sign("SignedMeteringData", data, contract)
        return m.MeteringConfirmationReqType(Header=header(m, session_id, timestamp, signature),
                                             SignedMeteringData=data)

    def _sign(self, element: str, value: Any, contract: Contract) -> Any:
        if contract.key_label is None:
            raise ConfigError(f"contract {contract.contract_id} has no key in the key store")
        leaf = x509.load_der_x509_certificate(contract.chain[0])
        return sign_elements(GRAMMAR, [(element, value)], keystore_signer(self.ctx.keystore, contract.key_label),
                             algorithm_of_certificate(leaf))
