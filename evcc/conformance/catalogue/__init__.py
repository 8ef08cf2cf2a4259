"""The catalogue of charger test cases, one data table per protocol area (transport: SDP, SupportedAppProtocol,
TLS; din; iso2; iso20). :func:`all_cases` checks that ids are unique; :func:`select` picks by protocol, id pattern
(shell-style, ``DIN-SEQ-*``) and ``--full`` (long timeouts)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from evcc.conformance.catalogue import din, iso2, iso20, pnc, transport
from evcc.conformance.model import Case, CatalogueError

AREAS = (transport, din, iso2, iso20, pnc)


def all_cases() -> list[Case]:
    cases = [case for area in AREAS for case in area.cases()]
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise CatalogueError(f"case id {case.id} appears twice in the catalogue")
        seen.add(case.id)
    return cases


def family(protocol: str) -> str:
    """``iso20-dc-bpt`` -> ``iso20`` (a --protocol choice names a family or one machine key)."""
    return "iso20" if protocol.startswith("iso20") else protocol


def select(cases: Iterable[Case], patterns: Sequence[str] = (), protocols: Sequence[str] = (),
           full: bool = False) -> list[Case]:
    out = []
    for case in cases:
        if case.full_only and not full:
            continue
        if protocols and not any(p in case.protocols or p in {family(c) for c in case.protocols} for p in protocols):
            continue
        if patterns and not any(fnmatch.fnmatchcase(case.id, p) for p in patterns):
            continue
        out.append(case)
    return out
