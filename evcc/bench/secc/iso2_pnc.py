"""The Plug & Charge part of the ISO 15118-2 SECC simulator (§8.4.3; test PKI only): CertificateInstallation and
CertificateUpdate through the message-level test provisioning service, PaymentDetails (contract chain validated
to the MO root, a fresh 16-byte GenChallenge), Authorization (GenChallenge and the contract-key signature
checked), MeteringReceipt (signature checked) and SalesTariffs signed with the MO Sub-CA 2 key.

Faults: ``tamper_sales_tariff`` changes a tariff after signing; ``gen_challenge`` forces the challenge sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.bench.secc.iso2_builders import ac_status, dc_status
from evcc.contracts.errors import SignatureRejected
from evcc.contracts.messages2 import chain_ders, check_signed_request
from evcc.contracts.provisioning_service import ProvisioningService, RequestRefused, failed_response_2
from evcc.exi import iso2
from evcc.exi.signature import ECDSA_SHA256, sign_elements
from evcc.hsm.hostcrypto import HASHES, ecdsa_raw
from evcc.hsm.keystore import KeyAlgorithm

if TYPE_CHECKING:
    from evcc.bench.secc.iso2_responder import Iso2Secc

MO_SIGNER = "mo_sub_ca_2"


@dataclass
class SeccPncSim:
    service: ProvisioningService
    wall_clock: datetime  # UTC time for chain checks and the provisioning service
    receipt_at: frozenset[int] = frozenset({3})  # ReceiptRequired on these charge-loop messages (1-based)
    tamper_sales_tariff: bool = False
    gen_challenge: bytes | None = None  # forced GenChallenge (fault); None: random per PaymentDetails
    contract_leaf: x509.Certificate | None = None
    issued_challenge: bytes | None = None
    receipts_verified: int = 0
    refusals: list[str] = field(default_factory=list)

    # ------------------------------------------------------------- SeccPnc
    def respond(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> tuple[str, Any]:
        handler = {"CertificateInstallationRes": self._installation, "CertificateUpdateRes": self._installation,
                   "PaymentDetailsRes": self._payment_details, "AuthorizationRes": self._authorization,
                   "MeteringReceiptRes": self._metering_receipt}[name]
        return name, handler(secc, name, req, code)

    def sign_sales_tariff(self, secc: Iso2Secc, tuples: list[iso2.SAScheduleTupleType]) -> None:
        tariffs = []
        for t in tuples:
            t.SalesTariff = iso2.SalesTariffType(
                Id=f"ST{t.SAScheduleTupleID}", SalesTariffID=t.SAScheduleTupleID, NumEPriceLevels=1,
                SalesTariffEntry=[iso2.SalesTariffEntryType(
                    RelativeTimeInterval=iso2.RelativeTimeIntervalType(start=0, duration=86400), EPriceLevel=1)])
            tariffs.append(t.SalesTariff)
        secc.header_signature = sign_elements(
            "iso2-fragment", [("SalesTariff", t) for t in tariffs], self._mo_sign, ECDSA_SHA256)
        if self.tamper_sales_tariff:
            tariffs[0].SalesTariffDescription = "changed after signing"

    def receipt_required(self, secc: Iso2Secc) -> bool:
        loop = secc.received[-1] if secc.received else ""
        return secc.received.count(loop) in self.receipt_at

    # ------------------------------------------------------------ handlers
    def _mo_sign(self, data: bytes) -> bytes:
        key = self.service.sim.pki.signing_key(MO_SIGNER)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return ecdsa_raw(key.sign(data, ec.ECDSA(HASHES[KeyAlgorithm.EC_P256])), KeyAlgorithm.EC_P256)

    def _installation(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> Any:
        if code != "OK":
            return getattr(failed_response_2(name, secc.session_id, code).Body, name)
        res = self.service.answer(req, self.wall_clock)
        body = getattr(res.Body, name)
        if str(body.ResponseCode).startswith("FAILED"):
            self.refusals.append(self.service.last_refusal)
        secc.header_signature = res.Header.Signature
        return body

    def _payment_details(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> Any:
        details = req.Body.PaymentDetailsReq
        if code.startswith("OK") and details is not None:
            try:
                leaf = self.service.signer_chain(
                    chain_ders(details.ContractSignatureCertChain), MO_SIGNER, "mo_root", self.wall_clock)
                code = _contract_code(leaf, str(details.eMAID), self.wall_clock)
                self.contract_leaf = leaf if code == "OK" else None
                if code != "OK":
                    self.refusals.append(f"PaymentDetailsReq: {code} (eMAID {details.eMAID} or validity)")
            except RequestRefused as exc:
                code = exc.response_code
                if _expired(details.ContractSignatureCertChain, self.wall_clock):
                    code = "FAILED_CertificateExpired"
                self.refusals.append(f"{code}: {exc}")
        self.issued_challenge = self.gen_challenge or secrets.token_bytes(16)
        return iso2.PaymentDetailsResType(
            ResponseCode=code, GenChallenge=self.issued_challenge,  # type: ignore[arg-type]
            EVSETimeStamp=int(self.wall_clock.timestamp()))

    def _check_signed(self, req: iso2.V2G_Message, element: str, failed: str) -> str:
        if self.contract_leaf is None:
            return "FAILED_SequenceError"
        try:
            check_signed_request(req, element, self.contract_leaf)
        except SignatureRejected as exc:
            self.refusals.append(f"{element}: {exc}")
            return failed
        return "OK"

    def _authorization(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> Any:
        auth = req.Body.AuthorizationReq
        if code == "OK" and (auth is None or auth.GenChallenge != self.issued_challenge):
            code = "FAILED_ChallengeInvalid"
        if code == "OK":
            code = self._check_signed(req, "AuthorizationReq", "FAILED_SignatureError")
        processing = secc.round("AuthorizationRes", secc.config.ongoing_rounds)
        return iso2.AuthorizationResType(ResponseCode=code, EVSEProcessing=processing)  # type: ignore[arg-type]

    def _metering_receipt(self, secc: Iso2Secc, name: str, req: iso2.V2G_Message, code: str) -> Any:
        if code == "OK":
            code = self._check_signed(req, "MeteringReceiptReq", "FAILED_MeteringSignatureNotValid")
        self.receipts_verified += code == "OK"
        res = iso2.MeteringReceiptResType(ResponseCode=code)  # type: ignore[arg-type]
        if (secc.energy_mode or "DC").startswith("AC"):
            res.AC_EVSEStatus = ac_status(secc)
        else:
            res.DC_EVSEStatus = dc_status(secc)
        return res


def _expired(chain: iso2.CertificateChainType, now: datetime) -> bool:
    """The contract certificate's validity ended (PaymentDetailsRes FAILED_CertificateExpired)."""
    try:
        leaf = x509.load_der_x509_certificate(bytes(chain.Certificate))
    except ValueError:
        return False
    return leaf.not_valid_after_utc < now


def _contract_code(leaf: x509.Certificate, emaid: str, now: datetime) -> str:
    """The eMAID of PaymentDetailsReq must be the contract certificate's (its subject CN, dashes ignored)."""
    if leaf.not_valid_after_utc < now:
        return "FAILED_CertificateExpired"
    names = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    if cn.replace("-", "").upper() != emaid.replace("-", "").upper():
        return "FAILED"
    return "OK"
