# Security part (evcc.hsm, evcc.contracts, evcc.pki): SoftHSM2 for the PKCS#11 key-store tests and benches.
# python-pkcs11 and cryptography are runtime dependencies in pyproject.toml.
APT_PACKAGES+=(softhsm2)
# Josev (PyPI iso15118 0.31.2), the independent peer of tests/contracts/test_josev_interop.py: its own venv
# (it pins pydantic 1 and forgets aiofile), Java 17 for its EXIficient codec, openssl for its create_certs.sh.
APT_PACKAGES+=(openssl python3-venv)
if ! java -version 2>&1 | grep -q 'version "17'; then
    APT_PACKAGES+=(openjdk-17-jre-headless)
fi
JOSEV_VENV="${EVCC_JOSEV_VENV:-/opt/evcc-test/josev-venv}"
setup_josev_venv() {
    if ! "$JOSEV_VENV/bin/python" -c "import iso15118, aiofile" 2>/dev/null; then
        echo "setup: Josev venv in $JOSEV_VENV"
        python3 -m venv "$JOSEV_VENV"
        "$JOSEV_VENV/bin/python" -m pip install -q --disable-pip-version-check "iso15118==0.31.2" aiofile
    fi
}
POST_INSTALL+=(setup_josev_venv)
