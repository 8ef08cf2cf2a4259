"""`evcc bench`: a complete simulated DC charging session from plug-in (ISO 15118-3 SLAC, then ISO 15118-2
§7.10.1 SDP through the matched powerline, TCP or TLS 1.2, SupportedAppProtocol and the DIN SPEC 70121 or
ISO 15118-2 DC EIM machine) against the bench's EVSE and SECC simulators, charging the battery model to a
target SoC and ending with SessionStop.

With permission to create network namespaces (root) every part runs on real sockets: veth pairs, the
powerline simulator, raw SLAC frames, UDP multicast, TCP. Otherwise (or with ``--link memory``) the same
sans-IO parts are paired in process on a virtual clock, and the output says so.

The battery's clock runs ``--time-scale`` times faster than the protocol's (default 300: a 40 -> 80 % charge
of 50 kWh takes seconds); protocol timers always run at the standard's values.

Exit status: 0 when the session ended with SessionStop, 1 when SLAC, SDP, the connection or the session
failed (the reason is printed and in the JSON report), 2 for a platform or configuration error, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from evcc.bench.compose import run_netns
from evcc.bench.display import Display
from evcc.bench.memory_link import run_memory
from evcc.bench.plc_sim.topology import Topology
from evcc.bench.report import BenchReport, write_json
from evcc.bench.scenario import LINK_MODES, PROTOCOLS, Scenario
from evcc.errors import ConfigError, PlatformError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PLATFORM = 2
EXIT_INTERRUPTED = 130


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("bench", help="simulated charging session from plug-in (SLAC, SDP, TCP/TLS, DC session)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="din",
                   help="protocol the EV offers and the SECC supports (default din)")
    p.add_argument("--tls", action="store_true", help="TLS 1.2 with a test PKI generated for this run")
    p.add_argument("--start-soc", type=float, default=40.0, help="state of charge at plug-in, percent")
    p.add_argument("--target-soc", type=float, default=80.0, help="charge until this SoC, percent")
    p.add_argument("--capacity-kwh", type=float, default=50.0, help="battery capacity")
    p.add_argument("--time-scale", type=float, default=300.0,
                   help="battery seconds per protocol second (the protocol timers are not scaled)")
    p.add_argument("--evse-attenuation", type=int, action="append", metavar="DB",
                   help="add an EVSE with this attenuation (repeatable; default one EVSE at 24 dB)")
    p.add_argument("--link", choices=LINK_MODES, default="auto",
                   help="netns: sockets in network namespaces (root); memory: in-process link;"
                        " auto: netns when possible (default)")
    p.add_argument("--evse-silent", action="store_true", help="fault: the EVSEs never answer SLAC")
    p.add_argument("--no-secc", action="store_true", help="fault: no SECC behind the EVSE (SDP unanswered)")
    p.add_argument("--secc-silent-from", metavar="RES", help="fault: the SECC stops answering at this response")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the machine-readable report here")
    p.set_defaults(func=run)


def scenario_from(args: argparse.Namespace) -> Scenario:
    return Scenario(
        protocol=args.protocol, tls=args.tls, start_soc=args.start_soc, target_soc=args.target_soc,
        capacity_kwh=args.capacity_kwh, time_scale=args.time_scale,
        attenuations=tuple(args.evse_attenuation or (24,)), link=args.link, evse_silent=args.evse_silent,
        no_secc=args.no_secc, secc_silent_from=args.secc_silent_from,
    )


def _topology(scenario: Scenario) -> tuple[Topology | None, str | None]:
    """Namespaces and veth pairs, or why not (then the in-process link is used, unless ``--link netns``)."""
    if scenario.link == "memory":
        return None, None
    try:
        return Topology(n_evse=len(scenario.attenuations)).create(), None
    except PlatformError as exc:
        if scenario.link == "netns":
            raise
        return None, f"cannot create network namespaces ({exc})"


def bench(scenario: Scenario, out: TextIO, json_path: Path | None = None) -> tuple[int, BenchReport]:
    display = Display(out)
    topo, fallback = _topology(scenario)
    report = BenchReport(
        link="netns" if topo else "memory", clock="wall" if topo else "virtual", fallback_reason=fallback,
        protocol=scenario.protocol, tls=scenario.tls and topo is not None, start_soc=scenario.start_soc,
        end_soc=scenario.start_soc, target_soc=scenario.target_soc, time_scale=scenario.time_scale,
    )
    if fallback:
        display.note(f"evcc bench: {fallback}: using the in-process link")
    started = time.monotonic()
    status = EXIT_FAILED
    try:
        if topo is not None:
            display.note(f"evcc bench: namespaces {topo.prefix}-* (EV, {len(topo.evses)} EVSE, powerline)")
            run_netns(scenario, topo, display, report)
        else:
            run_memory(scenario, display, report)
        status = EXIT_OK if report.ok else EXIT_FAILED
    except (KeyboardInterrupt, asyncio.CancelledError):
        report.fail("interrupted")
        status = EXIT_INTERRUPTED
    finally:
        if topo is not None:
            topo.close()
        report.duration_s = round(time.monotonic() - started, 3)
    display.final(report)
    if json_path is not None:
        write_json(report, json_path)
    return status, report


def run(args: argparse.Namespace) -> int:
    try:
        if args.json is not None and not args.json.parent.is_dir():
            raise ConfigError(f"--json {args.json}: folder {args.json.parent} does not exist")
        status, _report = bench(scenario_from(args), sys.stdout, args.json)
    except (PlatformError, ConfigError) as exc:
        print(f"evcc bench: {exc}", file=sys.stderr)
        return EXIT_PLATFORM
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evcc")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
