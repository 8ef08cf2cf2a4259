"""Shared data for the EXI tests: the vectors and schemas that live in ../shared beside the project."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VECTORS = SHARED / "vectors" / "exi_vectors.tsv"


def load_vectors() -> list[dict[str, str]]:
    if not VECTORS.exists():
        return []
    with VECTORS.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="session")
def vectors() -> list[dict[str, str]]:
    rows = load_vectors()
    if not rows:
        pytest.skip(f"SKIPPED: {VECTORS} is absent (../shared is not beside the project)")
    return rows
