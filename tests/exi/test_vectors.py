"""Every vector of ../shared/vectors/exi_vectors.tsv behaves as its `expect` column says (EXI.md §5), through the
Python face: roundtrip bytes and the JSON view, trailing zeros, decode-only, non-conformant output, rejects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evcc import exi
from tests.exi.conftest import load_vectors

ROWS = load_vectors()


def _upper(v: Any) -> Any:
    if isinstance(v, str):
        return v.upper()
    if isinstance(v, list):
        return [_upper(x) for x in v]
    if isinstance(v, dict):
        return {k: _upper(x) for k, x in v.items()}
    return v


def _decode(grammar: str, data: bytes) -> tuple[str, Any]:
    if grammar.endswith("fragment"):
        f = exi.decode_fragment(grammar, data)
        return f.name, f.value
    f = exi.decode_named(grammar, data)
    return f.name, f.value


def _encode(grammar: str, name: str, value: Any) -> bytes:
    if grammar.endswith("fragment"):
        return exi.encode_fragment(value, element=name, grammar=grammar)
    return exi.encode(value, element=name)


@pytest.mark.skipif(not ROWS, reason="SKIPPED: ../shared/vectors/exi_vectors.tsv is absent")
@pytest.mark.parametrize("row", ROWS, ids=[f"{r['id']}-{r['grammar']}-{r['message']}-{r['expect']}" for r in ROWS])
def test_vector(row: dict[str, str]) -> None:
    grammar, data, expect = row["grammar"], bytes.fromhex(row["hex"]), row["expect"]
    if expect == "reject":
        with pytest.raises(exi.ExiError) as info:
            _decode(grammar, data)
        assert isinstance(info.value, ValueError)
        assert " at /" in str(info.value) and "bit" in str(info.value)
        return
    if expect == "nonconformant":  # our codec must never produce these bytes
        try:
            name, value = _decode(grammar, data)
        except exi.ExiError:
            return
        assert _encode(grammar, name, value) != data
        return
    name, value = _decode(grammar, data)
    if expect == "decode":
        return
    again = _encode(grammar, name, value)
    want = data.rstrip(b"\0") if expect == "trailing" else data
    if expect == "trailing":
        want = data[: len(again)]
        assert set(data[len(again):]) <= {0}
    assert again == want
    assert exi.decode(grammar, again) == value
    if row["json"]:
        assert _upper(json.loads(exi.to_json(grammar, data))) == _upper(json.loads(row["json"]))
        assert exi.from_json(grammar, row["json"]) == want
