"""`evcc trace decode` throughput (issue 16, Benchmarks). Figures only, never assertions.

Decodes a capture (a DIN bench session over veth made with the bench's --trace, or ``--capture FILE``) several
times and prints V2G messages per second and frames per second. tshark's own dissection of the same capture is
timed when tshark is installed (it is not part of the set-up: "tshark not installed" otherwise).

Run: python3 benchmarks/trace_bench.py [--capture FILE] [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evcc.trace.decode import decode_packets  # noqa: E402
from evcc.trace.pcap import read_pcap  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _capture(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "evcc", "bench", "--protocol", "din", "--link", "netns", "--trace",
                    str(folder), "--no-dbus"], cwd=ROOT, check=True, capture_output=True, timeout=300)
    return next(folder.glob("*.pcap"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capture", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.capture or _capture(Path(tmp))
        data = path.read_bytes()
        packets = read_pcap(data)
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            events = decode_packets(read_pcap(data))
            best = min(best, time.perf_counter() - start)
        v2g = sum(e.layer == "v2g" for e in events)
        print(f"evcc trace decode: {len(packets)} frames, {v2g} V2G messages in {best * 1000:.1f} ms (best of "
              f"{args.rounds}): {v2g / best:.0f} messages/s, {len(packets) / best:.0f} frames/s")
        tshark = shutil.which("tshark")
        if tshark is None:
            print("tshark: not installed (no comparison)")
        else:
            start = time.perf_counter()
            subprocess.run([tshark, "-r", str(path), "-V"], check=True, capture_output=True)
            took = time.perf_counter() - start
            print(f"tshark -V: {took * 1000:.1f} ms: {len(packets) / took:.0f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
