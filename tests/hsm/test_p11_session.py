"""Closing a key store's PKCS#11 session never logs the process out (evcc.hsm.p11_session, PKCS#11 v2.40 §5.6-5.7):
on a real SoftHSM2 token, another session of the process keeps using private keys after a store closes."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from evcc.hsm.keystore import KeyAlgorithm, KeyStoreError
from evcc.hsm.p11_session import close_session
from evcc.hsm.pkcs11_store import Pkcs11Config, Pkcs11KeyStore


def test_closing_a_store_leaves_the_process_logged_in(softhsm_config: Pkcs11Config) -> None:
    first = Pkcs11KeyStore(softhsm_config)  # logs in, unless the process already is
    label = f"p11session-{uuid.uuid4().hex[:8]}"
    first.generate(label, KeyAlgorithm.EC_P256)
    second = Pkcs11KeyStore(softhsm_config)
    try:
        first.close()
        first.close()  # closing again is harmless
        assert len(second.sign(label, b"still logged in")) == 64  # a private key: the login is still there
        second.delete(label)
    finally:
        second.close()


def test_an_object_without_a_session_handle_is_named(softhsm_config: Pkcs11Config) -> None:
    with pytest.raises(KeyStoreError, match="object carries no session handle"):
        close_session(softhsm_config.module, object())


def test_a_module_that_cannot_be_loaded_is_named() -> None:
    with pytest.raises(KeyStoreError, match="/nonexistent/libpkcs11.so cannot be loaded"):
        close_session("/nonexistent/libpkcs11.so", SimpleNamespace(handle=1))
