"""Buses for the demo and the interface tools: a private dbus-daemon with session rules (everyone may own names and
call, as on a user's session bus; SERVICE.md "Tests: dbus-daemon --session") or, with ``policy=True``, with the
system bus's default-deny rules and evcc's shipped policy ``systemd/org.evcc.Evcc1.conf`` (the rules of
:mod:`evcc.hmi.private_bus`). The bus runs in its own session, so that a Ctrl-C in the terminal reaches the demo,
which then stops the daemon in order before the bus."""

from __future__ import annotations

from evcc.hmi.private_bus import CONFIG as SYSTEM_CONFIG
from evcc.hmi.private_bus import PrivateBus

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class SessionBus:
    """``with SessionBus() as bus:`` a dbus-daemon with session rules on a socket in a fresh folder
    (``bus.address``), in a session of its own; stopped and removed on exit (:class:`PrivateBus` does the work)."""

    def __init__(self, policy: bool = False) -> None:
        self.policy = policy
        self._bus = PrivateBus(config=SYSTEM_CONFIG if policy else CONFIG, new_session=True)

    @property
    def address(self) -> str:
        return self._bus.address

    def start(self) -> SessionBus:
        self._bus.start()
        return self

    def stop(self) -> None:
        self._bus.stop()

    def __enter__(self) -> SessionBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
