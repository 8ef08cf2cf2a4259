"""TOML text from a file a person or another process wrote: every way `tomllib` can refuse it is one error.

`tomllib.loads` raises its own TOMLDecodeError for most bad text, but two inputs get past it: an integer literal
longer than CPython's `sys.get_int_max_str_digits()` (4,300 digits) raises a plain ValueError from int(), and
arrays or inline tables nested thousands deep raise RecursionError. Found by the py-config fuzz target (issue 20).
"""

from __future__ import annotations

import tomllib
from typing import Any


def parse_toml(text: str) -> dict[str, Any]:
    """`tomllib.loads`, with every refusal raised as `tomllib.TOMLDecodeError` and a one-line message."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except ValueError as exc:  # int() past the digit limit: tomllib does not wrap it
        raise tomllib.TOMLDecodeError(str(exc).split(':')[0]) from None
    except RecursionError:
        raise tomllib.TOMLDecodeError("arrays or inline tables nested too deeply") from None
