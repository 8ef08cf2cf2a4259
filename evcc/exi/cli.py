"""`evcc exi`: decode EXI (hex) to the canonical JSON view, encode JSON to EXI hex, replay captured frames."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from evcc.exi._api import GRAMMARS, from_json, to_json
from evcc.exi._errors import ExiError

# V2GTP payload types that select the grammar (EXI.md §1).
PAYLOAD_TYPES = {0x8001: "iso2", 0x8002: "iso20-common", 0x8003: "iso20-ac", 0x8004: "iso20-dc",
                 0x8005: "iso20-acdp", 0x8006: "iso20-wpt"}


def _arg_text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _hex(text: str) -> bytes:
    cleaned = "".join(text.split())
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ExiError("input is not hexadecimal") from None


def _strip_v2gtp(data: bytes, grammar: str) -> bytes:
    """Accept a whole V2GTP frame too: version 0x01, inverse 0xFE, payload type, length (ISO 15118-2 §7.8.3)."""
    if len(data) >= 8 and data[0] == 0x01 and data[1] == 0xFE:
        length = int.from_bytes(data[4:8], "big")
        if length == len(data) - 8:
            return data[8:]
    return data


def cmd_decode(args: argparse.Namespace) -> int:
    data = _strip_v2gtp(_hex(_arg_text(args.data)), args.grammar)
    print(to_json(args.grammar, data))
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    print(from_json(args.grammar, _arg_text(args.json)).hex())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Decode every frame of a capture list: lines of `grammar<TAB>hex` (more columns allowed, # comments)."""
    total = failed = 0
    started = time.perf_counter()
    with open(args.file, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            grammar, hexdata = (cols[1], cols[3]) if args.vectors else (cols[0], cols[1])
            if grammar not in GRAMMARS:
                continue
            if args.vectors and cols[4] in ("reject", "nonconformant"):
                continue
            total += 1
            try:
                text = to_json(grammar, _hex(hexdata))
                if not args.quiet:
                    print(f"{lineno:5d} {grammar:16s} {text[:args.width]}")
            except ExiError as e:
                failed += 1
                print(f"{lineno:5d} {grammar:16s} ERROR {e}")
    elapsed = time.perf_counter() - started
    print(f"{total} frames, {total - failed} decoded, {failed} failed, {elapsed * 1e3:.1f} ms")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("exi", help="the EXI codec: decode, encode, replay captured frames")
    ex = p.add_subparsers(dest="exi_command", required=True)
    d = ex.add_parser("decode", help="EXI (hex, or a whole V2GTP frame) to JSON")
    d.add_argument("grammar", choices=sorted(GRAMMARS))
    d.add_argument("data", help="hex digits, or - for standard input")
    d.set_defaults(func=_guard(cmd_decode))
    e = ex.add_parser("encode", help="JSON to EXI hex")
    e.add_argument("grammar", choices=sorted(GRAMMARS))
    e.add_argument("json", help="the JSON view, or - for standard input")
    e.set_defaults(func=_guard(cmd_encode))
    r = ex.add_parser("replay", help="decode a list of captured frames (grammar<TAB>hex per line)")
    r.add_argument("file")
    r.add_argument("--vectors", action="store_true", help="the file is in the shared exi_vectors.tsv format")
    r.add_argument("--quiet", action="store_true", help="only the summary")
    r.add_argument("--width", type=int, default=120, help="characters of JSON to show per frame")
    r.set_defaults(func=_guard(cmd_replay))


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except ExiError as e:
            print(f"evcc exi: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"evcc exi: {e}", file=sys.stderr)
            return 2

    return run
