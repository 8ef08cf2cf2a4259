"""The Plug & Charge part of the ISO 15118-20 SECC simulator (§8.3.4.2 Authorization with PnC, §8.3.4.8
CertificateInstallation, §8.3.4.6 MeteringConfirmation; test PKI only).

Authorization with PnC_AReqAuthorizationMode, checked in this order, each with the -20 ResponseCode:

    GenChallenge = the one sent in AuthorizationSetupRes    else WARNING_ChallengeInvalid
    ContractCertificateChain valid to the test PKI's MO root else WARNING_CertificateExpired /
                                                              WARNING_CertificateNotYetValid /
                                                              WARNING_CertificateValidationError
    Header.Signature covers exactly PnC_AReqAuthorizationMode, ECDSA-SHA512 (P-521) or EdDSA (Ed448) by the
    contract key                                             else FAILED_SignatureError
    option: the first ``reject_contracts`` distinct eMAIDs  -> ``reject_code`` (WARNING_eMSPUnknown), so that
                                                              the EV tries its next contract

CertificateInstallation goes to the -20 test provisioning service (evcc.contracts.provisioning_service20);
MeteringConfirmationReq's SignedMeteringData must carry the SessionID and be signed by the authorised
contract key (else FAILED_MeteringSignatureNotValid).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cryptography import x509

from evcc.contracts.chain import POLICY_ISO20, common_name, parse_chain, validate_chain
from evcc.contracts.errors import CertificateExpired, CertificateNotYetValid, ChainError, SignatureRejected
from evcc.contracts.install20 import EcdhCurve, SignedInstallationData20
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_service20 import response_20
from evcc.contracts.signed import algorithm_of_certificate, check_signature

if TYPE_CHECKING:
    from evcc.bench.secc.iso20_responder import Iso20Secc

GRAMMAR = "iso20-common-fragment"
MO_ROOT = "mo_root"


def refused_installation(secc: Iso20Secc, code: str) -> Any:
    """A refused CertificateInstallationRes: the schema's mandatory elements with empty placeholders."""
    empty = SignedInstallationData20((b"", b""), EcdhCurve.SECP521, b"", b"", (b"",))
    when = datetime.fromtimestamp(secc.unix_time(), timezone.utc)
    return response_20(empty, secc.session_id, when, code)


@dataclass
class Iso20PncSim:
    service: ProvisioningService
    wall_clock: datetime  # UTC time for chain checks and the provisioning service
    reject_contracts: int = 0  # reject this many distinct contracts (eMAIDs) first
    reject_code: str = "WARNING_eMSPUnknown"
    forced_challenge: bytes | None = None  # fault: always this GenChallenge
    contract_leaf: x509.Certificate | None = None  # of the authorised contract
    installations: int = 0
    refusals: list[str] = field(default_factory=list)

    # ----------------------------------------------------------- Iso20SeccPnc
    def gen_challenge(self, secc: Iso20Secc) -> bytes:
        return self.forced_challenge or secrets.token_bytes(16)

    def authorize(self, secc: Iso20Secc, req: Any) -> str:
        mode = req.PnC_AReqAuthorizationMode
        if mode is None:
            return self._refuse(secc, "WARNING_AuthorizationSelectionInvalid", "PnC selected without PnC data")
        if secc.challenge is None or mode.GenChallenge != secc.challenge:
            return self._refuse(secc, "WARNING_ChallengeInvalid", "GenChallenge differs from the one sent")
        chain = mode.ContractCertificateChain
        ders = (chain.Certificate, *(chain.SubCertificates.Certificate if chain.SubCertificates else []))
        try:
            certs = parse_chain(ders, POLICY_ISO20)
            validate_chain(certs, (self.service.sim.pki.certs[MO_ROOT],), self.wall_clock, POLICY_ISO20)
        except CertificateExpired as exc:
            return self._refuse(secc, "WARNING_CertificateExpired", f"contract chain: {exc}")
        except CertificateNotYetValid as exc:
            return self._refuse(secc, "WARNING_CertificateNotYetValid", f"contract chain: {exc}")
        except ChainError as exc:
            return self._refuse(secc, "WARNING_CertificateValidationError", f"contract chain: {exc}")
        leaf = certs[0]
        try:
            check_signature(GRAMMAR, req.Header.Signature, req, [("PnC_AReqAuthorizationMode", mode)], leaf,
                            algorithm_of_certificate(leaf))
        except SignatureRejected as exc:
            return self._refuse(secc, "FAILED_SignatureError", f"PnC_AReqAuthorizationMode: {exc}")
        emaid = common_name(leaf)
        rejected = secc.record.emaids_rejected
        if emaid in rejected or len(rejected) < self.reject_contracts:
            if emaid not in rejected:
                rejected.append(emaid)
            return self._refuse(secc, self.reject_code, f"contract {emaid} rejected by configuration")
        if emaid not in secc.record.emaids_authorized:
            secc.record.emaids_authorized.append(emaid)
        self.contract_leaf = leaf
        return "OK"

    def install(self, secc: Iso20Secc, req: Any, code: str) -> Any:
        if code != "OK":
            return refused_installation(secc, code)
        res = self.service.answer(req, self.wall_clock)
        self.installations += 1
        if not str(res.ResponseCode).startswith("OK"):
            self.refusals.append(self.service.last_refusal)
            secc.record.refusals.append(self.service.last_refusal)
        res.Header.TimeStamp = secc.unix_time()
        res.Header.SessionID = secc.session_id
        return res

    def check_metering(self, secc: Iso20Secc, req: Any) -> str:
        data = req.SignedMeteringData
        if self.contract_leaf is None:
            return self._refuse(secc, "FAILED_MeteringSignatureNotValid", "no contract was authorised")
        if data.SessionID != secc.session_id:
            return self._refuse(secc, "FAILED_MeteringSignatureNotValid", "SignedMeteringData of another session")
        try:
            check_signature(GRAMMAR, req.Header.Signature, req, [("SignedMeteringData", data)], self.contract_leaf,
                            algorithm_of_certificate(self.contract_leaf))
        except SignatureRejected as exc:
            return self._refuse(secc, "FAILED_MeteringSignatureNotValid", f"SignedMeteringData: {exc}")
        secc.record.metering_confirmations += 1
        return "OK"

    def _refuse(self, secc: Iso20Secc, code: str, why: str) -> str:
        self.refusals.append(why)
        secc.record.refusals.append(why)
        return code
