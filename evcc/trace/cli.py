"""`evcc trace decode CAPTURE.pcap`: a capture taken anywhere (a sniffer between a car and a charger, or the
bench's ``--trace``) decoded with the product's parsers and codec (evcc.trace.decode) into JSON Lines (stdout or
``--jsonl FILE``) and, with ``--html FILE``, a self-contained timeline. TLS connections are reported as encrypted;
with ``--keylog KEYS`` (an NSS key log, TEST/LAB ONLY) tshark decrypts them and their messages are decoded too.

Exit status: 0 decoded; 2 the file is not a readable classic Ethernet pcap, or an option is not supported (one line).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from evcc.errors import ConfigError
from evcc.session.report_common import write_atomic
from evcc.trace.decode import Event, decode_packets
from evcc.trace.pcap import read_pcap
from evcc.trace.tls import decrypted

EXIT_OK, EXIT_CONFIG = 0, 2
MAX_CAPTURE = 1 << 30


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("trace", help="decode captures (SLAC, SDP, V2GTP, EXI)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)
    d = actions.add_parser("decode", help="decode a pcap into JSON Lines and an HTML timeline")
    d.add_argument("capture", type=Path, help="classic pcap, Ethernet")
    d.add_argument("--jsonl", type=Path, help="write the events here instead of stdout")
    d.add_argument("--html", type=Path, help="also write a self-contained HTML timeline")
    d.add_argument("--keylog", type=Path, help="NSS key log of the TLS sessions: decrypted by tshark (TEST/LAB ONLY)")
    d.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        try:
            size = args.capture.stat().st_size
            if size > MAX_CAPTURE:
                raise ConfigError(f"{args.capture}: {size} bytes, more than {MAX_CAPTURE}")
            data = args.capture.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.capture}: {exc.strerror or exc}") from exc
        events = decode_packets(read_pcap(data), plain_data(args.capture, args.keylog))
        lines = "".join(json.dumps(e.as_dict(), default=str) + "\n" for e in events)
        if args.jsonl is not None:
            write_atomic(args.jsonl, lines.encode(), "--jsonl")
        else:
            out.write(lines)
        if args.html is not None:
            write_atomic(args.html, timeline(events, str(args.capture)).encode(), "--html")
    except ConfigError as exc:
        print(f"evcc trace: {exc}", file=err)
        return EXIT_CONFIG
    return EXIT_OK


def plain_data(capture: Path, keylog: Path | None) -> list[tuple[float, str, str, bytes]]:
    """The TLS application data decrypted by tshark (evcc.trace.tls), or none without a key log."""
    if keylog is None:
        return []
    return [(p.t, p.src, p.dst, p.data) for p in decrypted(capture, keylog)]


def timeline(events: Sequence[Event], title: str) -> str:
    e = html.escape
    t0 = events[0].t if events else 0.0
    rows = "".join(
        f"<tr class='{e(ev.layer)}'><td>{ev.t - t0:.6f}</td><td>{e(ev.layer)}</td><td>{e(ev.src)}</td>"
        f"<td>{e(ev.dst)}</td><td><b>{e(ev.type)}</b></td><td><details><summary>detail</summary><pre>"
        f"{e(json.dumps(ev.detail, indent=1, default=str))}</pre></details></td></tr>" for ev in events)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>evcc trace: {e(title)}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;font-size:12px}} td,th{{border:1px solid #ccc;
padding:2px 4px;vertical-align:top}} tr.slac{{background:#f3f0ff}} tr.sdp{{background:#eef7ee}}
tr.tls{{background:#fff4e0}} pre{{margin:0;white-space:pre-wrap}}</style></head><body>
<h1>evcc trace: {e(title)}</h1><p>{len(events)} events</p>
<table><tr><th>t (s)</th><th>layer</th><th>from</th><th>to</th><th>message</th><th></th></tr>{rows}</table>
</body></html>
"""
