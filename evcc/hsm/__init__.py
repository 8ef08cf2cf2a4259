"""Key stores: the port (:mod:`evcc.hsm.keystore`), a PKCS#11 token (:mod:`evcc.hsm.pkcs11_store`), a software
store for benches (:mod:`evcc.hsm.soft_store`) and the asyncio wrapper (:mod:`evcc.hsm.aio`)."""
