"""A real key store whose first ``sign`` is held on the worker thread until the test releases it: the stand-in
for a slow token call (a whole CertificateInstallation on a TPM) only in how long it blocks; the signature is
the real store's. Every call records (what, thread id) when it starts and ends, from the thread it runs on."""

from __future__ import annotations

import threading
from typing import Any

from evcc.hsm.keystore import KeyStore

HOLD_GUARD_S = 60.0  # a hang guard only: a held call that is never released ends the test with "not released"


class HeldSign:
    def __init__(self, inner: KeyStore) -> None:
        self.inner = inner
        self.started = threading.Event()  # the held sign runs on the worker
        self.release = threading.Event()
        self.later = threading.Event()  # a sign after the held one started
        self.log: list[tuple[str, int]] = []  # ("sign start: <message>", thread id), ("sign end: ..."), ...
        self._lock = threading.Lock()
        self._held = False

    def _record(self, what: str) -> None:
        with self._lock:
            self.log.append((what, threading.get_ident()))

    def events(self) -> list[str]:
        with self._lock:
            return [what for what, _ in self.log]

    def sign(self, label: str, message: bytes) -> bytes:
        text = message.decode("ascii") if message.isascii() else f"{len(message)} bytes"
        self._record(f"sign start: {text}")
        with self._lock:
            hold, self._held = not self._held, True
        if not hold:
            self.later.set()
        else:
            self.started.set()
            if not self.release.wait(HOLD_GUARD_S):
                self._record("not released")
        try:
            return self.inner.sign(label, message)
        finally:
            self._record(f"sign end: {text}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
