"""`evcc demo` without root: the daemon's own composition inside the demo process, with a demo-only link.

    demo process (one asyncio loop)
    ┌──────────────────────────────────────────────────────────────────────────────────────────────┐
    │ evcc.app.compose.build + evcc.app.daemon.Daemon (the code of `evcc run`: contract store, key  │
    │   store, machines, D-Bus service, BMS bridge)                                                 │
    │   link seam: LoopbackAttempt.reach_secc ── TCP (TLS 1.3 for -20) to ::1 ──► SECC simulators    │
    │   BMS bridge ── python-can "virtual" bus (this process only) ── BenchBms                       │
    └──────────────────────────────────────────────────────────────────────────────────────────────┘

What differs from `evcc run`, and only here: SLAC (ISO 15118-3) is skipped, SDP (ISO 15118-2 §7.10.1) is skipped
and the SECC's loopback address and port are given directly (the daemon's SDP client accepts only link-local
SECC addresses, and `evcc run` never leaves that path: :class:`~evcc.app.attempt.Attempt` is what its CLI builds);
the EVCCID is a fixed locally administered MAC instead of the loopback interface's zeros. Nothing in the TOML
configuration selects this: the subclass is handed to :class:`~evcc.app.daemon.Daemon` by this module alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from evcc.app.attempt import Attempt, Outcome
from evcc.errors import PeerError, SecurityError
from evcc.session.connection import V2gConnection, open_connection

if TYPE_CHECKING:
    from evcc.app.compose import Parts
    from evcc.app.daemon import Daemon
    from evcc.demo.world import World

LOG = logging.getLogger(__name__)
DEMO_MAC = bytes.fromhex("02ec0cde0001")  # locally administered (bit 1 of the first octet): not a real modem


def loopback_attempt(world: World) -> type[Attempt]:
    """An :class:`Attempt` whose link is the world's loopback charger (SLAC and SDP skipped)."""

    class LoopbackAttempt(Attempt):
        async def reach_secc(self) -> V2gConnection | Outcome:
            host, port = world.secc()
            self.on_phase("connect")
            LOG.info("demo link (in process): SLAC and SDP skipped",
                     extra={"fields": {"address": host, "port": port, "tls": self.parts.tls is not None}})
            try:
                return await open_connection(host, port, tls=self.parts.tls, accepted=self.accepted_payloads())
            except (PeerError, SecurityError) as exc:
                return Outcome(None, f"connection to the SECC: {exc}", "connect")

    return LoopbackAttempt


def compose(world: World, config: Path, log: Path) -> tuple[Parts, Daemon]:
    """The parts of `evcc run` from the world's TOML (log lines into ``log``) and the daemon over them."""
    from evcc.app.compose import build
    from evcc.app.config import load_config
    from evcc.app.daemon import Daemon
    from evcc.app.logs import setup_logging
    from evcc.app.notify import Notifier

    cfg = load_config(config)
    stream = log.open("a", encoding="utf-8")
    setup_logging(cfg.log.level, stream)
    parts = build(cfg)
    parts.mac = DEMO_MAC
    return parts, Daemon(parts, Notifier({}), None, attempt_class=loopback_attempt(world))
