# SLAC (evcc/plc, evcc/slac, evcc/bench/plc_sim): netns/veth tooling for the tests, pyslac as interop peer.
# plc-utils-extra: the chip vendor's SLAC tools (Qualcomm open-plc-utils `evse`, `pev`), the peers of
# tests/interop/test_plcutils.py (INTEROP.md; issue #14).
APT_PACKAGES+=(iproute2 ethtool python3-venv plc-utils-extra)
# pyslac 0.8.3 (EVSE side of SLAC, the independent peer of tests/slac/test_slac_interop.py) lives in its own
# virtual environment: it pins old dependencies and needs marshmallow<4.
PYSLAC_VENV="${EVCC_PYSLAC_VENV:-/opt/evcc-test/pyslac-venv}"
setup_pyslac_venv() {
    if ! "$PYSLAC_VENV/bin/python" -c "import pyslac, marshmallow" 2>/dev/null; then
        echo "setup: pyslac venv in $PYSLAC_VENV"
        python3 -m venv "$PYSLAC_VENV"
        "$PYSLAC_VENV/bin/python" -m pip install -q --disable-pip-version-check "pyslac==0.8.3" "marshmallow<4"
    fi
}
POST_INSTALL+=(setup_pyslac_venv)
