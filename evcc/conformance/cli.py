"""`evcc conformance`: the EV emulator as a charger test suite (issue 16). Runs the applicable cases of the
catalogue one session after another against whatever charger answers SDP on ``--iface`` (a real one on a lab
cable, or a simulator in a namespace), or at ``--sdp-address`` (a lab SECC on an address, e.g. loopback), prints
progress per case and writes JUnit XML, JSON and a self-contained HTML report into ``--out``.

    evcc conformance --list [--protocol din] [--cases 'DIN-SEQ-*'] [--full]
    evcc conformance --iface eth1 [--protocol iso2 ...] [--tls --v2g-root ROOT.pem] [--cases PATTERN ...] [--full]

Exit status: 0 when no case failed; 1 when one did; 2 for a configuration or platform error (one line, no
traceback); 130 when interrupted (Ctrl-C: the report holds the cases run so far).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from evcc.conformance.catalogue import all_cases, select
from evcc.conformance.link import NetworkCharger
from evcc.conformance.model import Case, CaseResult
from evcc.conformance.pnc import PncMaterial, foreign_pki, load_test_pki
from evcc.conformance.report import SuiteReport, write_all
from evcc.conformance.runner import RunOptions, run_suite
from evcc.errors import ConfigError, EvccError, PlatformError, StoreError
from evcc.session.attach_protocols import PROTOCOLS
from evcc.session.attach_vehicle import VehicleConfig
from evcc.session.cli import voltage_range
from evcc.session.connection import TlsConfig, TlsVersion
from evcc.session.iso2.pnc import ContractPort

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
PROTOCOL_CHOICES = ("din", "iso2", "iso20", *sorted(p for p in PROTOCOLS if p.startswith("iso20")))


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("conformance", help="test a charger: the catalogue of charger test cases, with verdicts",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--iface", help="the interface the charger is on (SDP to ff02::1 there)")
    where.add_argument("--sdp-address", metavar="ADDR:PORT", help="LAB: SDP to this address instead (e.g. ::1:15118)")
    where.add_argument("--passive", type=Path, metavar="CAPTURE",
                       help="no charger: judge a capture (pcap) with the cases that need no stimulus")
    p.add_argument("--keylog", type=Path, help="--passive: NSS key log of the capture's TLS sessions (tshark decrypts; "
                                               "TEST/LAB ONLY)")
    p.add_argument("--list", action="store_true", help="print the catalogue (id, requirements, title) and exit")
    p.add_argument("--protocol", action="append", choices=PROTOCOL_CHOICES, default=[],
                   help="only cases of this protocol (repeatable; iso20 = every -20 service)")
    p.add_argument("--cases", action="append", default=[], metavar="PATTERN",
                   help="only cases whose id matches (shell pattern, repeatable), e.g. 'DIN-SEQ-*'")
    p.add_argument("--full", action="store_true", help="also the long cases (sequence timeouts, about a minute each)")
    p.add_argument("--out", type=Path, default=Path("."), help="folder of conformance.{json,xml,html} (default .)")
    p.add_argument("--charge-seconds", type=float, default=1.0,
                   help="how long the EV charges before it declares charging complete (default 1)")
    lab = p.add_argument_group("LAB: vehicle policy for a lab charger (the verdicts keep the standard's values)")
    lab.add_argument("--pack-voltage", type=voltage_range, default=None, metavar="EMPTY:FULL",
                     help="the vehicle's open-circuit voltage at 0 %% and 100 %% SoC (default 330:400)")
    lab.add_argument("--precharge-tolerance", type=float, default=None, metavar="V",
                     help="PreCharge ends within V of the battery voltage (default 10)")
    lab.add_argument("--min-msg-timeout", type=float, default=None, metavar="S",
                     help="raise the EV's V2G_EVCC_Msg_Timeout below S to S (a slow charger reaches more cases)")
    p.add_argument("--case-timeout", type=float, default=90.0, help="seconds after which a case is cut (default 90)")
    sec = p.add_argument_group("TLS")
    sec.add_argument("--tls", action="store_true", help="run the session cases over TLS as well (SDP asks for TLS)")
    sec.add_argument("--v2g-root", type=Path, action="append", default=[],
                     help="trusted V2G root (PEM or DER); needed by the TLS cases")
    sec.add_argument("--vehicle-key", help="-20 TLS 1.3: key label of the vehicle certificate in the key store")
    sec.add_argument("--vehicle-cert", type=Path, help="-20 TLS 1.3: vehicle certificate chain (PEM)")
    from evcc.keys.options import add_store_arguments
    pnc = p.add_argument_group("Plug & Charge cases (ISO 15118-2; test PKI only)")
    pnc.add_argument("--pnc-pki", type=Path, metavar="DIR", help="the test PKI the charger trusts (`evcc pki init`): "
                     "the expired contract chain; without it the PnC cases are not applicable")
    pnc.add_argument("--contracts", type=Path, metavar="DIR", help="contract store with an installed contract")
    pnc.add_argument("--oem-key", help="OEM provisioning key label (the CertificateInstallation cases)")
    pnc.add_argument("--oem-cert", type=Path, help="OEM provisioning certificate (PEM), with --oem-key")
    add_store_arguments(p.add_argument_group("key store (as `evcc keys` takes it), for --vehicle-key and PnC"))
    p.set_defaults(func=run)


def _sdp_address(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"--sdp-address {text!r}: expected ADDRESS:PORT") from None
    if not host or not 0 < number < 65536:
        raise ConfigError(f"--sdp-address {text!r}: expected ADDRESS:PORT")
    return host.strip("[]"), number


def print_list(cases: Sequence[Case], out: TextIO) -> None:
    for c in cases:
        long = " (--full)" if c.full_only else ""
        print(f"{c.id:<58} {', '.join(c.protocols):<14} {'; '.join(c.requirements)}\n    {c.title}{long}", file=out)
    print(f"{len(cases)} cases", file=out)


@contextlib.contextmanager
def _tls(args: argparse.Namespace) -> Iterator[tuple[TlsConfig | None, TlsConfig | None]]:
    roots = tuple(args.v2g_root)
    if not roots:
        if args.tls or args.vehicle_key:
            raise ConfigError("--tls and --vehicle-key need at least one --v2g-root")
        yield None, None
        return
    tls12 = TlsConfig(v2g_roots=roots)
    if args.vehicle_key is None:
        yield tls12, None
        return
    from evcc.keys.options import store_options
    from evcc.session.attach_contracts import PncOptions, client_certificate, open_keystore
    opts = PncOptions(None, roots, store_options(args)[0], vehicle_key=args.vehicle_key,
                      vehicle_cert=args.vehicle_cert)
    with open_keystore(opts) as keys:
        yield tls12, TlsConfig(v2g_roots=roots, version=TlsVersion.TLS13,
                               client_certificate=client_certificate(opts, keys))


@contextlib.contextmanager
def _pnc(args: argparse.Namespace) -> Iterator[PncMaterial | None]:
    """The EV's contract side and the test PKIs for the Plug & Charge cases (ISO 15118-2), or None."""
    if args.pnc_pki is None:
        if args.contracts is not None or args.oem_key is not None:
            raise ConfigError("--contracts and --oem-key go with --pnc-pki DIR")
        yield None
        return
    if args.contracts is None:
        raise ConfigError("--pnc-pki needs --contracts DIR (a contract store with an installed contract)")
    from evcc.keys.options import store_options
    from evcc.session.attach_contracts import PncOptions, contract_port, open_keystore
    pki = load_test_pki(args.pnc_pki)
    roots = tuple(args.v2g_root) or (args.pnc_pki / "iso2" / "certs" / "v2g_root.pem",)
    opts = PncOptions(args.contracts, roots, store_options(args)[0], args.oem_key, args.oem_cert,
                      (args.pnc_pki / "iso2" / "certs" / "mo_root.pem",))
    with open_keystore(opts) as keys, tempfile.TemporaryDirectory(prefix="evcc-conformance-install-") as spare:
        contracts = contract_port(opts, keys.store)
        if contracts.contract() is None:
            raise ConfigError(f"--contracts {args.contracts}: no installed contract")
        fresh = iter(range(1 << 30))

        def installer() -> ContractPort:  # an empty store each case: the EV does CertificateInstallation
            return contract_port(dataclasses.replace(opts, contracts=Path(spare) / str(next(fresh))), keys.store)

        yield PncMaterial(contracts, pki, foreign_pki(), installer=installer if args.oem_key else None)


