"""TLS application data of a capture decrypted by tshark from an NSS key log (the bench's ``--trace`` key log, or
one a lab EV wrote): issue 16 point 4 asks for a maintained implementation, so the decryption is Wireshark's and
this module only runs ``tshark`` and reads its fields: capture time, addresses, ports and the decrypted bytes
(``data.data``, hex; several records of one frame are comma-separated). Test and lab use: a key log decrypts the
session for anyone who holds it."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from evcc.errors import ConfigError

TSHARK_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Plain:
    t: float
    src: str  # "[address]:port", as evcc.trace.decode names the ends
    dst: str
    data: bytes


def decrypted(capture: Path, keylog: Path, tshark: str | None = None) -> list[Plain]:
    """The decrypted TLS application data of ``capture``, in capture order; ConfigError naming what failed."""
    binary = tshark or shutil.which("tshark")
    if binary is None:
        raise ConfigError("--keylog needs tshark (Debian: apt-get install tshark)")
    if not keylog.is_file():
        raise ConfigError(f"--keylog {keylog}: not a file")
    cmd = [binary, "-r", str(capture), "-o", f"tls.keylog_file:{keylog}", "-Y", "tls.app_data", "-T", "fields",
           "-E", "separator=\t", "-e", "frame.time_epoch", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ipv6.dst",
           "-e", "tcp.dstport", "-e", "data.data"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TSHARK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"tshark: {exc}") from exc
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise ConfigError(f"tshark failed on {capture}: {last[0]}")
    out = []
    for line in done.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) < 6 or not fields[5]:
            continue  # TLS data it could not decrypt (no key for that session)
        try:
            data = b"".join(bytes.fromhex(part) for part in fields[5].split(","))
            out.append(Plain(float(fields[0]), f"[{fields[1]}]:{fields[2]}", f"[{fields[3]}]:{fields[4]}", data))
        except ValueError:
            continue
    return out
