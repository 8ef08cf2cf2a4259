"""`evcc keys`: the key lifecycle of the EV's key store for the factory line and the workshop (generate inside the
store, PKCS#10 request signed inside the store, certificate import, list with expiry, delete, public-key export),
on every key store (PKCS#11 token, TPM 2.0, software). ISO 15118-2 §7.9 / ISO 15118-20 §7.9 key and certificate
roles: the OEM provisioning key (CN = PCID) and the vehicle's TLS 1.3 key (ISO 15118-20)."""
