"""Josev's EVCC (PyPI ``iso15118`` 0.31.2, the EV side: ``python -m iso15118.evcc.main``) and ours against the
same SECC simulator, for benchmarks/session_bench.py (issue 4, Performance: "the same measured for Josev's EVCC
against the same simulator, as a ratio").

Set-up: a veth pair between two network namespaces (evcc.bench.secc.link.VethLink); our SECC simulator
(evcc.bench.secc: SDP responder and the TCP server with the ISO 15118-2 responder, DC, EIM, simulated response
time 0) in the SECC namespace; the EVCC under test as its own process in the EV namespace: Josev's with a
``.env`` (NETWORK_INTERFACE, EVCC_CONFIG_PATH) and an EVCC JSON configuration in a private working folder, or
ours (``python -m evcc.session.cli``). Both are measured at the simulator, with the same clock (the event loop's
monotonic time) and the same stamps, so neither EVCC's own report enters the figures:

- wall clock from the SDP request's arrival to PowerDeliveryRes(Start) leaving the simulator;
- per message, the EV's turn: a request's arrival minus the previous response's departure (the EVCC's decode,
  state machine, vehicle, encode and its socket path; the veth pair adds the same few microseconds to both).

Each session is a process of its own for both (Josev's EVCC exits after SessionStop whatever its
``sdpRetryCycles``), as after a plug-in; the clock starts at SDP, after the interpreter (and Josev's JVM, its EXI
codec being EXIficient in Java) has started. If Josev's EVCC does not complete, :class:`JosevFailed` carries the exchange the
simulator saw and the end of Josev's log. The venv is scripts/setup.d/30-security.sh's (``EVCC_JOSEV_VENV``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evcc.bench.secc.din_responder import DinSecc
from evcc.bench.secc.iso2_responder import Iso2Secc, Iso2SeccConfig
from evcc.bench.secc.link import VethLink, in_netns
from evcc.bench.secc.memory import SeccResponder, accepted_payload_types, deliver, payload_type_for
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.sdp_server import SdpResponder, serve_sdp
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.session import sap
from evcc.session.sdp import SdpResponse, Security, Transport

ROOT = Path(__file__).resolve().parents[1]
JOSEV_VENV = Path(os.environ.get("EVCC_JOSEV_VENV", "/opt/evcc-test/josev-venv"))
JOSEV_PYTHON = JOSEV_VENV / "bin" / "python"
SUPPORTED = [SupportedProtocol("iso2", sap.ISO2_NAMESPACE, 2, 0)]
SECC_CONFIG = Iso2SeccConfig(response_time=0.0, cable_check_rounds=1, precharge_step=1000.0)
GAVE_UP = "Shutting down high-level communication"  # Josev's EVCC log line when it ends its SDP cycles
SESSION_TIMEOUT_S = 90.0  # a cold JVM on a loaded 2-CPU machine takes a while for its first messages


class JosevFailed(RuntimeError):
    """Josev's EVCC did not reach PowerDeliveryRes(Start) against the simulator: ``str()`` says why, with the
    exchange the simulator saw and the end of Josev's log."""


def josev_installed() -> bool:
    return JOSEV_PYTHON.exists()


@dataclass
class Stamps:
    """What the simulator saw of one connection: (monotonic time, "req" | response body name)."""

    events: list[tuple[float, str]] = field(default_factory=list)

    def first(self, name: str) -> float | None:
        return next((t for t, n in self.events if n == name), None)

    def exchange(self) -> list[str]:
        return [n for _, n in self.events]


class StampedSecc:
    """A responder that notes each request's arrival and each response's departure (``now`` of the server's
    loop: ``messages_to_send`` is called right before the bytes are written)."""

    def __init__(self, inner: SeccResponder, stamps: Stamps) -> None:
        self.inner = inner
        self.stamps = stamps

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        self.stamps.events.append((now, "req"))
        deliver(self.inner, payload_type, data, now)

    def receive_payload(self, data: bytes, now: float) -> None:
        self.receive_typed(0x8001, data, now)

    def messages_to_send(self, now: float) -> list[Any]:
        out = self.inner.messages_to_send(now)
        for msg in out:
            body = getattr(msg, "Body", None)
            name = next((f for f, v in zip(body._fields, body) if v is not None), "?") if body is not None else "?"
            self.stamps.events.append((now, name))
        return out

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def payload_type_of(self, msg: Any) -> int:
        return payload_type_for(self.inner, msg)

    @property
    def accepted_payload_types(self) -> frozenset[int]:
        return accepted_payload_types(self.inner)


