# The evcc daemon (evcc/app, systemd/evcc.service): systemd-analyze (Debian package systemd) for the unit checks
# in tests/app/test_systemd_unit.py (verify + security --offline=yes work without a running systemd); the
# end-to-end tests use softhsm2 (30-security.sh), dbus-daemon (50-service.sh), iproute2 network namespaces,
# ethtool (TX checksum offload off on the simulated powerline's veths, tests/app/powerline.py) and, for the
# ISO 15118-20 TLS 1.3 test, OpenSSL's pkcs11-provider (35-tls.sh).
APT_PACKAGES+=(systemd softhsm2 iproute2 ethtool)
