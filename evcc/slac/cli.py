"""``evcc slac --iface IF``: run the EV side of SLAC (ISO 15118-3 §9) once on a real or simulated modem.

Prints the chosen EVSE, its attenuation, the NID and the time taken, and one ``deviation=`` line per deviation of
the EVSE that the EV tolerated (issue #14); exit status 0 on a match, 1 when SLAC failed (the phase is printed),
2 when the platform refused (missing interface, no CAP_NET_RAW, interface down).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from evcc.entry import standalone_main
from evcc.errors import ConfigError, PlatformError
from evcc.plc.link import bring_up, wait_link_local
from evcc.plc.rawsock import RawSocket
from evcc.slac.config import SlacConfig
from evcc.slac.machine import EvSlac
from evcc.slac.runner import SlacFailed, SlacRunner, system_rng
from evcc.slac.timers import DEFAULT_TIMERS, SlacTimers

EXIT_MATCHED = 0
EXIT_FAILED = 1
EXIT_PLATFORM = 2


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("slac", help="run SLAC (ISO 15118-3) once on the modem's interface")
    p.add_argument("--iface", required=True, help="Ethernet interface of the GreenPHY modem")
    p.add_argument("--parm-retries", type=int, default=DEFAULT_TIMERS.C_EV_match_retry,
                   help="CM_SLAC_PARM.REQ resends after the first (spec 2; the field may need more)")
    p.add_argument("--max-attenuation", type=float, default=DEFAULT_TIMERS.C_EV_match_signalattn_indirect,
                   help="reject EVSEs whose mean attenuation is above this (dB)")
    p.add_argument("--validate", action="store_true", help="run CM_VALIDATE when the two best EVSEs are close")
    p.add_argument("--match-join", type=float, default=DEFAULT_TIMERS.TT_match_join,
                   help="TT_match_join: seconds from CM_SLAC_MATCH.CNF to link-up")
    p.add_argument("--ipv6-timeout", type=float, default=3.0,
                   help="seconds to wait for a usable IPv6 link-local address after the match (0: skip)")
    p.set_defaults(func=run)


async def _slac(args: argparse.Namespace) -> int:
    await bring_up(args.iface)
    sock = RawSocket.open(args.iface)
    sock.start()
    try:
        timers = dataclasses.replace(SlacTimers(), TT_match_join=args.match_join)
        config = SlacConfig(sock.mac, parm_retries=args.parm_retries, max_attenuation_db=args.max_attenuation,
                            validate=args.validate, timers=timers)
        machine = EvSlac(config, system_rng)
        runner = SlacRunner(machine, sock)
        try:
            matched = await runner.match()
        except SlacFailed as exc:
            print(f"SLAC FAILED phase={exc.phase.name}: {exc}")
            return EXIT_FAILED
        finally:
            for deviation in machine.deviations.deviations():
                print(f"deviation={deviation.describe()}")
        print(f"evse_mac={matched.evse_mac.hex(':')}")
        print(f"attenuation_db={matched.attenuation_db:.1f}")
        print(f"nid={matched.nid.hex()}")
        print(f"time_s={matched.link_up - matched.started:.3f}")
        if args.ipv6_timeout > 0:
            address = await wait_link_local(args.iface, args.ipv6_timeout)
            print(f"ipv6_link_local={address}")
        return EXIT_MATCHED
    finally:
        sock.close()


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_slac(args))
    except (PlatformError, ConfigError) as exc:
        print(f"evcc slac: {exc}", file=sys.stderr)
        return EXIT_PLATFORM


def main(argv: list[str] | None = None) -> int:
    return standalone_main(register, argv)


if __name__ == "__main__":
    sys.exit(main())
