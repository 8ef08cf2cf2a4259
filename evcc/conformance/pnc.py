"""Plug & Charge stimuli of ``evcc conformance`` (issue 16), ISO 15118-2 PaymentDetails,
Authorization and MeteringReceipt: contract chains and signatures a charger must refuse, built from the
EV's own contract side (the key store and contract store behind :class:`~evcc.session.iso2.pnc.ContractPort`) and
the test PKI the charger trusts (``evcc pki init``; its ``broken_contract_expired`` leaf under the MO Sub-CA 2) plus
a second test PKI as the unknown MO root. Each deviation is a changed copy of the request the EV machine built.
ISO 15118-20 (AuthorizationReq with PnC_AReqAuthorizationMode, MeteringConfirmationReq): the
same deviations where the message has the element (no eMAID element in -20); a changed contract chain is signed
again with that chain's own key (a charger may check the signature before the chain and must refuse either way).

==================  =============================  ==============================================================
deviation           request                        what changes
==================  =============================  ==============================================================
expired-chain       PaymentDetailsReq              ContractSignatureCertChain: an expired leaf of the trusted MO
untrusted-chain     PaymentDetailsReq              ContractSignatureCertChain: a chain to an unknown MO root
wrong-emaid         PaymentDetailsReq              eMAID: another valid eMAID than the certificate's
old-challenge       AuthorizationReq               GenChallenge: the one issued in an earlier session (else
                                                   this one with its bits changed), correctly signed over it
bad-signature       AuthorizationReq               Header Signature: one byte of SignatureValue flipped
bad-receipt         MeteringReceiptReq (-2),       Header Signature: one byte of SignatureValue flipped
                    MeteringConfirmationReq (-20)
==================  =============================  ==============================================================
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.messages2 import certificate_chain
from evcc.errors import ConfigError
from evcc.exi.signature import ECDSA_SHA256, ECDSA_SHA512, EDDSA_ED448, Algorithm, sign_elements
from evcc.hsm.hostcrypto import HASHES, ecdsa_raw
from evcc.hsm.keystore import KeyAlgorithm
from evcc.pki.generator import TestPki, build_pki, load_private_key
from evcc.pki.profiles import TEST_EMAIDS, Suite
from evcc.session.iso2.pnc import ContractPort
from evcc.session.iso20.pnc import ContractPort20, contract_chain

DEVIATIONS = ("expired-chain", "untrusted-chain", "wrong-emaid", "old-challenge", "bad-signature", "bad-receipt")


@dataclass(frozen=True)
class PncMaterial:
    """``contracts``: the EV's contract side with an installed contract; ``pki``: the test PKI the charger trusts;
    ``foreign``: another test PKI (same suite), whose MO root the charger does not know. A CertificateInstallation
    case asks ``installer`` for a contract side without a contract."""

    contracts: ContractPort | None
    pki: TestPki
    foreign: TestPki
    contracts20: ContractPort20 | None = None  # ISO 15118-20: the EV's -20 contract side and its suite's PKIs
    pki20: TestPki | None = None
    foreign20: TestPki | None = None
    installer: Callable[[], ContractPort] | None = None  # -2: a contract side without a contract (a fresh store
    # each call): the EV does CertificateInstallation (the CertificateInstallation cases)


def load_test_pki(folder: Path, suite: Suite = Suite.ISO2) -> TestPki:
    """One suite of a test PKI written by ``evcc pki init`` (``<folder>/<suite>/certs/*.pem``, ``keys/*.key``)."""
    base = folder / suite.value
    if not (base / "certs").is_dir():
        raise ConfigError(f"--pnc-pki {folder}: no {suite.value}/certs folder (a test PKI from `evcc pki init`)")
    pki = TestPki(suite, datetime.now(timezone.utc))
    try:
        for path in sorted((base / "certs").glob("*.pem")):
            pki.certs[path.stem] = x509.load_pem_x509_certificate(path.read_bytes())
        for path in sorted((base / "keys").glob("*.key")):
            pki.keys[path.stem] = load_private_key(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--pnc-pki {folder}: {exc}") from exc
    for name in ("mo_root", "mo_sub_ca_2", "broken_contract_expired"):
        if name not in pki.certs or name not in pki.keys and name != "mo_root":
            raise ConfigError(f"--pnc-pki {folder}: {suite.value} has no {name} (certificate and key)")
    return pki


def foreign_pki(suite: Suite = Suite.ISO2) -> TestPki:
    """A test PKI generated now: its MO root is one no charger knows (the untrusted-chain deviation)."""
    return build_pki(suite, datetime.now(timezone.utc))


def _ders(pki: TestPki, leaf: str) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in pki.chain(leaf)]


def _flip_signature(msg: Any) -> Any:
    changed = copy.deepcopy(msg)
    signature = getattr(changed.Header, "Signature", None)
    if signature is None:
        raise ConfigError("the request carries no Header Signature to break")
    value = bytearray(signature.SignatureValue.value)
    value[-1] ^= 0x01
    signature.SignatureValue.value = bytes(value)
    return changed


def deviate(material: PncMaterial, msg: Any, deviation: str, session_id: bytes, old_challenge: bytes | None = None
            ) -> Any:
    """A copy of ``msg`` (the request the EV machine built) with ``deviation`` applied; ``old_challenge``: a
    GenChallenge the charger issued in an earlier session (a charger that issues the same one again accepts it)."""
    if deviation == "bad-signature" or deviation == "bad-receipt":
        return _flip_signature(msg)
    if getattr(msg, "Body", None) is None:
        return _deviate20(material, msg, deviation, session_id, old_challenge)
    if material.contracts is None:
        raise ConfigError("no ISO 15118-2 contract side given")
    changed = copy.deepcopy(msg)
    if deviation == "expired-chain":
        changed.Body.PaymentDetailsReq.ContractSignatureCertChain = certificate_chain(
            _ders(material.pki, "broken_contract_expired"))
    elif deviation == "untrusted-chain":
        changed.Body.PaymentDetailsReq.ContractSignatureCertChain = certificate_chain(
            _ders(material.foreign, "contract_1"))
    elif deviation == "wrong-emaid":
        own = str(changed.Body.PaymentDetailsReq.eMAID)
        changed.Body.PaymentDetailsReq.eMAID = next(e for e in TEST_EMAIDS if e.replace("-", "") != own)
    elif deviation == "old-challenge":
        contract = material.contracts.contract()
        if contract is None:
            raise ConfigError("no installed contract to sign the AuthorizationReq with")
        old = old_challenge or bytes(b ^ 0x5A for b in bytes(msg.Body.AuthorizationReq.GenChallenge))
        return material.contracts.authorization_req(session_id, old, contract)
    else:
        raise ConfigError(f"Plug & Charge deviation {deviation!r} is not one of {', '.join(DEVIATIONS)}")
    return changed


_PKI_GRAMMAR = "iso20-common-fragment"


def _signer(pki: TestPki, name: str) -> tuple[Any, Algorithm]:
    """The host signer of a test PKI key, and its XML signature algorithm (-20 suites: P-521, Ed448)."""
    key = pki.signing_key(name)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = {521: KeyAlgorithm.EC_P521, 256: KeyAlgorithm.EC_P256}[key.curve.key_size]
        uri = ECDSA_SHA512 if algorithm is KeyAlgorithm.EC_P521 else ECDSA_SHA256
        return (lambda d: ecdsa_raw(key.sign(d, ec.ECDSA(HASHES[algorithm])), algorithm)), uri
    return key.sign, EDDSA_ED448


def _deviate20(material: PncMaterial, msg: Any, deviation: str, session_id: bytes, old_challenge: bytes | None
               ) -> Any:
    if material.contracts20 is None or material.pki20 is None or material.foreign20 is None:
        raise ConfigError("no ISO 15118-20 contract side and test PKIs given")
    mode = getattr(msg, "PnC_AReqAuthorizationMode", None)
    if mode is None:
        raise ConfigError(f"deviation {deviation!r} needs a PnC AuthorizationReq")
    if deviation == "old-challenge":
        contracts = material.contracts20.contracts()
        if not contracts:
            raise ConfigError("no installed -20 contract to sign the AuthorizationReq with")
        old = old_challenge or bytes(b ^ 0x5A for b in bytes(mode.GenChallenge))
        return material.contracts20.authorization_req(session_id, int(msg.Header.TimeStamp), old, contracts[0])
    if deviation == "expired-chain":
        pki, leaf = material.pki20, "broken_contract_expired"
    elif deviation == "untrusted-chain":
        pki, leaf = material.foreign20, "contract_1"
    else:
        raise ConfigError(f"Plug & Charge deviation {deviation!r} does not apply to ISO 15118-20 Authorization")
    changed = copy.deepcopy(msg)
    changed.PnC_AReqAuthorizationMode.ContractCertificateChain = contract_chain(_ders(pki, leaf))
    sign, algorithm = _signer(pki, leaf)
    changed.Header.Signature = sign_elements(_PKI_GRAMMAR, [("PnC_AReqAuthorizationMode",
                                                             changed.PnC_AReqAuthorizationMode)], sign, algorithm)
    return changed
