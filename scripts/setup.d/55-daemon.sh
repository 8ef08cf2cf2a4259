# The evcc daemon (evcc/app, systemd/evcc.service): systemd-analyze (Debian package systemd) for the unit checks
# in tests/app/test_systemd_unit.py (verify + security --offline=yes work without a running systemd); the
# end-to-end tests use softhsm2 (30-security.sh), dbus-daemon (50-service.sh) and iproute2 network namespaces.
APT_PACKAGES+=(systemd softhsm2 iproute2)
