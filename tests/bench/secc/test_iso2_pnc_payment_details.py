"""The ISO 15118-2 SECC simulator's PaymentDetails checks (ISO 15118-2 PaymentDetailsReq/Res; test PKI):
the contract chain to the MO root, an expired contract answered FAILED_CertificateExpired (not FAILED_CertChainError),
a chain to an unknown MO root FAILED_CertChainError, and an eMAID that is not the contract certificate's refused.
Added for the Plug & Charge cases of `evcc conformance` (tests/conformance/test_pnc.py runs them end to end)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from evcc.bench.secc.iso2_pnc import SeccPncSim
from evcc.bench.secc.iso2_responder import Iso2Secc
from evcc.contracts.messages2 import certificate_chain
from evcc.contracts.provisioning_service import ProvisioningService
from evcc.contracts.provisioning_sim import ProvisioningSimulator
from evcc.exi import iso2
from evcc.pki.generator import TestPki, build_pki
from evcc.pki.profiles import TEST_EMAIDS, Suite

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture(scope="module")
def pkis() -> tuple[TestPki, TestPki]:
    return build_pki(Suite.ISO2, NOW), build_pki(Suite.ISO2, NOW)


def _answer(pki: TestPki, chain_pki: TestPki, leaf: str, emaid: str) -> tuple[str, SeccPncSim]:
    sim = SeccPncSim(ProvisioningService(ProvisioningSimulator(pki), TEST_EMAIDS[0]), NOW)
    ders = [c.public_bytes(Encoding.DER) for c in chain_pki.chain(leaf)]
    req = iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=bytes(8)), Body=iso2.BodyType(
        PaymentDetailsReq=iso2.PaymentDetailsReqType(eMAID=emaid, ContractSignatureCertChain=certificate_chain(ders))))
    _, res = sim.respond(Iso2Secc(pnc=sim), "PaymentDetailsRes", req, "OK")
    assert len(res.GenChallenge) == 16
    return str(res.ResponseCode), sim


@pytest.mark.parametrize(("leaf", "emaid", "code"), [
    ("contract_1", TEST_EMAIDS[0], "OK"),
    ("broken_contract_expired", TEST_EMAIDS[0], "FAILED_CertificateExpired"),
    ("contract_1", TEST_EMAIDS[1], "FAILED"),
])
def test_payment_details_checks_validity_and_emaid(pkis: tuple[TestPki, TestPki], leaf: str, emaid: str,
                                                   code: str) -> None:
    got, sim = _answer(pkis[0], pkis[0], leaf, emaid)
    assert got == code, sim.refusals
    assert (sim.contract_leaf is not None) == (code == "OK")
    assert bool(sim.refusals) == (code != "OK")


def test_payment_details_refuses_a_chain_to_an_unknown_mo_root(pkis: tuple[TestPki, TestPki]) -> None:
    got, sim = _answer(pkis[0], pkis[1], "contract_1", TEST_EMAIDS[0])
    assert got == "FAILED_CertChainError" and sim.contract_leaf is None
