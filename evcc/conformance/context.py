"""What one case run carries (issue 16): the run options, the case's exchange record, the way a case ends from
anywhere (:class:`CaseOutcome`), and how a response is judged (ResponseCode patterns, field checks, the SessionID
the charger assigned, V2G_SECC_Msg_Performance_Time: DIN SPEC 70121 Table 75, ISO 15118-2 Table 109)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evcc.conformance.judge import check_fields, code_matches, late
from evcc.conformance.link import Broken, Charger, Closed, Received
from evcc.conformance.messages import body_of, element_name, session_id_of
from evcc.conformance.model import Case, ExpectKind, StimulusKind, Verdict
from evcc.session.connection import TlsConfig

if TYPE_CHECKING:
    from evcc.conformance.pnc import PncMaterial


GARBAGE_EXI = b"\x80\xff\xff\xff\xff\x00\x13\x37"
MAX_EXCHANGE = 120  # exchange rows kept per case (the first 20 and the last 100)
MAX_STEPS = 100_000


@dataclass(frozen=True)
class RunOptions:
    """``tls12``/``tls13``: the EV's TLS settings (V2G roots; -20: the vehicle certificate) for TLS cases and
    TLS preconditions; without them those cases are not applicable. ``charge_seconds``: how long the EV charges
    before it declares charging complete (the stop paths)."""

    evcc_id: bytes = bytes.fromhex("02005e000001")
    tls12: TlsConfig | None = None
    tls13: TlsConfig | None = None
    sdp_requests: int = 50  # [V2G2-161]: a charger that pauses SDP between sessions (Josev: ~5 s) is still found
    sdp_wait: float = 0.25
    charge_seconds: float = 1.0
    case_timeout: float = 90.0  # a case that takes longer (wall clock) is cut: INCONCLUSIVE
    full: bool = False
    pack_voltage: tuple[float, float] | None = None  # LAB: the vehicle's pack (a charger with a low voltage limit)
    precharge_tolerance: float | None = None  # LAB: PreCharge ends within this many V of the battery voltage
    min_msg_timeout: float | None = None  # LAB: the EV's V2G_EVCC_Msg_Timeout raised to this (a slow charger);
    # the verdicts still use the standard's performance times
    session_tls: bool = False  # SupportedAppProtocol and session cases over TLS too (a charger that offers only TLS)
    pnc: PncMaterial | None = None  # Plug & Charge cases: the EV's contract side and test PKIs; None: not applicable


class CaseOutcome(Exception):
    """Ends a case with a verdict from anywhere in the run."""

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


def stop(verdict: Verdict, reason: str) -> CaseOutcome:
    return CaseOutcome(verdict, reason)


@dataclass
class SuiteState:
    """What one case learns for the next ones: the namespaces the charger refused (Failed_NoNegotiation), so that
    the later cases of that protocol are not applicable without another session."""

    not_offered: set[str] = field(default_factory=set)
    challenges: list[bytes] = field(default_factory=list)  # GenChallenges the charger issued (PaymentDetailsRes)


@dataclass
class CaseRun:
    case: Case
    charger: Charger
    opts: RunOptions
    t0: float
    suite: SuiteState = field(default_factory=SuiteState)
    exchange: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    dropped: int = 0

    def note(self, direction: str, name: str, detail: str = "", t: float | None = None) -> None:
        row = {"t": round((self.charger.now() if t is None else t) - self.t0, 6), "dir": direction, "name": name,
               "detail": detail}
        self.exchange.append(row)
        if len(self.exchange) > MAX_EXCHANGE:
            del self.exchange[20]
            self.dropped += 1


def what(item: Received | None) -> str:
    if item is None:
        return "no answer"
    if isinstance(item, (Broken, Closed)):
        return item.reason
    return f"a message ({item.payload_type:#06x})"


def not_a_response(run: CaseRun, item: Received | None, wait: float) -> tuple[Verdict, str]:
    kind = run.case.expect.kind
    if isinstance(item, Closed) and kind in (ExpectKind.CLOSE, ExpectKind.REFUSE, ExpectKind.IGNORE):
        return Verdict.PASS, "the charger closed the connection"
    if item is None and kind is ExpectKind.IGNORE:
        return Verdict.PASS, f"no response within {wait:g} s (ignored)"
    if item is None and kind is ExpectKind.CLOSE:
        return Verdict.FAIL, f"the connection stayed open for {wait:g} s (V2G_SECC_Sequence_Timeout not applied)"
    if isinstance(item, Broken):
        return Verdict.FAIL, f"broken V2GTP from the charger: {item.reason}"
    if item is None:
        return Verdict.FAIL, f"no response within {wait:g} s"
    return Verdict.FAIL, what(item)


def judge_response(run: CaseRun, res: Any, wanted: str, session_id: bytes | None, elapsed: float,
                   performance: float | None) -> tuple[Verdict, str]:
    return judge_case_response(run.case, res, wanted, session_id, elapsed, performance)


def judge_case_response(case: Case, res: Any, wanted: str, session_id: bytes | None, elapsed: float,
                        performance: float | None) -> tuple[Verdict, str]:
    """The verdict on ``res``, the charger's answer to the case's stimulus (also used on captures: --passive)."""
    expect = case.expect
    name = element_name(res)
    if expect.kind is ExpectKind.RESPONSE and expect.response:
        wanted = expect.response
    if name != wanted:
        return Verdict.FAIL, f"{name} instead of {wanted}"
    code = str(getattr(body_of(res), "ResponseCode", ""))
    if expect.kind in (ExpectKind.REFUSE, ExpectKind.IGNORE):
        if code.startswith("FAILED") or code.startswith("Failed"):
            return Verdict.PASS, f"{name} {code}"
        return Verdict.FAIL, f"{name} {code}: the charger accepted it"
    if not code_matches(code, expect.codes):
        return Verdict.FAIL, f"{name} ResponseCode {code}, expected {' or '.join(expect.codes)}"
    checks = list(expect.checks)
    stim = case.stimulus.kind
    failed = check_fields(res, checks, session_id)
    if failed is None and session_id is not None and name not in ("SessionSetupRes", "supportedAppProtocolRes") \
            and stim in (StimulusKind.NONE, StimulusKind.MUTATE, StimulusKind.STOP, StimulusKind.DELAY):
        got = session_id_of(res)
        if got is not None and got != session_id:
            failed = f"Header.SessionID {got.hex().upper()} is not the session's {session_id.hex().upper()}"
    if failed is not None:
        return Verdict.FAIL, f"{name}: {failed}"
    if performance is not None:
        slow = late(elapsed, performance, name)
        if slow is not None:
            return Verdict.FAIL, f"{slow} (V2G_SECC_Msg_Performance_Time)"
    return Verdict.PASS, f"{name} {code}".strip()
