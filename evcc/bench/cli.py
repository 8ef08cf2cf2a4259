"""`evcc bench`: a complete simulated charging session from plug-in (ISO 15118-3 SLAC, then ISO 15118-2
§7.10.1 SDP through the matched powerline, TCP or TLS 1.2, SupportedAppProtocol and the DIN SPEC 70121 or
ISO 15118-2 machine, AC or DC, External Identification Means or Plug & Charge with CertificateInstallation)
against the bench's EVSE and SECC simulators, charging the battery model to a target SoC and ending with
SessionStop. With ``--scenario FILE...`` it runs scenario files and prints a PASS/FAIL verdict for each.

With permission to create network namespaces (root) every part runs on real sockets: veth pairs, the
powerline simulator, raw SLAC frames, UDP multicast, TCP. Otherwise (or with ``--link memory``) the same
sans-IO parts are paired in process on a virtual clock, and the output says so.

The battery's clock runs ``--time-scale`` times faster than the protocol's (default 300: a 40 -> 80 % charge
of 50 kWh takes seconds); protocol timers always run at the standard's values.

Test-only outputs: ``--trace DIR`` writes the EV side's pcap and the TLS key log (the key log decrypts the
session: never on a vehicle). The session state is served on a private D-Bus (org.evcc.Evcc1) when
dbus-daemon is installed.

Exit status: 0 when the session ended with SessionStop (with --scenario: every verdict PASS), 1 when SLAC,
SDP, the connection or the session failed (or a verdict is FAIL), 2 for a platform or configuration error,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evcc.bench.pnc import KEY_STORES, BenchKeyStore
from evcc.bench.run import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PLATFORM, Outputs, bench
from evcc.bench.scenario import AUTH_MODES, CONTROL_MODES, CURRENT_TYPES, LINK_MODES, PROTOCOLS, Scenario, Step
from evcc.bench.scenario_faults import FORMS, parse_faults
from evcc.bench.scenario_file import ScenarioFile, load_scenario
from evcc.bench.verdict import judge
from evcc.entry import standalone_main
from evcc.errors import ConfigError, PlatformError
from evcc.session.report_common import write_atomic

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PLATFORM", "main", "register", "run"]


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("bench", help="simulated charging session from plug-in (SLAC, SDP, TCP/TLS, DC/AC, EIM/PnC)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", type=Path, nargs="+", metavar="FILE",
                   help="run these scenario files (TOML) and print a verdict each; the options below that"
                        " describe the EV and charger are then taken from the files")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="din",
                   help="protocol the EV offers and the SECC supports (default din)")
    p.add_argument("--tls", action="store_true",
                   help="TLS with a test PKI generated for this run: 1.2 (din, iso2), 1.3 with the vehicle"
                        " certificate (iso20-*)")
    p.add_argument("--auth", choices=AUTH_MODES, default=None,
                   help="eim: external identification; pnc: Plug & Charge (contract certificate; default with"
                        " --protocol iso2/iso20-* --tls)")
    p.add_argument("--current", choices=CURRENT_TYPES, default="dc", help="DC (default) or AC charging (iso2)")
    p.add_argument("--control", choices=CONTROL_MODES, default="scheduled",
                   help="ISO 15118-20 control mode (default scheduled)")
    p.add_argument("--dynamic-power-kw", type=float, default=None, metavar="KW",
                   help="ISO 15118-20 Dynamic: the power the charger's grid asks for (negative: BPT discharge)")
    p.add_argument("--contract-installed", action="store_true",
                   help="PnC: install the contract before the session (default: CertificateInstallation in it)")
    p.add_argument("--start-soc", type=float, default=40.0, help="state of charge at plug-in, percent")
    p.add_argument("--target-soc", type=float, default=80.0, help="charge until this SoC, percent")
    p.add_argument("--capacity-kwh", type=float, default=50.0, help="battery capacity")
    p.add_argument("--stop-at-soc", type=float, default=None, metavar="PERCENT",
                   help="the EV stops the session when its SoC reaches this (from above while discharging)")
    p.add_argument("--time-scale", type=float, default=300.0,
                   help="battery seconds per protocol second (the protocol timers are not scaled)")
    p.add_argument("--min-cycle", type=float, default=None, metavar="S",
                   help="charge loop: at least S seconds from one loop request to the next (0: as fast as the "
                        "simulated charger answers; default: a real car's 0.1 s divided by --time-scale)")
    p.add_argument("--evse-attenuation", type=int, action="append", metavar="DB",
                   help="add an EVSE with this attenuation (repeatable; default one EVSE at 24 dB)")
    p.add_argument("--link", choices=LINK_MODES, default=None,
                   help="netns: sockets in network namespaces (root); memory: in-process link;"
                        " auto: netns when possible (default)")
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="a fault to inject (repeatable): " + ", ".join(FORMS))
    p.add_argument("--evse-silent", action="store_true", help="fault: the EVSEs never answer SLAC")
    p.add_argument("--no-secc", action="store_true", help="fault: no SECC behind the EVSE (SDP unanswered)")
    p.add_argument("--secc-silent-from", metavar="RES",
                   help="fault: the SECC stops answering at this response (alias of --fault silence:RES)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the machine-readable report here")
    p.add_argument("--plot", type=Path, metavar="FILE", help="write an SVG plot of SoC, voltage, current, power")
    p.add_argument("--trace", type=Path, metavar="DIR",
                   help="TEST ONLY: write the EV side's pcap and the TLS key log into this folder")
    p.add_argument("--no-dbus", action="store_true", help="do not serve the session state on a private D-Bus")
    p.add_argument("--key-store", choices=KEY_STORES, default=None,
                   help="PnC/TLS: where the EV's keys live: softhsm (a private SoftHSM2 token, the default), tpm "
                        "(TPM 2.0: a private swtpm for the run, or --tcti), soft (software store, bench only)")
    p.add_argument("--tcti", metavar="STRING", default=None,
                   help="with --key-store tpm: use this TPM (e.g. device:/dev/tpmrm0, tabrmd:bus_type=session) "
                        "instead of a private swtpm")
    p.add_argument("--no-softhsm", action="store_true", help="PnC: software key store (alias of --key-store soft)")
    p.set_defaults(func=run)


def scenario_from(args: argparse.Namespace) -> Scenario:
    specs = list(args.fault)
    specs += ["evse-silent"] if args.evse_silent else []
    specs += ["no-secc"] if args.no_secc else []
    specs += [f"silent-from:{args.secc_silent_from}"] if args.secc_silent_from else []
    faults = parse_faults(specs)
    auth = args.auth or ("pnc" if args.protocol != "din" and args.tls else "eim")
    return Scenario(
        protocol=args.protocol, tls=args.tls, auth=auth, current=args.current, control=args.control,
        dynamic_power_kw=args.dynamic_power_kw, stop_after_loop=faults.stop_after_loop,
        install_contract=not args.contract_installed, start_soc=args.start_soc, target_soc=args.target_soc,
        capacity_kwh=args.capacity_kwh, time_scale=args.time_scale, min_cycle=args.min_cycle,
        attenuations=tuple(args.evse_attenuation or (24,)), link=args.link or "auto",
        steps=(Step("stop", at_soc=args.stop_at_soc),) if args.stop_at_soc is not None else (),
        evse_silent=faults.evse_silent, no_secc=faults.no_secc, fault=faults.secc,
    )


def _outputs(args: argparse.Namespace) -> Outputs:
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and not path.parent.is_dir():
            raise ConfigError(f"{option} {path}: folder {path.parent} does not exist")
    if args.trace is not None:
        try:
            args.trace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--trace {args.trace}: {exc.strerror or exc}") from exc
    return Outputs(args.json, args.plot, args.trace, dbus=not args.no_dbus, key_store=_key_store(args))


def _key_store(args: argparse.Namespace) -> BenchKeyStore:
    kind = args.key_store or ("soft" if args.no_softhsm else "softhsm")
    if args.no_softhsm and kind != "soft":
        raise ConfigError(f"--no-softhsm (software store) contradicts --key-store {kind}")
    if args.tcti is not None and kind != "tpm":
        raise ConfigError(f"--tcti {args.tcti}: only with --key-store tpm")
    return BenchKeyStore(kind, args.tcti)


def run_scenarios(files: list[ScenarioFile], outputs: Outputs) -> int:
    results = []
    for f in files:
        print(f"=== scenario {f.name} ({f.path})" + (f": {f.description}" if f.description else ""), flush=True)
        status, report = bench(f.scenario, sys.stdout, Outputs(None, outputs.plot, outputs.trace,
                                                               outputs.dbus, outputs.key_store))
        if status == EXIT_INTERRUPTED:
            return status
        verdict = judge(f.expect, report)
        print(f"verdict {verdict.word}: {f.name}: {verdict.why} (end: {verdict.reason})", flush=True)
        results.append({"file": str(f.path), "name": f.name, "verdict": verdict.word, "why": verdict.why,
                        "outcome": verdict.outcome, "stage": verdict.stage, "report": report.as_dict()})
    passed = sum(r["verdict"] == "PASS" for r in results)
    print(f"scenarios: {passed} of {len(results)} passed")
    for r in results:
        print(f"  {r['verdict']}  {r['name']}: {r['why']}")
    if outputs.json is not None:
        write_atomic(outputs.json, (json.dumps({"scenarios": results}, indent=2) + "\n").encode(), "--json")
    return EXIT_OK if passed == len(results) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    try:
        outputs = _outputs(args)
        if args.scenario:
            files = [load_scenario(path, args.link) for path in args.scenario]
            if len(files) > 1 and (args.plot or args.trace):
                raise ConfigError("--plot and --trace take one scenario at a time")
            return run_scenarios(files, outputs)
        status, _report = bench(scenario_from(args), sys.stdout, outputs)
    except (PlatformError, ConfigError) as exc:
        print(f"evcc bench: {exc}", file=sys.stderr)
        return EXIT_PLATFORM
    return status


def main(argv: list[str] | None = None) -> int:
    return standalone_main(register, argv)


if __name__ == "__main__":
    sys.exit(main())
