"""asyncio face of a blocking :class:`evcc.hsm.keystore.KeyStore`.

Token calls (C_Sign, C_DeriveKey, C_CreateObject) block for 0.05..20 ms; they run on one dedicated worker
thread so that the event loop (and the session timers) never waits on the token, and token calls stay
serialised (one PKCS#11 session is not safe for concurrent use).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from evcc.hsm.keystore import ConcatKdf, KeyAlgorithm, KeyInfo, KeyStore

T = TypeVar("T")


class AsyncKeyStore:
    """Awaitable wrapper; ``close()`` stops the worker thread (the wrapped store stays open)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keystore")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def generate(self, label: str, algorithm: KeyAlgorithm) -> KeyInfo:
        return await self._run(self.store.generate, label, algorithm)

    async def import_private(self, label: str, algorithm: KeyAlgorithm, private: bytearray) -> KeyInfo:
        return await self._run(self.store.import_private, label, algorithm, private)

    async def public_key(self, label: str) -> bytes:
        return await self._run(self.store.public_key, label)

    async def sign(self, label: str, message: bytes) -> bytes:
        return await self._run(self.store.sign, label, message)

    async def ecdh_kdf(self, label: str, peer_public: bytes, kdf: ConcatKdf) -> bytearray:
        return await self._run(self.store.ecdh_kdf, label, peer_public, kdf)

    async def delete(self, label: str) -> None:
        await self._run(self.store.delete, label)

    async def list(self, prefix: str = "") -> list[KeyInfo]:
        return await self._run(self.store.list, prefix)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run any blocking function that uses the store (e.g. a whole installation) on the store's worker."""
        return await self._run(fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
