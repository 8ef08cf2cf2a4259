"""Write the seed corpus of the Python fuzz targets: ``python3 fuzz/python/make_seeds.py [FOLDER]``
(default ``fuzz/corpus``; one sub-folder per target, ``py-*``). Regenerating gives the same files.

Seeds are real messages, built with the package's own encoders in each target's input layout
(``fuzz/python/targets/``): V2GTP frames around EXI messages of ``../shared/vectors/exi_vectors.tsv`` (when
present) and SDP payloads, cut in a few ways; SDP requests and responses; every SLAC and modem MME the EV
parses, as payload (selector = MMTYPE index) and as a whole padded frame; the bench battery's BMS frames for each
charge mode; ``examples/evcc.toml`` and variants for the other key stores, protocols and buses.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from evcc.bms_bridge.battery_bms import BenchBms  # noqa: E402
from evcc.bms_bridge.codec import ChargeMode, load_codec  # noqa: E402
from evcc.plc import modem_mme as mm  # noqa: E402
from evcc.plc import slac_mme as sm  # noqa: E402
from evcc.plc.frames import EmptyVendorReq, Message, encode_frame  # noqa: E402
from evcc.session import sdp, v2gtp  # noqa: E402
from evcc.session.battery_model import BatteryModel  # noqa: E402
from fuzz.python.targets import slac_mme  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO.parent / "shared" / "vectors" / "exi_vectors.tsv"
EXI_FALLBACK = bytes.fromhex("809a0211d63f74d2297ac9119400")  # DIN ServiceDiscoveryReq


def _exi_payloads() -> list[tuple[str, bytes]]:
    if not VECTORS.is_file():
        return [("din-ServiceDiscoveryReq", EXI_FALLBACK)]
    out: dict[str, tuple[str, bytes]] = {}
    for line in VECTORS.read_text(encoding="utf-8").splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) > 4 and cols[4] == "roundtrip" and cols[1] not in out:
            out[cols[1]] = (f"{cols[1]}-{cols[2]}", bytes.fromhex(cols[3]))
    return list(out.values())


def v2gtp_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    exi = _exi_payloads()
    iso20 = {"iso20-common": v2gtp.ISO20_COMMON, "iso20-ac": v2gtp.ISO20_AC, "iso20-dc": v2gtp.ISO20_DC}
    for name, payload in exi:
        ptype = next((t for g, t in iso20.items() if name.startswith(g + "-")), v2gtp.EXI_ENCODED)
        accepted = 0x08 if ptype in v2gtp.ISO20_PAYLOAD_TYPES else 0x00
        frame = v2gtp.encode(ptype, payload)
        seeds[f"one-{name}"] = bytes([accepted]) + frame
        seeds[f"two-cut-{name}"] = bytes([accepted | 0x03, 3, 5, 9]) + frame + frame
    sdp_frames = sdp.encode_request(sdp.Security.NO_TLS) + sdp.encode_response(
        sdp.SdpResponse(ipaddress.IPv6Address("fe80::1"), 50000, sdp.Security.NO_TLS, sdp.Transport.TCP))
    seeds["sdp-pair"] = bytes([0x10 | 0x01, 4]) + sdp_frames
    seeds["header-only"] = bytes([0]) + v2gtp.encode(v2gtp.EXI_ENCODED, b"")
    big = bytes([0x20 | 0x02, 8, 200]) + v2gtp.encode(v2gtp.EXI_ENCODED, bytes(range(256)) * 17)
    seeds["certificate-sized"] = big
    return seeds


def sdp_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    for sec in sdp.Security:
        seeds[f"request-{sec.name}"] = b"\x01" + sdp.encode_request(sec)
        for address, port in (("fe80::1", 50000), ("fe80::21a:37ff:fe00:1", 65535), ("::1", 15118)):
            resp = sdp.SdpResponse(ipaddress.IPv6Address(address), port, sec, sdp.Transport.TCP)
            seeds[f"response-{sec.name}-{address.replace(':', '_')}-{port}"] = (
                b"\x00" if sec is sdp.Security.TLS else b"\x02") + sdp.encode_response(resp)
    return seeds


def _messages() -> list[Message]:
    run_id, mac, other = bytes(range(1, 9)), bytes.fromhex("020000000002"), bytes.fromhex("020000000001")
    nmk = bytes(range(16))
    nid = mm.nid_from_nmk(nmk)
    return [
        sm.CmSlacParmReq(run_id), sm.CmSlacParmCnf(mac, run_id), sm.CmStartAttenCharInd(mac, run_id),
        sm.CmMnbcSoundInd(run_id, 9, bytes(16)), sm.CmAttenProfileInd(other, tuple(range(20, 78))),
        sm.CmAttenCharInd(other, run_id, 10, tuple(range(10, 68))), sm.CmAttenCharRsp(other, run_id),
        sm.CmValidate(0, 10, 1), sm.CmValidate(0, 3, 2), sm.CmSlacMatch(other, mac, run_id),
        sm.CmSlacMatch(other, mac, run_id, nid, nmk), mm.CmSetKeyReq(nid, nmk), mm.CmSetKeyCnf(1),
        EmptyVendorReq(), mm.VsSwVerCnf(0, 0x20, "MAC-QCA7000-1.1.0.730-04-20140815-CS"), EmptyVendorReq(),
        mm.VsLinkStatusCnf(1), EmptyVendorReq(),
    ]


def slac_seeds() -> dict[str, bytes]:
    seeds: dict[str, bytes] = {}
    for index, (mtype, message) in enumerate(zip(slac_mme.MMTYPES, _messages())):
        name = f"{index:02d}-{mtype:04x}"
        payload = message.encode()
        seeds[f"payload-{name}"] = bytes([index]) + payload
        seeds[f"frame-{name}"] = b"\xff" + encode_frame(slac_mme.DST, slac_mme.SRC, mtype, message)
    return seeds


def bms_seeds() -> dict[str, bytes]:
    codec = load_codec()
    ids = sorted(codec.by_id)
    seeds: dict[str, bytes] = {}
    for mode in ChargeMode:
        bms = BenchBms(codec, BatteryModel(), mode)
        stream = bytearray([mode | 0x04 | 0x08])
        for now in (0.0, 0.1, 0.2):
            for frame_id, data in bms.frames_due(now):
                stream += bytes([ids.index(frame_id), len(data)]) + data
        seeds[f"bench-{mode.name.lower()}"] = bytes(stream)
    seeds["unknown-and-extended"] = bytes([2, 0x80, 0x01, 0x23, 3, 1, 2, 3, 0xF0, 0x18, 0xDB, 0x33, 0xF1, 8]) + bytes(8)
    seeds["fd-length"] = bytes([2, 0, 0x86]) + bytes(64)
    return seeds


def config_seeds() -> dict[str, bytes]:
    example = (REPO / "examples" / "evcc.toml").read_bytes()
    minimal = b'[plc]\ninterface = "eth1"\n[hsm]\npin_file = "token.pin"\n'
    soft = (b'[plc]\ninterface = "veth0"\n[slac]\nenabled = false\n[hsm]\nkind = "soft"\ndirectory = "keys"\n'
            b'kek_file = "kek.bin"\n[bms]\ninterface = "udp_multicast"\nchannel = "239.74.163.2"\n'
            b'[dbus]\nbus = "address"\naddress = "unix:path=/run/evcc-bus"\n[log]\nlevel = "debug"\n')
    iso20 = (b'[plc]\ninterface = "eth1"\n[session]\nprotocols = ["iso20-dc-bpt", "iso2"]\ntls = true\n'
             b'v2g_roots = ["roots/v2g.pem"]\nvehicle_chain = "vehicle.pem"\nvehicle_key_label = "vehicle"\n'
             b'control_mode = "Dynamic"\nrestart_delay_s = 1.5\n[contracts]\noem_key_label = "oem"\n'
             b'oem_cert = "oem.pem"\n[hsm]\nkind = "tpm"\ntcti = "device:/dev/tpmrm0"\ndirectory = "/var/lib/evcc/tpm"\n'
             b'[bms]\nmode = "dc_bpt"\nfreshness_s = 0.5\n')
    ac = (b'[plc]\ninterface = "eth1"\n[session]\nprotocols = ["iso2", "iso20-ac"]\n'
          b'energy_transfer = "AC_three_phase_core"\npayment = "external"\n[hsm]\npin_file = "/etc/evcc/pin"\n'
          b'[bms]\nmode = "ac"\n')
    return {"example": example, "minimal": minimal, "soft-udp": soft, "iso20-bpt-tpm": iso20, "ac": ac}


SEEDS = {"py-v2gtp": v2gtp_seeds, "py-sdp": sdp_seeds, "py-slac": slac_seeds, "py-bms-can": bms_seeds,
         "py-config": config_seeds}


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else REPO / "fuzz" / "corpus"
    for target, make in SEEDS.items():
        folder = root / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in make().items():
            (folder / name).write_bytes(data)
        print(f"{target}: {len(list(folder.iterdir()))} files in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
