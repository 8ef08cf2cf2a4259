"""Plug & Charge stimuli of ``evcc conformance`` (issue 16), ISO 15118-2 §8.4.3.6 PaymentDetails, §8.4.3.7
Authorization and §8.4.3.13 MeteringReceipt: contract chains and signatures a charger must refuse, built from the
EV's own contract side (the key store and contract store behind :class:`~evcc.session.iso2.pnc.ContractPort`) and
the test PKI the charger trusts (``evcc pki init``; its ``broken_contract_expired`` leaf under the MO Sub-CA 2) plus
a second test PKI as the unknown MO root. Each deviation is a changed copy of the request the EV machine built.

==================  =============================  ==============================================================
deviation           request                        what changes
==================  =============================  ==============================================================
expired-chain       PaymentDetailsReq              ContractSignatureCertChain: an expired leaf of the trusted MO
untrusted-chain     PaymentDetailsReq              ContractSignatureCertChain: a chain to an unknown MO root
wrong-emaid         PaymentDetailsReq              eMAID: another valid eMAID than the certificate's
old-challenge       AuthorizationReq               GenChallenge: the one issued in an earlier session (else
                                                   this one with its bits changed), correctly signed over it
bad-signature       AuthorizationReq               Header Signature: one byte of SignatureValue flipped
bad-receipt         MeteringReceiptReq             Header Signature: one byte of SignatureValue flipped
==================  =============================  ==============================================================
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from evcc.contracts.messages2 import certificate_chain
from evcc.errors import ConfigError
from evcc.pki.generator import TestPki
from evcc.pki.profiles import TEST_EMAIDS
from evcc.session.iso2.pnc import ContractPort

DEVIATIONS = ("expired-chain", "untrusted-chain", "wrong-emaid", "old-challenge", "bad-signature", "bad-receipt")


@dataclass(frozen=True)
class PncMaterial:
    """``contracts``: the EV's contract side with an installed contract; ``pki``: the test PKI the charger trusts;
    ``foreign``: another test PKI (same suite), whose MO root the charger does not know."""

    contracts: ContractPort
    pki: TestPki
    foreign: TestPki


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
