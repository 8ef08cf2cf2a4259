# Security part (evcc.hsm, evcc.contracts, evcc.pki): SoftHSM2 for the PKCS#11 key-store tests and benches.
# python-pkcs11 and cryptography are runtime dependencies in pyproject.toml.
APT_PACKAGES+=(softhsm2)
