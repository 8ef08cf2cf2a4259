# Onboard service (evcc/bms_bridge, evcc/hmi): the D-Bus daemon and tools for the private-bus tests (dbus-daemon,
# dbus-send), setpriv (util-linux) to call as an unprivileged uid; msgpack for python-can's udp_multicast
# interface (CAN between processes in a network namespace: this kernel has no vcan); dbus-fast with
# typing.Annotated signatures, pinned to the 5.2 series: evcc/hmi/bus_guard.py replaces its private writer
# (EAGAIN on the service socket must not drop the connection; no upstream fix yet). python-can and cantools are
# runtime dependencies in pyproject.toml.
APT_PACKAGES+=(dbus dbus-daemon dbus-bin util-linux iproute2)
PIP_PACKAGES+=("dbus-fast>=5.2,<5.3" "msgpack>=1.0")
# The group the D-Bus policy (systemd/org.evcc.Evcc1.conf) lets change contracts; the policy test needs it.
ensure_evcc_group() {
    getent group evcc >/dev/null || groupadd --system evcc
}
POST_INSTALL+=(ensure_evcc_group)
