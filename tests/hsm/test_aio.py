"""The asyncio wrapper keeps token calls off the event loop thread and serialised, and closing it never holds
the loop (project rule: nothing may block the event loop): :meth:`AsyncKeyStore.aclose` refuses new calls, fails
queued ones and awaits the running one off the loop, returning only after it ended."""

from __future__ import annotations

import asyncio
import threading
from typing import cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evcc.app.cancel import cancel_and_wait
from evcc.errors import EvccError
from evcc.hsm.aio import AsyncKeyStore, KeyStoreClosed
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm, KeyInfo, KeyStore
from evcc.hsm.pkcs11_store import Pkcs11KeyStore
from tests.hsm.held_store import HOLD_GUARD_S, HeldSign

EARLY_START_WAIT_S = 0.5  # how long a second store's call gets to start early (it must not; no timed assertion)


def _verify(info: KeyInfo, message: bytes, signature: bytes) -> bool:
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), info.public)
    return verify_raw(pub, message, signature)


async def _until(event: threading.Event, timeout: float = HOLD_GUARD_S) -> bool:
    """Wait for a thread's event without holding the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


def test_calls_run_on_the_worker_thread(token: Pkcs11KeyStore) -> None:
    async def main() -> None:
        astore = AsyncKeyStore(token)
        loop_thread = threading.get_ident()
        info = await astore.generate("aio/key", KeyAlgorithm.EC_P256)
        worker = await astore.call(threading.get_ident)
        assert worker != loop_thread
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.create_task(ticker())
        sigs = await asyncio.gather(*(astore.sign(info.label, b"challenge %d" % i) for i in range(50)))
        t.cancel()
        assert ticks > 0  # the loop kept running while the token worked
        assert all(_verify(info, b"challenge %d" % i, s) for i, s in enumerate(sigs))
        await astore.delete(info.label)
        assert await astore.list("aio/") == []
        await astore.aclose()

    asyncio.run(main())


def test_aclose_leaves_the_loop_free_while_the_running_call_ends(token: Pkcs11KeyStore) -> None:
    """A session cancelled while its token call runs: aclose() waits for that call without holding the loop."""
    held = HeldSign(token)
    seen: list[str] = []

    async def main() -> None:
        astore = AsyncKeyStore(cast(KeyStore, held))
        info = await astore.generate("aio/held", KeyAlgorithm.EC_P256)
        signing = asyncio.create_task(astore.sign(info.label, b"A"))
        assert await _until(held.started)
        signing.cancel()  # the session goes away; its C_Sign runs on
        closer = asyncio.create_task(astore.aclose())
        closer.add_done_callback(lambda _: seen.append(f"aclose returned after {held.events()}"))

        async def other_work() -> None:  # e.g. D-Bus, BMS deadlines, the watchdog
            for i in range(3):
                await asyncio.sleep(0)
                seen.append(f"other work {i}; aclose done: {closer.done()}; {held.events()}")

        await other_work()
        held.release.set()
        await closer
        with pytest.raises(asyncio.CancelledError):
            await signing
        with pytest.raises(KeyStoreClosed, match="closed"):
            await astore.sign(info.label, b"after close")
        assert _verify(info, b"still open", token.sign(info.label, b"still open"))  # the wrapped store stays open
        token.delete(info.label)

    asyncio.run(main())
    assert seen == [f"other work {i}; aclose done: False; ['sign start: A']" for i in range(3)] + [
        "aclose returned after ['sign start: A', 'sign end: A']"]


def test_a_cancelled_aclose_still_ends_only_after_the_running_call(token: Pkcs11KeyStore) -> None:
    """The daemon's cancel_and_wait asks again and again; the closing task ends (cancelled) after the call."""
    held = HeldSign(token)
    seen: list[str] = []

    async def main() -> None:
        astore = AsyncKeyStore(cast(KeyStore, held))
        info = await astore.generate("aio/held2", KeyAlgorithm.EC_P256)
        signing = asyncio.create_task(astore.sign(info.label, b"A"))
        assert await _until(held.started)
        closer = asyncio.create_task(astore.aclose())
        closer.add_done_callback(lambda _: seen.append(f"aclose ended after {held.events()}"))
        for _ in range(3):
            await asyncio.sleep(0)
            closer.cancel()
        await asyncio.sleep(0)
        seen.append(f"cancelled 3 times; aclose done: {closer.done()}")
        held.release.set()
        with pytest.raises(asyncio.CancelledError):
            await closer
        assert _verify(info, b"A", await signing)  # its caller was not cancelled: it gets the signature
        await astore.aclose()  # again: returns at once
        token.delete(info.label)

    asyncio.run(main())
    assert seen == ["cancelled 3 times; aclose done: False", "aclose ended after ['sign start: A', 'sign end: A']"]


def test_queued_calls_fail_with_key_store_closed_and_never_reach_the_token(token: Pkcs11KeyStore) -> None:
    held = HeldSign(token)

    async def main() -> None:
        astore = AsyncKeyStore(cast(KeyStore, held))
        info = await astore.generate("aio/queued", KeyAlgorithm.EC_P256)
        first = asyncio.create_task(astore.sign(info.label, b"A"))
        assert await _until(held.started)
        queued = [asyncio.create_task(astore.sign(info.label, b"B")),
                  asyncio.create_task(astore.public_key(info.label)),
                  asyncio.create_task(astore.call(held.list, "aio/"))]
        await asyncio.sleep(0)  # all three wait behind A
        closer = asyncio.create_task(astore.aclose())
        await asyncio.wait(queued)  # they end while A still runs
        assert held.events() == ["sign start: A"]
        for task in queued:
            exc = task.exception()
            assert isinstance(exc, KeyStoreClosed) and isinstance(exc, EvccError), exc
            assert "cancelled before it started" in str(exc)
        for late in (astore.sign(info.label, b"C"), astore.list(), astore.call(held.list)):
            with pytest.raises(KeyStoreClosed, match="worker is closed"):
                await late
        assert not closer.done()
        held.release.set()
        await closer
        assert _verify(info, b"A", await first)
        token.delete(info.label)

    asyncio.run(main())
    assert held.events() == ["sign start: A", "sign end: A"]  # B and the others never reached the token


def test_a_new_async_key_store_on_the_same_store_waits_for_the_cancelled_call(token: Pkcs11KeyStore) -> None:
    """One AsyncKeyStore per session around one store (evcc.app.attempt): a session cancelled while its C_Sign runs
    ends only after it, so the next session's call on the same PKCS#11 session starts after it ended."""
    held = HeldSign(token)
    store = cast(KeyStore, held)
    info = token.generate("aio/serial", KeyAlgorithm.EC_P256)

    async def session(name: str) -> bytes:
        keys = AsyncKeyStore(store)
        try:
            return await keys.sign(info.label, name.encode())
        finally:
            await keys.aclose()

    async def main() -> bytes:
        a = asyncio.create_task(session("A"))
        assert await _until(held.started)

        async def daemon() -> bytes:  # the daemon's stop path, then its next attempt
            await cancel_and_wait(a, retry_s=0.001)
            return await session("B")

        d = asyncio.create_task(daemon())
        early = await _until(held.later, EARLY_START_WAIT_S)  # B gets every chance to start too early
        held.release.set()
        signature = await d
        assert a.cancelled() and not early
        return signature

    signature = asyncio.run(main())
    assert held.events() == ["sign start: A", "sign end: A", "sign start: B", "sign end: B"]
    assert _verify(info, b"B", signature)
    token.delete(info.label)
