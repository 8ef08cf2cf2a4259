"""A process that used the vehicle key in SoftHSM2 through pkcs11-provider for ISO 15118-20 TLS 1.3 never asks for
the PIN on its terminal (evcc.session.tls_openssl: pkcs11-module-token-pin from a memfd; evcc.hsm.p11_session:
closing our key store does not log the process out), and exits on its own.

The child (this module run with ``python -m``) is a fresh process on a pseudo-terminal with its own SoftHSM2
token: our key store logs in first; a -20 DC session over TLS 1.3 mutual; the store closes; a second session on the
same context; another PKCS#11 user of the process logs out (C_Logout); one session on that context (the provider
logs in again on its own, without a prompt; the session may fail: SoftHSM dropped the key handles the context
holds); the context is released and a session on a new context completes; exit. Before the fix the child printed
"Enter PIN for PKCS#11 Token" and waited on the terminal for ever.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import pty
import select
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest

from evcc.session import tls_openssl

needs_provider = pytest.mark.skipif(not tls_openssl.pkcs11_provider_installed(),
                                    reason="OpenSSL pkcs11-provider not installed (scripts/setup.d/35-tls.sh)")
CHILD_TIMEOUT = 90.0  # seconds; the child takes a few on an idle machine
PROMPT = b"Enter PIN"
_C_LOGOUT = 19  # index in CK_FUNCTION_LIST after the version (C_Initialize = 0)


def _run_on_pty(argv: list[str], env: dict[str, str], timeout: float) -> tuple[bytes, int | None]:
    """Run ``argv`` with a pseudo-terminal as its controlling terminal and stdio; (output, exit status or None
    when it had to be killed: timeout, or a PIN prompt on the terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output, deadline = b"", time.monotonic() + timeout
    status: int | None = None
    try:
        while time.monotonic() < deadline and PROMPT not in output:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                output += chunk
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
                return output, status
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    return output, None


@needs_provider
def test_no_pin_prompt_and_a_prompt_exit_on_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF"}  # the child makes its own token
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                      env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "tests.session.test_tls13_token_repeat_pty", str(tmp_path)]
    output, status = _run_on_pty(argv, env, CHILD_TIMEOUT)
    text = output.decode(errors="replace")
    assert PROMPT not in output, text
    assert status == 0, (status, text)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[-1] == "done", text
    for name in ("logged-in store", "store closed", "after logout, new context"):
        assert f"{name}: COMPLETED" in lines, text
    assert any(line.startswith("after logout, same context: ") for line in lines), text


# ------------------------------------------------------------------------------------------- the child process
def _logout_process(module: str, session: object) -> None:
    """What another PKCS#11 user of the process may do: C_Logout (logs every session of the process out)."""
    library = ctypes.CDLL(module)
    table = ctypes.POINTER(ctypes.c_void_p)()
    library.C_GetFunctionList.argtypes = [ctypes.POINTER(ctypes.POINTER(ctypes.c_void_p))]
    library.C_GetFunctionList.restype = ctypes.c_ulong
    assert library.C_GetFunctionList(ctypes.byref(table)) == 0
    logout = ctypes.CFUNCTYPE(ctypes.c_ulong, ctypes.c_ulong)(table[1 + _C_LOGOUT])  # slot 0: CK_VERSION (padded)
    rv = logout(getattr(session, "handle"))
    assert rv == 0, f"C_Logout: {rv:#x}"


def _child(folder: Path) -> None:
    import pkcs11

    from evcc.bench.secc.tls import server_context13
    from evcc.hsm.keystore import KeyAlgorithm
    from evcc.hsm.pkcs11_store import Pkcs11KeyStore
    from evcc.hsm.softhsm import init_softhsm
    from evcc.session.connection import TlsConfig, TlsVersion, prepare
    from evcc.session.tls13 import ClientCertificate, TokenKey
    from tests.session.test_tls13_token_repeat import _session, secc_server
    from tests.session.tls_pki import make_iso20_pki

    token = init_softhsm(folder / "hsm")
    pki = make_iso20_pki(folder / "pki")
    store = Pkcs11KeyStore(token)  # the first login of this process
    label = "pty-vehicle"
    info = store.generate(label, KeyAlgorithm.EC_P521)
    cert = ClientCertificate(pki.vehicle_chain(info.public, KeyAlgorithm.EC_P521), TokenKey(token, label))
    config = TlsConfig(v2g_roots=(pki.v2g_root,), version=TlsVersion.TLS13, client_certificate=cert)
    server = server_context13(pki.secc_chain_pem, pki.secc_key_pem, [pki.oem_root])
    prepared = prepare(config)

    def session(name: str, tls: object) -> None:
        with secc_server(server, None) as (_, port):
            try:
                report = asyncio.run(_session(port, tls))  # type: ignore[arg-type]
                print(f"{name}: {report.ended.kind.name}", flush=True)
            except Exception as exc:  # noqa: BLE001 - the outcome is printed for the parent, not judged here
                print(f"{name}: {type(exc).__name__}: {exc}", flush=True)

    session("logged-in store", prepared)
    store.close()
    session("store closed", prepared)
    other = pkcs11.lib(token.module).get_token(token_label=token.token_label).open()
    _logout_process(token.module, other)
    session("after logout, same context", prepared)  # no prompt; SoftHSM dropped the handles this context holds
    del prepared
    gc.collect()  # pkcs11-provider 1.0 keeps handing out the key object while a context holds it
    session("after logout, new context", config)
    print("done", flush=True)


if __name__ == "__main__":
    _child(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
