"""The peer's tolerated deviations: what the charger (or its modem) sent that the standard does not allow but the
EV could go on with, counted so that a test engineer sees it even when the session succeeds (issue #14).

One counter per (field, value): a charger that repeats the same deviation ten thousand times costs one entry.
The number of distinct (field, value) pairs is bounded too (``max_kinds``); beyond it occurrences are counted in
``overflow`` only. Values are kept as short text (at most :data:`MAX_VALUE_LEN` characters).

Sources (each names its standard clause in ``clause``):

- SLAC (ISO 15118-3 Annex A.8/A.9): fields of received MMEs the EV does not act on (RESP_TYPE, TIME_OUT, ...),
  a missing CM_VALIDATE.CNF (matching by attenuation instead), see :mod:`evcc.slac.machine`;
- EXI (W3C EXI 1.0 §8.5.4.4.1 with the V2G profile, EXI.md §1): an empty value written as a second-level EE
  (EXIficient's form), see :func:`note_exi`;
- V2G values (ISO 15118-2 §8.2.1 [V2G2-168]): an OK supportedAppProtocolRes naming no or another SchemaID when one
  protocol was offered; the audit of every check on received V2G values (kept strict or tolerated) is the table
  in :mod:`evcc.session.tolerance`;
- V2G sessions: an SAScheduleTuple with more PMaxScheduleEntry or SalesTariffEntry than the EV's
  MaxEntriesSAScheduleTuple (ISO 15118-2, read per tuple as EVerest and Josev do,
  :mod:`evcc.session.iso2.schedules`), a PowerSchedule longer than the EV's MaximumSupportingPoints (ISO 15118-20,
  :mod:`evcc.session.iso20.schedule`); the machines report them as :class:`~evcc.session.events.PeerDeviation`
  events, the session's :class:`~evcc.session.session_log.SessionLog` counts them here and :func:`merge_json`
  adds them to the report rows.

Pure data: no clock, no I/O, no globals; the composition root passes one record to the parts that note into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_VALUE_LEN = 64
DEFAULT_MAX_KINDS = 256

OVERFLOW_FIELD = "(other deviations)"  # the report row counting what did not fit
EXI_EMPTY_VALUE_FIELD = "EXI empty simple value"
EXI_EMPTY_VALUE_CLAUSE = "W3C EXI 1.0 §8.5.4.4.1 (second-level EE); V2G encoders write CH of length 0 (EXI.md §1)"


@dataclass(frozen=True, slots=True)
class Deviation:
    """What the peer sent (``field`` = ``value``), what the standard expects, where it says so, how often."""

    field: str
    value: str
    expected: str
    clause: str
    count: int

    def describe(self) -> str:
        times = "" if self.count == 1 else f" ({self.count} times)"
        return f"{self.field}={self.value}, expected {self.expected} [{self.clause}]{times}"

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "expected": self.expected, "clause": self.clause,
                "count": self.count}


def _short(value: object) -> str:
    text = value.hex() if isinstance(value, (bytes, bytearray)) else str(value)
    return text if len(text) <= MAX_VALUE_LEN else text[: MAX_VALUE_LEN - 3] + "..."


class DeviationRecord:
    """Counts per (field, value), in the order first seen; at most ``max_kinds`` of them."""

    __slots__ = ("max_kinds", "_kinds", "overflow")

    def __init__(self, max_kinds: int = DEFAULT_MAX_KINDS) -> None:
        if max_kinds < 1:
            raise ValueError("DeviationRecord: max_kinds must be >= 1")
        self.max_kinds = max_kinds
        # (field, value) -> [expected, clause, count]
        self._kinds: dict[tuple[str, str], list[Any]] = {}
        self.overflow = 0

    def note(self, field: str, value: object, expected: object, clause: str, count: int = 1) -> bool:
        """Count ``count`` occurrences; True when this (field, value) is new (worth one log line)."""
        if count <= 0:
            return False
        key = (field, _short(value))
        entry = self._kinds.get(key)
        if entry is not None:
            entry[2] += count
            return False
        if len(self._kinds) >= self.max_kinds:
            self.overflow += count
            return False
        self._kinds[key] = [_short(expected), clause, count]
        return True

    def merge(self, other: DeviationRecord) -> None:
        """Add another record's counts (e.g. the SLAC machine's into the session's)."""
        for d in other.deviations():
            self.note(d.field, d.value, d.expected, d.clause, d.count)
        self.overflow += other.overflow

    def deviations(self) -> list[Deviation]:
        return [Deviation(f, v, e[0], e[1], e[2]) for (f, v), e in self._kinds.items()]

    def as_json(self) -> list[dict[str, Any]]:
        """The report's ``deviations`` list (an extra row counts what did not fit)."""
        rows = [d.as_dict() for d in self.deviations()]
        if self.overflow:
            rows.append({"field": OVERFLOW_FIELD, "value": "", "expected": "", "clause": "",
                         "count": self.overflow})
        return rows

    def __len__(self) -> int:
        return len(self._kinds)

    def __bool__(self) -> bool:
        return bool(self._kinds) or self.overflow > 0


def merge_json(rows: Sequence[Mapping[str, Any]], record: DeviationRecord) -> list[dict[str, Any]]:
    """Report rows (:meth:`DeviationRecord.as_json`, e.g. SLAC's) with ``record``'s counts added (e.g. a V2G
    session's): one row per (field, value), bounded like a record, what did not fit in the last row."""
    merged = DeviationRecord()
    for row in rows:
        if row.get("field") == OVERFLOW_FIELD:
            merged.overflow += int(row.get("count", 0))
        else:
            merged.note(str(row["field"]), row["value"], row["expected"], str(row["clause"]), int(row["count"]))
    merged.merge(record)
    return merged.as_json()


def note_exi(record: DeviationRecord, grammar: str, message: str, empty_value_as_ee: int) -> None:
    """Note the empty values a received EXI message carried in EXIficient's form (the decoder's count)."""
    if empty_value_as_ee > 0:
        record.note(EXI_EMPTY_VALUE_FIELD, f"second-level EE in {grammar} {message}", "CH of length 0",
                    EXI_EMPTY_VALUE_CLAUSE, empty_value_as_ee)
