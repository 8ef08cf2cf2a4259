"""The suite checked the other way (issue 16 point 3): with each fault of the simulator's fault layer
(evcc.bench.secc.faults) switched on, at least one case fails, and it is the case that names what the fault
broke. In memory on the virtual clock, for DIN SPEC 70121, ISO 15118-2 and ISO 15118-20 alike; the certificate
faults need TLS and run over loopback (test_tls_loopback.py). A fault kind added to the fault layer without a row
here fails test_every_fault_kind_has_a_row."""

from __future__ import annotations

import asyncio

import pytest

from evcc.bench.secc.faults import CERT_KINDS, FaultKind, parse_fault
from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.model import CaseResult, Verdict
from evcc.conformance.runner import RunOptions, run_suite
from tests.conformance.simulator import memory_charger

# per protocol: the case id prefix and its names of ServiceDiscovery, ChargeParameterDiscovery, CableCheck,
# PreCharge and the charge loop response
PROTOCOLS = {
    "DIN": ("ServiceDiscoveryRes", "ChargeParameterDiscoveryRes", "CableCheckRes", "PreChargeRes", "CurrentDemandRes"),
    "ISO2-DC": ("ServiceDiscoveryRes", "ChargeParameterDiscoveryRes", "CableCheckRes", "PreChargeRes",
                "CurrentDemandRes"),
    "ISO20-DC": ("ServiceDiscoveryRes", "DC_ChargeParameterDiscoveryRes", "DC_CableCheckRes", "DC_PreChargeRes",
                 "DC_ChargeLoopRes"),
}

# (fault spec with {SD} {CPD} {CC} {PC} {CD} for the protocol's responses, the case expected to fail)
ROWS = (
    ("code:{SD}=FAILED", "RES-{SD}"),
    ("session-id:{SD}", "RES-{SD}"),
    ("delay:{CC}", "PERF-{CC}"),
    ("silence:{CPD}", "RES-{CPD}"),
    ("stall:{CC}=1", "PROG-{CC}"),
    ("unexpected:{PC}", "RES-{PC}"),
    ("garbage-exi:{CPD}", "RES-{CPD}"),
    ("disconnect:{CC}", "RES-{CC}"),
    ("oversized", "RES-SessionSetup"),
    ("truncated:{CD}", "RES-{CD}"),
    ("wrong-version:SessionSetupRes", "RES-SessionSetup"),
    ("wrong-payload-type:{SD}", "RES-{SD}"),
)
SAP_ROW = ("code:supportedAppProtocolRes=Failed_NoNegotiation", "SAP-performance")


def _fill(text: str, names: tuple[str, ...]) -> str:
    keys = ("SD", "CPD", "CC", "PC", "CD")
    for key, name in zip(keys, names):
        tag = name[: -len("Res")] if text.startswith(("RES", "PERF", "PROG")) else name
        text = text.replace("{" + key + "}", tag)
    return text


def _run(spec: str, pattern: str) -> list[CaseResult]:
    cases = select(all_cases(), [pattern])
    return asyncio.run(run_suite(cases, lambda: memory_charger(parse_fault(spec)), RunOptions()))


def test_every_fault_kind_has_a_row() -> None:
    kinds = {FaultKind(spec.split(":")[0]) for spec, _ in (*ROWS, SAP_ROW)}
    assert kinds | CERT_KINDS == set(FaultKind)


@pytest.mark.parametrize("prefix", sorted(PROTOCOLS))
@pytest.mark.parametrize("row", ROWS, ids=[r[0].split(":")[0] for r in ROWS])
def test_fault_fails_the_case_that_names_it(prefix: str, row: tuple[str, str]) -> None:
    names = PROTOCOLS[prefix]
    spec, expected = _fill(row[0], names), f"{prefix}-{_fill(row[1], names)}"
    results = _run(spec, f"{prefix}-*")
    failed = {r.case.id: r.reason for r in results if r.verdict is Verdict.FAIL}
    assert expected in failed, (spec, sorted(failed))
    assert failed[expected]


def test_sap_fault_fails_the_sap_case() -> None:
    results = _run(SAP_ROW[0], "SAP-*")
    failed = {r.case.id: r.reason for r in results if r.verdict is Verdict.FAIL}
    assert SAP_ROW[1] in failed and "Failed_NoNegotiation" in failed[SAP_ROW[1]]