def _progress(out: TextIO) -> Callable[[int, int, CaseResult], None]:
    def show(i: int, n: int, r: CaseResult) -> None:
        timing = r.timings.get("response_s")
        extra = f" ({timing * 1000:.1f} ms)" if timing is not None else ""
        print(f"[{i:>3}/{n}] {r.verdict.value:<14} {r.case.id}: {r.reason}{extra}", file=out, flush=True)
    return show


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        cases = select(all_cases(), args.cases, args.protocol, args.full)
        if args.list:
            print_list(cases, out)
            return EXIT_OK
        if args.iface is None and args.sdp_address is None and args.passive is None:
            raise ConfigError("give --iface IF (or --sdp-address ADDR:PORT, or --passive CAPTURE), or --list")
        if not cases:
            raise ConfigError("no case matches --protocol/--cases")
        if not args.out.is_dir():
            raise ConfigError(f"--out {args.out}: not a folder")
        if args.passive is not None:
            return _passive(args, cases, out)
        if args.keylog is not None:
            raise ConfigError("--keylog goes with --passive (a live run has its own TLS)")
        VehicleConfig(charge_seconds=args.charge_seconds, pack_voltage=args.pack_voltage)  # says what is wrong now
        charger = NetworkCharger(args.iface, _sdp_address(args.sdp_address))
        with _tls(args) as (tls12, tls13), _pnc(args) as pnc:
            opts = RunOptions(tls12=tls12, tls13=tls13, charge_seconds=args.charge_seconds, pnc=pnc,
                              case_timeout=args.case_timeout, full=args.full, session_tls=args.tls,
                              pack_voltage=args.pack_voltage, precharge_tolerance=args.precharge_tolerance,
                              min_msg_timeout=args.min_msg_timeout)
            return _run(args, cases, charger, opts, out, err)
    except OSError as exc:
        print(f"evcc conformance: {exc}", file=err)
        return EXIT_CONFIG
    except (ConfigError, PlatformError, StoreError) as exc:
        print(f"evcc conformance: {exc}", file=err)
        return EXIT_CONFIG
    except EvccError as exc:
        print(f"evcc conformance: failed: {exc}", file=err)
        return EXIT_FAILED


