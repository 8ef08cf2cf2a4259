"""What the `evcc session` report (evcc.session.report) and the `evcc bench` report (evcc.bench.report) share:
the per-message-type timing summary and the atomic write of an output file (temp file in the same folder, fsync,
rename, fsync the folder: the target holds the complete old or the complete new content after a crash).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Iterable
from pathlib import Path

from evcc.errors import ConfigError


def timing_summary(samples: Iterable[tuple[str, float]]) -> list[tuple[str, int, float, float]]:
    """(message type, count, median ms, max ms) per message type, in order of first appearance, from
    (message type, milliseconds) samples; figures rounded to the microsecond."""
    by_type: dict[str, list[float]] = {}
    for name, ms in samples:
        by_type.setdefault(name, []).append(ms)
    return [(name, len(v), round(statistics.median(v), 3), round(max(v), 3)) for name, v in by_type.items()]


def write_atomic(path: Path, data: bytes, option: str) -> None:
    """Write ``data`` to ``path`` atomically and durably; a failure is a ConfigError naming ``option`` (the
    command-line option that named the file) and the path."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}") from exc
