"""The catalogue as data (issue 16 point 1): unique ids, requirements on every case, coverage of every area and
protocol family, selection by pattern/protocol/--full, and malformed cases refused with a message naming them."""

from __future__ import annotations

import collections

import pytest

from evcc.conformance.catalogue import all_cases, family, select
from evcc.conformance.model import (Case, CatalogueError, Check, Expect, ExpectKind, Phase, Precondition, Stimulus,
                                    StimulusKind)


def test_catalogue_has_breadth_across_din_iso2_iso20() -> None:
    cases = all_cases()
    assert len(cases) >= 120
    families = collections.Counter(family(c.protocols[0]) for c in cases if c.phase is Phase.SESSION)
    assert families["din"] >= 40 and families["iso2"] >= 40 and families["iso20"] >= 40
    areas = {c.area for c in cases}
    assert {"sdp", "sap", "tls", "v2gtp", "session", "sequence", "content", "timing", "range", "stop"} <= areas
    assert all(c.requirements and c.title for c in cases)


def test_sequence_errors_cover_every_state_of_the_din_session() -> None:
    din_seq = {c.precondition.request for c in all_cases() if c.id.startswith("DIN-SEQ-")}
    assert {"ServiceDiscoveryReq", "ServicePaymentSelectionReq", "ContractAuthenticationReq",
            "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq",
            "WeldingDetectionReq"} <= din_seq


def test_select_by_pattern_protocol_and_full() -> None:
    cases = all_cases()
    assert {c.id for c in select(cases, ["DIN-SEQ-*"])} == {c.id for c in cases if c.id.startswith("DIN-SEQ-")}
    iso20 = select(cases, protocols=["iso20"])
    assert iso20 and all(any(p.startswith("iso20") or p == "iso20" for p in c.protocols) for c in iso20)
    assert not any(c.full_only for c in select(cases))
    assert any(c.full_only for c in select(cases, full=True))


def test_malformed_case_is_refused_naming_it() -> None:
    with pytest.raises(CatalogueError, match="BAD-1"):
        Case("BAD-1", "t", "x", ("din",), ("r",), Phase.SESSION, Precondition("din", None), Stimulus(),
             Expect(ExpectKind.RESPONSE, "SessionSetupRes"))
    with pytest.raises(CatalogueError, match="rule 'bigger'"):
        Case("BAD-2", "t", "x", ("din",), ("r",), Phase.SESSION, Precondition("din", "SessionSetupReq"),
             Stimulus(StimulusKind.NONE), Expect(ExpectKind.RESPONSE, "SessionSetupRes", checks=(Check("a", "bigger"),)))
    with pytest.raises(CatalogueError, match="id"):
        Case("no spaces", "t", "x", ("din",), ("r",), Phase.SDP, Precondition(), Stimulus(),
             Expect(ExpectKind.NO_RESPONSE))
