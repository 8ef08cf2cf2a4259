"""Josev's SECC (PyPI ``iso15118`` 0.31.2, INTEROP.md) as a test peer: its PKI, and its SECC process in the
SECC namespace of a veth pair, configured by a ``.env`` in a private working folder, its log collected.

Reusable by every interop module (-2, DIN, -20)::

    pki = make_josev_pki(tmp / "pki", version="iso-2", fix_emaid=True)
    with VethLink() as link, JosevSecc(link, tmp / "josev", pki, {"SECC_ENFORCE_TLS": "True"}) as secc:
        mark = secc.mark()
        ... run the EVCC in link.ev_netns on link.ev_ifname ...
        assert "SessionStopReq received" in secc.log_since(mark)

The venv comes from scripts/setup.d/30-security.sh (``EVCC_JOSEV_VENV``, default /opt/evcc-test/josev-venv).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from evcc import exi
from evcc.bench.secc.link import VethLink, in_netns
from evcc.contracts.emaid import check_character
from evcc.exi import Message, din, iso2
from evcc.session import sap
from evcc.session.connection import TlsConfig, open_connection
from evcc.session.sdp import SdpClient, Security
from evcc.session.sdp_aio import discover, interface_index, sdp_socket
from evcc.session.v2gtp import EXI_ENCODED

JOSEV_VENV = Path(os.environ.get("EVCC_JOSEV_VENV", "/opt/evcc-test/josev-venv"))
JOSEV_PYTHON = JOSEV_VENV / "bin" / "python"
JOSEV_EMAID = "UKSWI123456791A"  # its shipped contract CN: the ISO 15118-2 Annex H check character is wrong
READY_LINE = "UDP server started"
BASE_ENV = {
    "SECC_ENFORCE_TLS": "False",
    "ENABLE_TLS_1_3": "False",
    "AUTH_MODES": "EIM,PNC",
    "PROTOCOLS": "DIN_SPEC_70121,ISO_15118_2",
    "FREE_CERT_INSTALL_SERVICE": "True",
    "ALLOW_CERT_INSTALL_SERVICE": "True",
    "LOG_LEVEL": "DEBUG",
    "MESSAGE_LOG_EXI": "True",
}


class JosevError(RuntimeError):
    """Josev could not be installed, configured or started (a test set-up failure, not a finding)."""


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)
    if done.returncode != 0:
        raise JosevError(f"{' '.join(cmd[:3])} failed: {done.stderr[-2000:]}")
    return done.stdout


def josev_package() -> Path:
    if not JOSEV_PYTHON.exists():
        raise JosevError(f"Josev venv missing at {JOSEV_VENV}: scripts/setup.d/30-security.sh creates it")
    return Path(_run([str(JOSEV_PYTHON), "-c", "import iso15118, os; print(os.path.dirname(iso15118.__file__))"])
                .strip())


def make_josev_pki(target: Path, version: str = "iso-2", fix_emaid: bool = True) -> Path:
    """Copy iso15118/shared/pki out of the installed package and run its ``create_certs.sh -v <version>``.

    ``fix_emaid``: correct the check character of the contract certificate's eMAID (the only change; Josev's
    shipped value is rejected by a conforming EVCC, see tests/contracts/test_josev_interop.py)."""
    shutil.copytree(josev_package() / "shared" / "pki", target)
    if fix_emaid:
        cnf = target / "configs" / "contractLeafCert.cnf"
        cnf.write_text(cnf.read_text().replace(JOSEV_EMAID, fixed_emaid()))
    _run(["bash", "create_certs.sh", "-v", version], cwd=target)
    return target


def fixed_emaid() -> str:
    return JOSEV_EMAID[:14] + check_character(JOSEV_EMAID[:14])


def _session_setup(protocol: str) -> Message:
    mac = bytes.fromhex("020000000001")
    if protocol == "din":
        return din.V2G_Message(Header=din.MessageHeaderType(SessionID=bytes(8)),
                               Body=din.BodyType(SessionSetupReq=din.SessionSetupReqType(EVCCID=mac)))
    return iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=bytes(8)),
                            Body=iso2.BodyType(SessionSetupReq=iso2.SessionSetupReqType(EVCCID=mac)))


async def _warm_one(link: VethLink, offer: sap.ProtocolOffer, tls: TlsConfig | None) -> None:
    with in_netns(link.ev_netns):
        sock = sdp_socket(link.ev_ifname)
        try:
            found = await discover(SdpClient(Security.TLS if tls else Security.NO_TLS), sock)
        finally:
            sock.close()
        conn = await open_connection(str(found.address), found.port, tls=tls, scope_id=interface_index(link.ev_ifname))
    try:
        conn.send(EXI_ENCODED, exi.encode(sap.build_request([offer])))
        if await conn.receive(30.0) is None:
            raise JosevError("warm-up: no supportedAppProtocolRes within 30 s")
        conn.send(EXI_ENCODED, exi.encode(_session_setup(offer.protocol)))
        if await conn.receive(30.0) is None:
            raise JosevError(f"warm-up: no {offer.protocol} SessionSetupRes within 30 s")
    finally:
        conn.close()


class JosevSecc:
    """``python -m iso15118.secc.main`` in ``link.secc_netns`` on ``link.secc_ifname``; stopped (SIGTERM, then
    SIGKILL) on exit. ``env`` overrides :data:`BASE_ENV`. The log is ``workdir/josev.log``."""

    def __init__(self, link: VethLink, workdir: Path, pki: Path, env: dict[str, str] | None = None,
                 ready_timeout: float = 60.0) -> None:
        self.link = link
        self.workdir = workdir
        self.pki = pki
        self.env = {**BASE_ENV, "NETWORK_INTERFACE": link.secc_ifname, "PKI_PATH": f"{pki}/", **(env or {})}
        self.ready_timeout = ready_timeout
        self.log_path = workdir / "josev.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> JosevSecc:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / ".env").write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.link.secc_netns, str(JOSEV_PYTHON), "-m", "iso15118.secc.main"],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for(READY_LINE, self.ready_timeout)
        return self

    def warm_up(self, offers: list[sap.ProtocolOffer], tls: TlsConfig | None = None) -> None:
        """Josev's EXI codec runs in a JVM whose first messages of each grammar take seconds on a loaded machine,
        more than V2G_EVCC_Msg_Timeout: exchange SAP and SessionSetup once per protocol, without our timers,
        then wait until Josev listens for SDP again. Tests read the log from :meth:`mark` after this."""
        for offer in offers:
            since = self.mark()
            asyncio.run(_warm_one(self.link, offer, tls))
            self.wait_for("UDP server has been resumed", 30.0, since)

    def wait_for(self, text: str, timeout: float, since: int = 0) -> None:
        end = time.monotonic() + timeout
        while text not in self.log_since(since):
            if self.proc is not None and self.proc.poll() is not None:
                raise JosevError(f"Josev's SECC exited ({self.proc.returncode}):\n{self.log_since(0)[-3000:]}")
            if time.monotonic() > end:
                raise JosevError(f"Josev's SECC: no {text!r} within {timeout} s:\n{self.log_since(0)[-3000:]}")
            time.sleep(0.05)

    def mark(self) -> int:
        """The log's current length: pass it to :meth:`log_since` to see what one session logged."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, mark: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(mark)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def settled_log(self, mark: int, last: str, timeout: float = 15.0) -> str:
        """The log since ``mark`` once ``last`` is in it (or ``timeout`` passed): Josev writes a session's closing
        lines from its own tasks, a little after the EV has seen SessionStopRes and exited."""
        end = time.monotonic() + timeout
        while last not in self.log_since(mark) and time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return self.log_since(mark)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # the process we started; then its own process group (its JVM child)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def __enter__(self) -> JosevSecc:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
