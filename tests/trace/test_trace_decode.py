"""`evcc trace decode` (issue 16 point 4): a real capture of a DIN session over veth (the bench's --trace, SLAC
through the powerline simulator, SDP, TCP) decoded into SLAC MMEs, SDP and every V2G message in the grammar
SupportedAppProtocol chose; a segment split, duplicated and reordered still decodes once and in order; a TLS
connection is reported as encrypted, and decrypted by tshark with the key log; broken files give a one-line error and broken frames an event, never a
traceback."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from evcc import exi
from evcc.bench.trace import Record, pcap_bytes
from evcc.cli import build_parser
from evcc.exi import din
from evcc.session import v2gtp
from evcc.trace.cli import run
from evcc.trace.decode import decode_packets
from evcc.trace.pcap import Packet, PcapError, read_pcap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def din_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces)")
    folder = tmp_path_factory.mktemp("trace")
    done = subprocess.run([sys.executable, "-m", "evcc", "bench", "--protocol", "din", "--link", "netns", "--trace",
                           str(folder), "--no-dbus"], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return next(folder.glob("*.pcap"))


def _decode(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run(build_parser("trace").parse_args(["trace", "decode", *argv]), out, err)
    return status, out.getvalue(), err.getvalue()


def test_din_session_capture_decodes_every_layer(din_capture: Path, tmp_path: Path) -> None:
    status, out, err = _decode([str(din_capture), "--html", str(tmp_path / "t.html")])
    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    types = [e["type"] for e in events]
    assert "CM_SLAC_PARM.REQ" in types and "CM_SLAC_MATCH.CNF" in types
    assert types.count("SECC Discovery Request") >= 1 and "SECC Discovery Response" in types
    v2g = [e for e in events if e["layer"] == "v2g"]
    assert [e["type"] for e in v2g[:4]] == ["supportedAppProtocolReq", "supportedAppProtocolRes", "SessionSetupReq",
                                            "SessionSetupRes"]
    assert v2g[-1]["type"] == "SessionStopRes" and all(e["detail"]["grammar"] in ("sap", "din") for e in v2g)
    assert types.count("CurrentDemandReq") == types.count("CurrentDemandRes") >= 2
    assert not [e for e in events if e["type"] in ("undecodable EXI", "broken V2GTP", "segment gap")]
    assert "SessionStopRes" in (tmp_path / "t.html").read_text()


def _frame(src: int, dst: int, seq: int, payload: bytes, syn: bool = False) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", src, dst, seq, 0, 5 << 4, 0x02 if syn else 0x18, 65535, 0, 0) + payload
    ends = (bytes(15) + b"\x01", bytes(15) + b"\x02")  # the lower port's host is ::1
    a, b = ends if src < dst else ends[::-1]
    ip = struct.pack("!IHBB", 0x60000000, len(tcp), 6, 64) + a + b
    return bytes(6) + bytes(6) + b"\x86\xdd" + ip + tcp


def test_split_duplicated_and_reordered_segments_decode_once() -> None:
    msg = din.V2G_Message(Header=din.MessageHeaderType(SessionID=bytes(8)),
                          Body=din.BodyType(SessionStopReq=din.SessionStopType()))
    sap_req = exi.encode(exi.sap.supportedAppProtocolReq(AppProtocol=[exi.sap.AppProtocolType(
        ProtocolNamespace="urn:din:70121:2012:MsgDef", VersionNumberMajor=2, VersionNumberMinor=0, SchemaID=1,
        Priority=1)]))
    sap_res = exi.encode(exi.sap.supportedAppProtocolRes(ResponseCode="OK_SuccessfulNegotiation", SchemaID=1))
    first = v2gtp.encode(0x8001, sap_req)
    stream = first + v2gtp.encode(0x8001, exi.encode(msg))
    a, b = stream[:len(first) + 5], stream[len(first) + 5:]  # the second message split over two segments
    packets = [Packet(0.0, _frame(50000, 60000, 999, b"", syn=True)), Packet(0.1, _frame(50000, 60000, 1000, a)),
               Packet(0.2, _frame(60000, 50000, 5000, v2gtp.encode(0x8001, sap_res))),
               Packet(0.3, _frame(50000, 60000, 1000 + len(a), b)),  # request 2 completes
               Packet(0.4, _frame(50000, 60000, 1000, a))]  # a retransmission: nothing new
    names = [e.type for e in decode_packets(packets)]
    assert names == ["supportedAppProtocolReq", "supportedAppProtocolRes", "SessionStopReq"]
    b1, b2 = b[:3], b[3:]
    reordered = packets[:3] + [Packet(0.3, _frame(50000, 60000, 1000 + len(a) + 3, b2)),  # later bytes first: held
                               Packet(0.4, _frame(50000, 60000, 1000 + len(a), b1))]
    assert [e.type for e in decode_packets(reordered)] == names


def test_tls_is_reported_and_garbage_is_an_event() -> None:
    events = decode_packets([Packet(0.0, _frame(1, 2, 7, b"\x16\x03\x03\x00\x10" + bytes(16))),
                             Packet(0.1, _frame(3, 4, 7, b"\x01\xfe\x80\x01\xff\xff\xff\xff")),
                             Packet(0.2, b"\x00" * 5), Packet(0.3, bytes(12) + b"\x88\xe1\x01")])
    assert [e.type for e in events] == ["TLS", "broken V2GTP", "short frame", "malformed MME"]


def test_broken_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="pcapng"):
        read_pcap(bytes.fromhex("0a0d0d0a") + bytes(40))
    good = pcap_bytes([Record(1.0, _frame(1, 2, 3, b"x"), 60)])
    with pytest.raises(PcapError, match="claims"):
        read_pcap(good[:-3])
    path = tmp_path / "cut.pcap"
    path.write_bytes(good[:30])
    status, _, err = _decode([str(path)])
    assert status == 2 and err.count("\n") == 1 and "cut short" in err
    status, _, err = _decode([str(tmp_path / "missing.pcap")])
    assert status == 2 and "missing.pcap" in err


@pytest.fixture(scope="module")
def tls_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if os.geteuid() != 0:
        pytest.fail("needs root (network namespaces)")
    folder = tmp_path_factory.mktemp("trace-tls")
    done = subprocess.run([sys.executable, "-m", "evcc", "bench", "--protocol", "iso2", "--tls", "--link", "netns",
                           "--trace", str(folder), "--no-dbus"], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return next(folder.glob("*.pcap")), next(folder.glob("*keylog*"))


def test_tls_session_decrypted_by_tshark_with_the_key_log(tls_capture: tuple[Path, Path]) -> None:
    capture, keylog = tls_capture
    status, out, err = _decode([str(capture)])
    assert status == 0, err
    plain = [json.loads(line) for line in out.splitlines()]
    assert "TLS" in [e["type"] for e in plain] and not [e for e in plain if e["layer"] == "v2g"]
    status, out, err = _decode([str(capture), "--keylog", str(keylog)])
    assert status == 0, err
    v2g = [json.loads(line) for line in out.splitlines() if '"layer": "v2g"' in line]
    names = [e["type"] for e in v2g]
    assert names[:3] == ["supportedAppProtocolReq", "supportedAppProtocolRes", "SessionSetupReq"]
    assert names[-1] == "SessionStopRes" and all(e["detail"]["grammar"] in ("sap", "iso2") for e in v2g)
    assert [e["t"] for e in v2g] == sorted(e["t"] for e in v2g)


def test_keylog_errors_are_one_line(tls_capture: tuple[Path, Path], tmp_path: Path) -> None:
    capture, _ = tls_capture
    status, _, err = _decode([str(capture), "--keylog", str(tmp_path / "none.txt")])
    assert status == 2 and "not a file" in err and err.count("\n") == 1