def _run(args: argparse.Namespace, cases: Sequence[Case], charger: NetworkCharger, opts: RunOptions,
         out: TextIO, err: TextIO) -> int:
    report = SuiteReport(args.iface or f"SDP at {args.sdp_address}", time.time(), selected=len(cases),
                         options={"protocols": args.protocol, "cases": args.cases, "full": args.full,
                                  "tls": args.tls})
    status = EXIT_OK
    try:
        asyncio.run(run_suite(cases, lambda: charger, opts, _progress(out), report.results))
    except KeyboardInterrupt:
        report.interrupted = True
        status = EXIT_INTERRUPTED
        print(f"evcc conformance: interrupted after {len(report.results)} of {len(cases)} cases", file=err)
    finally:
        report.finished = time.time()
        paths = write_all(report, args.out)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
    print(f"{len(report.results)} cases: {counts}; report: {', '.join(str(p) for p in paths)}", file=out)
    if status == EXIT_OK and report.failed:
        status = EXIT_FAILED
    return status


def _passive(args: argparse.Namespace, cases: Sequence[Case], out: TextIO) -> int:
    from evcc.conformance.passive import run_passive
    from evcc.trace.cli import plain_data
    from evcc.trace.decode import decode_packets
    from evcc.trace.pcap import read_pcap
    try:
        data = args.passive.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--passive {args.passive}: {exc.strerror or exc}") from exc
    report = SuiteReport(f"capture {args.passive}", time.time(), selected=len(cases),
                         options={"passive": str(args.passive), "cases": args.cases, "protocols": args.protocol})
    report.results = run_passive(list(cases), decode_packets(read_pcap(data), plain_data(args.passive, args.keylog)))
    report.finished = time.time()
    show = _progress(out)
    for i, r in enumerate(report.results):
        if r.verdict.value != "not applicable":
            show(i + 1, len(report.results), r)
    paths = write_all(report, args.out)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items())
    print(f"{len(report.results)} cases: {counts}; report: {', '.join(str(p) for p in paths)}", file=out)
    return EXIT_FAILED if report.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evcc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["conformance", *(sys.argv[1:] if argv is None else argv)])
    status: int = args.func(args)
    return status
