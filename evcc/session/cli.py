"""`evcc session --iface IF`: one charging session against whatever SECC answers SDP on that interface (a lab
with a cable to a charger, or a test peer): ISO 15118-2 §7.10.1 SDP, TCP or TLS, SupportedAppProtocol, then
DIN SPEC 70121, ISO 15118-2 (AC or DC, EIM or Plug & Charge; TLS 1.2, §7.7) or ISO 15118-20 (--protocol
iso20-dc, iso20-ac, iso20-dc-bpt, iso20-ac-bpt; --control scheduled or dynamic; EIM or Plug & Charge; TLS 1.3
with the vehicle certificate, --vehicle-cert and --vehicle-key in the key store) until SessionStop. The vehicle
is the battery model (evcc.session.attach_vehicle).

Exit status: 0 when the session ended with SessionStopReq/Res; 1 when SDP, the connection or the session
failed (the reason is printed and in the JSON report); 2 for a configuration or platform error (unknown
interface, unreadable certificate, key store not found ...), with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from evcc.errors import ConfigError, EvccError, PlatformError, StoreError
from evcc.session.attach import PROTOCOLS, AttachConfig, attach
from evcc.keys.options import add_store_arguments, store_options
from evcc.session.attach_contracts import (OpenedKeyStore, PncOptions, client_certificate, contract_port,
                                           contract_port20, open_keystore)
from evcc.session.attach_vehicle import VehicleConfig
from evcc.session.connection import TlsConfig, TlsVersion
from evcc.session.pacing import DEFAULT_MIN_CYCLE, MAX_MIN_CYCLE
from evcc.session.report import SessionJsonReport, write_json
from evcc.session.tls13 import ISO20_GROUPS, ISO20_SIGNATURE_ALGORITHMS, ISO20_TLS13, Tls13Profile

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
# LAB PEERS ONLY (--lab-tls13-p256): the -20 groups and signature algorithms first, then P-256's, for a charger
# whose TLS 1.3 is P-256 only (Josev's SECC, INTEROP.md); the handshake reaches it through a HelloRetryRequest.
LAB_TLS13_P256 = Tls13Profile(groups=ISO20_GROUPS + ("prime256v1",),
                              signature_algorithms=ISO20_SIGNATURE_ALGORITHMS + ("ecdsa_secp256r1_sha256",))
LAB_TLS13_P256_NOTE = ("LAB: TLS 1.3 also offered prime256v1 / ecdsa_secp256r1_sha256 after the ISO 15118-20 "
                       "groups and signature algorithms (--lab-tls13-p256)")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("session", help="one charging session against the SECC that answers SDP on an interface",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iface", required=True, help="the PLC (or lab Ethernet) interface")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="iso2", help="protocol to offer (default iso2)")
    p.add_argument("--auth", choices=("eim", "pnc"), default="eim", help="EIM or Plug & Charge (needs --tls)")
    p.add_argument("--tls", action="store_true",
                   help="TLS (SDP asks for a secured SECC): 1.2 for din/iso2, 1.3 with the vehicle certificate for -20")
    p.add_argument("--control", choices=("scheduled", "dynamic"), default="scheduled",
                   help="ISO 15118-20 control mode (default scheduled)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--ac", dest="energy", action="store_const", const="ac", help="AC charging (three-phase)")
    mode.add_argument("--dc", dest="energy", action="store_const", const="dc", help="DC charging (default)")
    p.set_defaults(energy=None)
    car = p.add_argument_group("battery model")
    car.add_argument("--start-soc", type=float, default=40.0, help="state of charge at start, percent")
    car.add_argument("--target-soc", type=float, default=80.0, help="charge until this SoC, percent")
    car.add_argument("--capacity-kwh", type=float, default=50.0, help="battery capacity")
    car.add_argument("--time-scale", type=float, default=1.0, help="battery seconds per real second")
    car.add_argument("--charge-seconds", type=float, default=None,
                     help="the vehicle declares charging complete this long after the charge loop began")
    car.add_argument("--pack-voltage", type=voltage_range, default=None, metavar="EMPTY:FULL",
                     help="open-circuit voltage at 0 %% and 100 %% SoC (default 330:400)")
    car.add_argument("--precharge-tolerance", type=float, default=None,
                     help="V: accepted |EVSEPresentVoltage - battery voltage| that ends PreCharge (default 10)")
    p.add_argument("--min-msg-timeout", type=float, default=None, metavar="S",
                   help="LAB PEERS ONLY: raise every V2G_EVCC_Msg_Timeout below S to S (a slow simulated charger); "
                        "responses later than the standard's value are listed in the report")
    p.add_argument("--min-cycle", type=float, default=DEFAULT_MIN_CYCLE, metavar="S",
                   help=f"charge loop: at least S seconds from one CurrentDemandReq/ChargingStatusReq/ChargeLoopReq "
                        f"to the next, as real cars (0.1-0.25 s; default {DEFAULT_MIN_CYCLE}); 0: as fast as the "
                        f"charger answers; at most {MAX_MIN_CYCLE}")
    p.add_argument("--json", type=Path, help="write the report (messages, timings, outcome) here")
    sec = p.add_argument_group("TLS and Plug & Charge")
    sec.add_argument("--v2g-root", type=Path, action="append", default=[], help="trusted V2G root (PEM or DER)")
    sec.add_argument("--keylog", type=Path, help="BENCH TRACES ONLY: write TLS secrets (NSS key log)")
    sec.add_argument("--contracts", type=Path, help="contract store folder")
    add_store_arguments(p.add_argument_group("key store (as `evcc keys` takes it)"))
    sec.add_argument("--oem-key", help="key label of the OEM provisioning key (CertificateInstallation)")
    sec.add_argument("--oem-cert", type=Path, help="OEM provisioning certificate (PEM or DER)")
    sec.add_argument("--mo-root", type=Path, action="append", default=[], help="trusted MO root (PEM or DER)")
    sec.add_argument("--vehicle-cert", type=Path,
                     help="ISO 15118-20 TLS 1.3: vehicle certificate then its Sub-CAs (PEM), for --vehicle-key "
                          "(default: the chain stored with the key by evcc keys import-cert); din/iso2 TLS 1.2: "
                          "an optional client certificate, sent only to a charger that asks for one")
    sec.add_argument("--vehicle-key", help="TLS client key: label of the vehicle certificate's key in the key "
                                           "store (a token through OpenSSL pkcs11-provider, a TPM, or --soft-keys)")
    sec.add_argument("--lab-tls13-p256", action="store_true",
                     help="LAB PEERS ONLY: TLS 1.3 also offers prime256v1 and ecdsa_secp256r1_sha256 after the "
                          "ISO 15118-20 groups and signature algorithms (a P-256-only charger such as Josev's); "
                          "reported")
    p.set_defaults(func=run)


def voltage_range(text: str) -> tuple[float, float]:
    """``--pack-voltage EMPTY:FULL`` (volts), for `evcc session` and `evcc conformance`."""
    try:
        empty, full = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not EMPTY:FULL in volts, e.g. 330:400") from None
    return empty, full


def _iso20(args: argparse.Namespace) -> bool:
    return str(args.protocol).startswith("iso20")


def _tls(args: argparse.Namespace, keys: OpenedKeyStore | None) -> TlsConfig | None:
    if args.keylog is not None and not args.tls:
        raise ConfigError("--keylog needs --tls")
    if not args.tls:
        return None
    if not args.v2g_root:
        raise ConfigError("--tls needs at least one --v2g-root")
    if not _iso20(args):  # TLS 1.2; a client certificate only when asked for (evcc.session.connection)
        cert = client_certificate(_options(args), keys) if keys is not None and args.vehicle_key else None
        return TlsConfig(v2g_roots=tuple(args.v2g_root), keylog_file=args.keylog, client_certificate=cert)
    assert keys is not None
    return TlsConfig(v2g_roots=tuple(args.v2g_root), keylog_file=args.keylog, version=TlsVersion.TLS13,
                     client_certificate=client_certificate(_options(args), keys),
                     tls13=LAB_TLS13_P256 if args.lab_tls13_p256 else ISO20_TLS13)


def _options(args: argparse.Namespace) -> PncOptions:
    return PncOptions(args.contracts, tuple(args.v2g_root), store_options(args)[0], args.oem_key, args.oem_cert,
                      tuple(args.mo_root), args.vehicle_key, args.vehicle_cert)


@contextlib.contextmanager
def _keys(args: argparse.Namespace) -> Iterator[OpenedKeyStore | None]:
    """The key store, when Plug & Charge or the -20 vehicle certificate needs one."""
    if args.auth == "pnc" and args.contracts is None:
        raise ConfigError("--auth pnc needs --contracts DIR")
    if args.lab_tls13_p256 and not (args.tls and _iso20(args)):
        raise ConfigError("--lab-tls13-p256 needs ISO 15118-20 with --tls")
    if args.tls and _iso20(args) and args.vehicle_key is None:
        raise ConfigError("ISO 15118-20 --tls needs --vehicle-cert FILE and --vehicle-key LABEL (--vehicle-cert "
                          "may be left out when the key store holds the key's certificate: evcc keys import-cert)")
    if args.auth != "pnc" and not (args.tls and (_iso20(args) or args.vehicle_key is not None)):
        yield None
        return
    with open_keystore(_options(args)) as keys:
        yield keys


def _config(args: argparse.Namespace, keys: OpenedKeyStore | None) -> AttachConfig:
    vehicle = VehicleConfig(args.start_soc, args.target_soc, args.capacity_kwh, args.time_scale, args.charge_seconds,
                            args.pack_voltage)
    if args.json is not None and not args.json.parent.resolve().is_dir():
        raise ConfigError(f"--json {args.json}: folder {args.json.parent} does not exist")
    store = keys.store if keys is not None and args.auth == "pnc" else None
    iso2 = contract_port(_options(args), store) if store is not None and not _iso20(args) else None
    iso20 = contract_port20(_options(args), store) if store is not None and _iso20(args) else None
    return AttachConfig(args.iface, args.protocol, args.energy, args.auth, _tls(args, keys), vehicle,
                        args.precharge_tolerance, min_msg_timeout=args.min_msg_timeout, contracts=iso2,
                        control="Dynamic" if args.control == "dynamic" else "Scheduled", contracts20=iso20,
                        min_cycle=args.min_cycle)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        with _keys(args) as keys:
            report = asyncio.run(attach(_config(args, keys)))
        report.lab_tls13_p256 = bool(args.lab_tls13_p256)
    except (ConfigError, PlatformError, StoreError) as exc:
        print(f"evcc session: {exc}", file=err)
        return EXIT_CONFIG
    except EvccError as exc:  # a peer or security failure outside the session's own reporting
        print(f"evcc session: failed: {exc}", file=err)
        return EXIT_FAILED
    _print(report, out)
    if args.json is not None:
        try:
            write_json(report, args.json)
        except ConfigError as exc:
            print(f"evcc session: {exc}", file=err)
            return EXIT_CONFIG
    return EXIT_OK if report.ok else EXIT_FAILED


def _print(report: SessionJsonReport, out: TextIO) -> None:
    if report.secc:
        s = report.secc
        tls = f", {report.tls_version} {report.tls_cipher}" if report.tls_cipher else ""
        print(f"SECC [{s['address']}]:{s['port']} ({s['security']}){tls}", file=out)
        if report.tls_client_key:
            print(f"  vehicle certificate key: {report.tls_client_key}", file=out)
    for t in report.timings:
        print(f"  {t.type:36} {t.count:5d}  median {t.median_ms:8.2f} ms  max {t.max_ms:8.2f} ms", file=out)
    turn = report.ev.get("ev_turn", {})
    if turn.get("count"):
        print(f"  EV's own turn (response -> next request, pacing included): median {turn['median_ms']:.2f} ms  "
              f"p99 {turn['p99_ms']:.2f} ms  max {turn['max_ms']:.2f} ms", file=out)
    if report.messages_dropped:
        print(f"  {report.messages_total} messages; the report keeps the first and last {len(report.messages)}",
              file=out)
    if report.min_msg_timeout is not None:
        print(f"LAB: V2G_EVCC_Msg_Timeout raised to at least {report.min_msg_timeout} s; "
              f"{report.over_standard_count} response(s) later than the standard allows", file=out)
    if report.lab_tls13_p256:
        print(LAB_TLS13_P256_NOTE, file=out)
    verdict = "session ended with SessionStop" if report.ok else "session FAILED"
    print(f"{verdict}: {report.outcome}: {report.reason}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evcc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["session", *(sys.argv[1:] if argv is None else argv)])
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
