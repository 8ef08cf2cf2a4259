"""tpm2-pkcs11 (Debian libtpm2-pkcs11-1 1.9) over a private swtpm, the way an ECU team would try it on a bench
(PKI.md §4): a private D-Bus session bus (dbus-daemon), tpm2-abrmd on it as resource manager (tpm2-pkcs11 straight
on the TPM runs out of object contexts after two keys: TPM 0x902), a tpm2-pkcs11 store folder with one token made
by ``tpm2_ptool`` (primary object + token with SO and user PIN).

The module reads TPM2_PKCS11_STORE / TPM2_PKCS11_TCTI and the tabrmd TCTI DBUS_SESSION_BUS_ADDRESS from the
process environment; python-pkcs11 initialises a module once per process (so its store folder is the first one it
saw), and the tabrmd TCTI's GLib keeps one session-bus connection per process (a later user of another private
session bus in that process, such as the TPM daemon tests, would reach this bus instead). So the module is only
ever loaded in a worker process of its own (:class:`Tpm2Worker`, multiprocessing "spawn"), which starts one bench
(:func:`shared_bench`) and stops it before it ends. Test/bench use only.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from evcc.errors import PlatformError
from evcc.hsm.pkcs11_store import Pkcs11Config
from evcc.hsm.swtpm import Swtpm

MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
TCTI = "tabrmd:bus_type=session"
LABEL, USER_PIN, SO_PIN = "evcc-tpm2-pkcs11", "1234", "5678"


def tpm2_pkcs11_available() -> bool:
    return (Path(MODULE).exists() and all(shutil.which(t) for t in ("tpm2_ptool", "tpm2-abrmd", "dbus-daemon"))
            and Path("/usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0").exists())


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Tpm2Pkcs11:
    """swtpm + private session bus + tpm2-abrmd + a tpm2-pkcs11 token, all in ``folder``; a context manager."""

    def __init__(self, folder: Path) -> None:
        if not tpm2_pkcs11_available():
            raise PlatformError("tpm2-pkcs11 bench parts missing (scripts/setup.d/36-tpm-pkcs11.sh)")
        self.folder = folder
        self.store = folder / "tpm2-pkcs11"
        self.tpm = Swtpm(folder / "swtpm")
        self.bus: subprocess.Popen[bytes] | None = None
        self.abrmd: subprocess.Popen[bytes] | None = None
        self.bus_address = ""

    @property
    def config(self) -> Pkcs11Config:
        return Pkcs11Config(MODULE, LABEL, USER_PIN)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.bus_address, "TPM2TOOLS_TCTI": TCTI,
                "TPM2_PKCS11_STORE": str(self.store), "TPM2_PKCS11_TCTI": TCTI, "TSS2_LOG": "all+NONE"}

    def start(self) -> Tpm2Pkcs11:
        self.tpm.start()
        self.bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.bus.stdout is not None
        self.bus_address = self.bus.stdout.readline().decode().strip()
        if not self.bus_address:
            raise PlatformError("dbus-daemon gave no bus address")
        self.abrmd = subprocess.Popen(
            ["tpm2-abrmd", "--session", "--allow-root", "--flush-all", f"--tcti={self.tpm.tcti}"],
            env=self._env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_for_abrmd()
        self.store.mkdir(mode=0o700, parents=True, exist_ok=True)
        for argv in (["tpm2_ptool", "init", f"--path={self.store}"],
                     ["tpm2_ptool", "addtoken", "--pid=1", f"--sopin={SO_PIN}", f"--userpin={USER_PIN}",
                      f"--label={LABEL}", f"--path={self.store}"]):
            done = subprocess.run(argv, env=self._env(), capture_output=True, timeout=120, check=False)
            if done.returncode != 0:
                raise PlatformError(f"{' '.join(argv[:2])} failed: {done.stderr.decode(errors='replace')[-300:]}")
        return self

    def _wait_for_abrmd(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.abrmd is None or self.abrmd.poll() is not None:
                raise PlatformError("tpm2-abrmd ended at start")
            probe = subprocess.run(["tpm2_getrandom", "4"], env=self._env(), capture_output=True, timeout=30,
                                   check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise PlatformError("tpm2-abrmd did not come up on the private bus")

    @contextmanager
    def environment(self) -> Iterator[None]:
        """The process environment the module reads, for the block (restored afterwards)."""
        names = ("DBUS_SESSION_BUS_ADDRESS", "TPM2_PKCS11_STORE", "TPM2_PKCS11_TCTI", "TSS2_LOG")
        saved = {n: os.environ.get(n) for n in names}
        env = self._env()
        os.environ.update({n: env[n] for n in names})
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def close(self) -> None:
        _stop(self.abrmd)
        if self.abrmd is not None and self.abrmd.stderr is not None:
            self.abrmd.stderr.close()
        _stop(self.bus)
        if self.bus is not None and self.bus.stdout is not None:
            self.bus.stdout.close()
        self.tpm.close()

    def __enter__(self) -> Tpm2Pkcs11:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


_SHARED: list[Tpm2Pkcs11] = []  # the worker process's bench (module docstring)
T = TypeVar("T")


def shared_bench() -> Tpm2Pkcs11:
    """The worker's tpm2-pkcs11 bench, started on first use in a temporary folder, its environment set for the
    rest of the worker's life (:func:`stop_shared_bench` ends it)."""
    if not _SHARED:
        folder = Path(tempfile.mkdtemp(prefix="evcc-tpm2-pkcs11-"))
        bench = Tpm2Pkcs11(folder)
        try:
            bench.start()
        except BaseException:
            bench.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        env = bench._env()
        os.environ.update({n: env[n] for n in ("DBUS_SESSION_BUS_ADDRESS", "TPM2_PKCS11_STORE", "TPM2_PKCS11_TCTI",
                                                "TSS2_LOG")})
        _SHARED.append(bench)
    return _SHARED[0]


def stop_shared_bench() -> None:
    while _SHARED:
        bench = _SHARED.pop()
        bench.close()
        shutil.rmtree(bench.folder, ignore_errors=True)


class Tpm2Worker:
    """One spawned worker process that runs functions against the tpm2-pkcs11 bench (module docstring)."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def call(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in the worker (importable function, picklable arguments and result); its exception
        is raised here."""
        return self._pool.submit(function, *args).result(timeout=600)

    def close(self) -> None:
        try:
            self._pool.submit(stop_shared_bench).result(timeout=120)
        finally:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Tpm2Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
