"""`evcc run --config <toml>`: the onboard service (the daemon under systemd, or by hand on a bench).

Exit status: 0 after SIGTERM/SIGINT and an orderly stop; 2 for an invalid configuration (the message names
the key); 3 when the platform refuses at start (unknown interface, CAN bus, token or PIN, D-Bus name);
1 for an unexpected internal error. Start-up errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import faulthandler
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

from evcc.app.compose import Parts, build
from evcc.app.config import load_config
from evcc.app.daemon import Daemon
from evcc.app.logs import setup_logging
from evcc.app.notify import Notifier, watchdog_interval
from evcc.entry import standalone_main
from evcc.errors import ConfigError, EvccError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_PLATFORM = 3
DEFAULT_CONFIG = Path("/etc/evcc/evcc.toml")
LOG = logging.getLogger("evcc.app")


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("run", help="run the onboard service (D-Bus, BMS bridge, charging sessions)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"TOML configuration (default {DEFAULT_CONFIG})")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")
    p.add_argument("--user", metavar="NAME", help="with --check: the files must be readable by this user "
                   "(default: the user running the check, as the unit's ExecStartPre does)")
    p.set_defaults(func=run)


def _fail(exc: EvccError) -> int:
    print(f"<3>evcc run: {exc}", file=sys.stderr, flush=True)
    return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_PLATFORM


async def _serve(config_path: Path) -> int:
    cfg = load_config(config_path)
    setup_logging(cfg.log.level)
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # debugging aid: stacks to the journal
    notifier = Notifier(os.environ)
    parts: Parts | None = None
    try:
        parts = build(cfg)
        daemon = Daemon(parts, notifier, watchdog_interval(os.environ))
        return await daemon.run()
    finally:
        if parts is not None:
            await parts.aclose()  # the key store closes after a running D-Bus write
        notifier.close()


def run(args: argparse.Namespace) -> int:
    try:
        if args.check:
            cfg = load_config(args.config)
            from evcc.app.check_files import Identity, check_files  # the files the service will open (issue 15)

            files = check_files(cfg, Identity.user(args.user) if getattr(args, "user", None) else None)
            for line in files:
                print(f"<3>evcc run: {cfg.source}: {line}", file=sys.stderr, flush=True)
            if files:
                return EXIT_CONFIG
            from evcc.keys.check import check_keys  # the configured keys and certificates (evcc keys)

            keys = check_keys(cfg, datetime.now(timezone.utc))
            from evcc.hsm.capabilities import check_configured_store  # what the store can do (issue 11)

            keys.problems.extend(check_configured_store(cfg))
            for line in keys.warnings:
                print(f"{cfg.source}: warning: {line}")
            for line in keys.problems:
                print(f"<3>evcc run: {cfg.source}: {line}", file=sys.stderr, flush=True)
            if keys.problems:
                return EXIT_CONFIG
            print(f"{cfg.source}: valid")
            return EXIT_OK
        return asyncio.run(_serve(args.config))
    except EvccError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        LOG.critical("internal error: %s: %s", type(exc).__name__, exc, exc_info=True)
        print(f"<2>evcc run: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    return standalone_main(register, argv)
