"""Whatever bytes the configuration file holds, load_config raises only AppConfigError with one bounded line
(issue 20: findings of the py-config fuzz target, fuzz/regressions/py-config/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcc.app.config import load_config
from evcc.app.errors import AppConfigError

REGRESSIONS = Path(__file__).resolve().parents[2] / "fuzz" / "regressions" / "py-config"


@pytest.mark.parametrize(("text", "message"), [
    (b"a=" + b"1" * 4301, "not valid TOML: Exceeds the limit (4300 digits) for integer string conversion"),
    (b'"\\n"=1', "unknown section [\\n] (known: plc,"),
    (b"k" * 1000 + b"=1", "unknown section [kkkkkkkkkkkkkkkkkkkkkkkkkkk...kkkkkkkkkkkkkkkkkkkkkkkkkkkk] (known: plc,"),
    (b'[plc]\ninterface="x"\n[hsm]\npin_file="p"\n[log]\n"a\\nb"=1', "[log]: unknown key 'a\\nb' (known: level)"),
])
def test_untrusted_text_gives_one_bounded_line(tmp_path: Path, text: bytes, message: str) -> None:
    path = tmp_path / "evcc.toml"
    path.write_bytes(text)
    with pytest.raises(AppConfigError) as err:
        load_config(path)
    shown = str(err.value)
    assert shown.startswith(f"{path}: {message}") and "\n" not in shown and len(shown) < 400


def test_the_fuzz_regressions_of_the_loader_give_one_line(tmp_path: Path) -> None:
    files = sorted(REGRESSIONS.iterdir())
    assert files
    for file in files:
        path = tmp_path / "evcc.toml"
        path.write_bytes(file.read_bytes())
        with pytest.raises(AppConfigError) as err:
            load_config(path)
        assert "\n" not in str(err.value) and len(str(err.value)) < 400, file.name
