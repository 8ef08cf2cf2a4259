"""The asyncio wrapper keeps token calls off the event loop thread and serialised."""

from __future__ import annotations

import asyncio
import threading

from evcc.hsm.aio import AsyncKeyStore
from evcc.hsm.hostcrypto import verify_raw
from evcc.hsm.keystore import KeyAlgorithm
from evcc.hsm.pkcs11_store import Pkcs11KeyStore


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
        from cryptography.hazmat.primitives.asymmetric import ec
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), info.public)
        assert all(verify_raw(pub, b"challenge %d" % i, s) for i, s in enumerate(sigs))
        await astore.delete(info.label)
        assert await astore.list("aio/") == []
        astore.close()

    asyncio.run(main())
