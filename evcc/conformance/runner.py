"""Runs charger test cases (issue 16): for each case a fresh SDP, connection and SupportedAppProtocol, then the
EV's own protocol machine until the precondition, then the stimulus instead of (or around) the request the
machine built, and the charger's reaction read against the expectation. The machines are sans-IO: their requests
come out as message objects, so a deviation is a changed copy of that object (another SessionID, an earlier
request, a field at a limit) or raw bytes, and nothing in the session code changes.

Verdicts: PASS/FAIL from the reaction; INCONCLUSIVE when the charger did not take the session to the
precondition (the reason says how far it got), NOT_APPLICABLE when it does not offer the protocol or TLS. A case
never raises: a charger that crashes, hangs or answers garbage gives that case a verdict with the reason and the
suite goes on with the next case. Timing is the charger's clock (:class:`~evcc.conformance.link.Charger`): real
over the network, virtual in memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from evcc.conformance.context import CaseOutcome, CaseRun, RunOptions, SuiteState
from evcc.conformance.link import Charger
from evcc.conformance.model import Case, CaseResult, Phase, Verdict
from evcc.conformance.session_phase import contract_ports, session_case
from evcc.conformance.transport_phase import (known_not_offered, needs_probe, open_link, sap_case, sdp_case,
                                              supported, tls_case)
from evcc.errors import EvccError

__all__ = ["RunOptions", "run_case", "run_suite"]


async def run_case(case: Case, charger: Charger, opts: RunOptions, suite: SuiteState | None = None) -> CaseResult:
    """One case; always a result. ``suite``: what earlier cases of the run learnt (protocols not offered)."""
    run = CaseRun(case, charger, opts, charger.now(), suite if suite is not None else SuiteState())
    wall = time.time()
    try:
        async with asyncio.timeout(opts.case_timeout):
            verdict, reason = await _phase(run)
    except CaseOutcome as out:
        verdict, reason = out.verdict, out.reason
    except TimeoutError:
        verdict, reason = Verdict.INCONCLUSIVE, f"the case did not finish within {opts.case_timeout} s"
    except EvccError as exc:  # a stimulus the codec refuses, a configuration the case cannot use
        verdict, reason = Verdict.INCONCLUSIVE, f"suite: {exc}"
    if run.dropped:
        run.note("suite", "note", f"{run.dropped} exchange rows left out")
    return CaseResult(case, verdict, reason, started=wall, duration=charger.now() - run.t0,
                      exchange=run.exchange, timings=run.timings)


async def _phase(run: CaseRun) -> tuple[Verdict, str]:
    phase = run.case.phase
    if phase is Phase.SDP:
        return await sdp_case(run)
    if phase is Phase.SESSION or needs_probe(run):
        known_not_offered(run, run.case.precondition.protocol)
        contract_ports(run)  # a Plug & Charge case without contract material: not applicable, no session
    if needs_probe(run):  # before the case's own connection: a charger may serve one connection at a time
        await supported(run, run.case.precondition.protocol)
    link = await open_link(run)
    try:
        if phase is Phase.TLS:
            return await tls_case(run, link)
        if phase is Phase.SAP:
            return await sap_case(run, link)
        return await session_case(run, link)
    finally:
        link.close()


async def run_suite(cases: Sequence[Case], make_charger: Callable[[], Charger], opts: RunOptions,
                    progress: Callable[[int, int, CaseResult], None] | None = None,
                    results: list[CaseResult] | None = None) -> list[CaseResult]:
    """The cases one after the other, each on a fresh connection (and SDP). Results go into ``results`` as they
    come, so a caller that is interrupted still has what ran."""
    out = results if results is not None else []
    charger = make_charger()
    state = SuiteState()
    for i, case in enumerate(cases):
        try:
            result = await run_case(case, charger, opts, state)
        except Exception as exc:  # noqa: BLE001 - a suite bug on one case must not lose the others' verdicts
            result = CaseResult(case, Verdict.INCONCLUSIVE, f"suite error: {type(exc).__name__}: {exc}")
        out.append(result)
        if progress is not None:
            progress(i + 1, len(cases), result)
    return out
