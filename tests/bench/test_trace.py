"""Bench traces: the pcap writer and reader (round trip, malformed files refused with the offset), V2GTP frames
found in Ethernet/IPv6/UDP|TCP frames, and a capture on the EV's veth in its namespace during a DIN session
over TCP: SDP and every V2G request/response are in the file (tshark reads it too when installed); on the
in-process link the output says there is no trace."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from evcc.bench import cli
from evcc.bench.trace import PCAP_NAME, Record, TraceError, pcap_bytes, read_pcap, v2gtp_frames
from tests.bench.bench_helpers import run_bench


def _frame(proto: int, payload: bytes, port: int = 15118) -> bytes:
    if proto == 17:
        segment = struct.pack("!HHHH", 50000, port, 8 + len(payload), 0) + payload
    else:
        segment = struct.pack("!HHIIBBHHH", 50000, port, 1, 1, 5 << 4, 0x18, 1000, 0, 0) + payload
    ipv6 = struct.pack("!IHBB", 6 << 28, len(segment), proto, 64) + bytes(32)
    return bytes(6) + bytes(6) + b"\x86\xdd" + ipv6 + segment


def _v2gtp(payload_type: int, body: bytes) -> bytes:
    return bytes([1, 0xFE]) + struct.pack("!HI", payload_type, len(body)) + body


def test_pcap_round_trip_and_v2gtp_frames() -> None:
    two = _v2gtp(0x8001, b"\x80\x00") + _v2gtp(0x8001, b"\x80\x01\x02")
    records = [Record(1.25, _frame(17, _v2gtp(0x9000, b"\x10\x00")), 64),
               Record(2.5, _frame(6, two), 80), Record(3.0, b"\x00" * 60, 60),
               Record(4.0, _frame(6, b"\x16\x03\x03\x00\x10" + bytes(16)), 80)]  # TLS record: no V2GTP
    data = pcap_bytes(records)
    back = read_pcap(data)
    assert [(r.t, r.frame) for r in back] == [(r.t, r.frame) for r in records]
    found = [(f.t, f.transport, f.payload_type, f.length) for f in v2gtp_frames(back)]
    assert found == [(1.25, "udp", 0x9000, 2), (2.5, "tcp", 0x8001, 2), (2.5, "tcp", 0x8001, 3)]


@pytest.mark.parametrize(("data", "message"), [
    (b"\xd4\xc3\xb2", "shorter than the global header"),
    (struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1), "not a little-endian microsecond pcap"),
    (struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105), "link type 105"),
    (pcap_bytes([]) + b"\x00" * 10, "record header at offset 24 cut short"),
    (pcap_bytes([]) + struct.pack("<IIII", 0, 0, 70000, 70000), "record at offset 24 claims 70000 bytes"),
])
def test_malformed_pcap_is_refused_with_the_offset(data: bytes, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        read_pcap(data)


def test_capture_of_a_din_session_on_the_ev_veth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() != 0:
        pytest.fail("the capture test needs root (network namespaces, AF_PACKET)")
    status, out = run_bench(["--start-soc", "76", "--no-dbus", "--trace", str(tmp_path), "--json",
                             str(tmp_path / "r.json")], capsys)
    assert status == cli.EXIT_OK, out
    report = json.loads((tmp_path / "r.json").read_text())
    pcap = tmp_path / PCAP_NAME
    assert report["trace"] == {"pcap": str(pcap)}  # no TLS: no key log
    records = read_pcap(pcap.read_bytes())
    assert any(r.frame[12:14] == b"\x88\xe1" for r in records)  # SLAC (HomePlug AV) frames
    frames = list(v2gtp_frames(records))
    assert [f.payload_type for f in frames if f.transport == "udp"] == [0x9000, 0x9001]
    tcp = [f for f in frames if f.transport == "tcp"]
    # SupportedAppProtocol and every DIN request and response, each a V2GTP EXI message
    assert len(tcp) == 2 * (len(report["messages"]) + 1) and {f.payload_type for f in tcp} == {0x8001}
    assert [f.t for f in frames] == sorted(f.t for f in frames)
    if shutil.which("tshark"):
        done = subprocess.run(["tshark", "-r", str(pcap), "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.payload"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and sum(1 for line in done.stdout.split() if line.startswith("01fe8001")) > 0


def test_in_process_link_has_no_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_bench(["--link", "memory", "--no-dbus", "--start-soc", "78", "--trace", str(tmp_path)], capsys)
    assert status == cli.EXIT_OK
    assert "trace: unavailable on the in-process link" in out and not (tmp_path / PCAP_NAME).exists()