@dataclass
class StampedSdp(SdpResponder):
    """The SDP responder with each request's arrival time (time.monotonic, the event loop's clock)."""

    arrivals: list[float] = field(default_factory=list)

    def answer(self, datagram: bytes) -> bytes | None:
        self.arrivals.append(time.monotonic())
        return super().answer(datagram)


@dataclass
class Simulator:
    sdp: StampedSdp
    record: SeccLog
    connections: list[Stamps] = field(default_factory=list)


async def _serve_in_dynamic_range(host: str, responder: Callable[[], SeccResponder]) -> tuple[asyncio.Server,
                                                                                              SeccLog]:
    """The TCP server on a port of 49152..65535 (the range Josev's SDP client insists on; port 0 gets one of the
    kernel's ephemeral range, 32768..60999, and Josev drops that SDP response)."""
    for attempt in range(50):
        try:
            return await serve_secc(host, random.randint(49152, 65535), SUPPORTED, DinSecc,
                                    responders={"iso2": responder})
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or attempt == 49:
                raise
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def simulator(link: VethLink) -> AsyncIterator[Simulator]:
    """Our SECC simulator (ISO 15118-2 DC, EIM offered with Contract, over TCP) in the SECC namespace."""
    address = link.link_local(link.secc_netns, link.secc_ifname)
    connections: list[Stamps] = []

    def responder() -> SeccResponder:
        connections.append(Stamps())
        return StampedSecc(Iso2Secc(config=SECC_CONFIG), connections[-1])

    with in_netns(link.secc_netns):
        server, record = await _serve_in_dynamic_range(f"{address}%{link.secc_ifname}", responder)
        port = server.sockets[0].getsockname()[1]
        sdp = StampedSdp(SdpResponse(address, port, Security.NO_TLS, Transport.TCP))
        transport = await serve_sdp(sdp, link.secc_ifname)
    sim = Simulator(sdp, record, connections)
    try:
        yield sim
    finally:
        transport.close()
        server.close()
        await server.wait_closed()


@dataclass
class SessionFigures:
    """One session as the simulator saw it, up to PowerDeliveryRes(Start)."""

    to_power_delivery_s: float  # SDP request arrival -> PowerDeliveryRes(Start) sent
    messages: int  # requests answered up to it (SessionSetup ... PowerDelivery)
    ev_turns_s: list[float]  # request arrival - previous response sent, for each of those requests but the first


def figures(sdp_arrivals: list[float], stamps: Stamps, after: float) -> SessionFigures | None:
    """The figures of one connection (None when it never got to PowerDeliveryRes): the SDP request is the first
    that arrived after ``after`` (the previous session's end)."""
    end = stamps.first("PowerDeliveryRes")
    sdp = next((t for t in sdp_arrivals if t > after), None)
    if end is None or sdp is None:
        return None
    turns, last_sent, count = [], None, 0
    for t, name in stamps.events:
        if t > end:
            break
        if name == "req":
            count += 1
            if last_sent is not None:
                turns.append(t - last_sent)
        else:
            last_sent = t
    return SessionFigures(end - sdp, count, turns)


def summary(name: str, runs: list[SessionFigures]) -> str:
    wall = statistics.median(r.to_power_delivery_s for r in runs) * 1000.0
    turns = [t for r in runs for t in r.ev_turns_s]
    turn = statistics.median(turns) * 1000.0
    return (f"{name}: SDP -> PowerDeliveryRes(Start) median {wall:.1f} ms ({runs[0].messages} requests), EV's turn "
            f"per message median {turn:.2f} ms (p90 {sorted(turns)[int(len(turns) * 0.9)] * 1000.0:.2f} ms) "
            f"over {len(runs)} session(s)")


def _josev_config(workdir: Path, link: VethLink) -> None:
    """Its ISO 15118-2 DC EIM example (evcc_config_eim_dc.json), two CurrentDemand rounds."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {"supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["DC"],
              "energyTransferMode": "DC_extended", "isCertInstallNeeded": False, "useTls": False,
              "enforceTls": False, "chargeLoopCycle": 2}
    (workdir / "evcc_config.json").write_text(json.dumps(config))
    env = {"NETWORK_INTERFACE": link.ev_ifname, "EVCC_CONFIG_PATH": str(workdir / "evcc_config.json"),
           "LOG_LEVEL": "INFO", "MESSAGE_LOG_JSON": "False", "MESSAGE_LOG_EXI": "False"}
    (workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))


async def _wait(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > end:
            return check()
        await asyncio.sleep(0.02)
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)  # the process group we started (its JVM child)


def _why(sim: Simulator, log: Path, proc: subprocess.Popen[bytes]) -> str:
    seen = [" ".join(s.exchange()) for s in sim.connections]
    tail = log.read_text(errors="replace").splitlines()[-25:] if log.exists() else []
    exit_note = f"exited with {proc.returncode}" if proc.poll() is not None else "still running (stopped)"
    return (f"Josev's EVCC did not reach PowerDeliveryRes(Start): {exit_note}; SDP requests {len(sim.sdp.arrivals)}, "
            f"connections {sim.record.connections}, simulator errors {sim.record.errors or 'none'}; exchange per "
            f"connection (req = a request arrived): {seen or 'none'}\n  Josev's log (end):\n    "
            + "\n    ".join(tail))


async def run_josev(link: VethLink, workdir: Path, sessions: int) -> list[SessionFigures]:
    """``sessions`` sessions of Josev's EVCC, one process each (it exits after SessionStop), each to SessionStopRes
    (then stopped: it would idle 5 s before closing TCP)."""
    _josev_config(workdir, link)
    runs: list[SessionFigures] = []
    async with simulator(link) as sim:
        after = 0.0
        for n in range(sessions):
            log = workdir / f"josev-evcc-{n}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(["ip", "netns", "exec", link.ev_netns, str(JOSEV_PYTHON), "-m",
                                         "iso15118.evcc.main"], cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            try:
                def done(n: int = n, log: Path = log) -> bool:
                    if GAVE_UP in log.read_text(errors="replace"):  # it ended its attempts but keeps running
                        return True
                    return len(sim.connections) > n and sim.connections[n].first("SessionStopRes") is not None
                ok = await _wait(done, proc, SESSION_TIMEOUT_S) and len(sim.connections) > n
                got = figures(sim.sdp.arrivals, sim.connections[n], after) if ok else None
                if got is None:
                    raise JosevFailed(_why(sim, log, proc))
            finally:
                _stop(proc)
            runs.append(got)
            after = sim.connections[n].events[-1][0]
    return runs


async def run_ours(link: VethLink, workdir: Path, sessions: int) -> list[SessionFigures]:
    """``sessions`` sessions of `evcc session` (python -m evcc.session.cli), each its own process, same simulator."""
    runs: list[SessionFigures] = []
    async with simulator(link) as sim:
        after = 0.0
        for n in range(sessions):
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", link.ev_netns, sys.executable, "-m", "evcc.session.cli", "--iface",
                link.ev_ifname, "--protocol", "iso2", "--dc", "--start-soc", "79", "--target-soc", "80",
                "--capacity-kwh", "0.01", "--json", str(workdir / f"ours-{n}.json"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT)
            out, _ = await asyncio.wait_for(proc.communicate(), SESSION_TIMEOUT_S)
            got = figures(sim.sdp.arrivals, sim.connections[-1], after) if sim.connections else None
            if proc.returncode != 0 or got is None:
                raise RuntimeError(f"our EVCC failed (exit {proc.returncode}): {out.decode()[-2000:]}")
            runs.append(got)
            after = sim.connections[-1].events[-1][0]
    return runs
