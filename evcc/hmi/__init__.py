"""The HMI's way in: the D-Bus service ``org.evcc.Evcc1`` (SERVICE.md "D-Bus"), with dbus-fast.

Objects (all under ``/org/evcc/Evcc1``, never at ``/``)::

    /org/evcc/Evcc1                 org.evcc.Evcc1.Manager + org.freedesktop.DBus.ObjectManager
    /org/evcc/Evcc1/Session         org.evcc.Evcc1.Session
    /org/evcc/Evcc1/contract/<id>   org.evcc.Evcc1.Contract   (one per stored contract)

:mod:`.names` (names, enumerations, error names), :mod:`.ordering` and :mod:`.throttle` (sans-IO),
:mod:`.interfaces` (the three interfaces), :mod:`.service` (connection, export, contract sync, session
publishing), :mod:`.private_bus` (a private dbus-daemon for tests and benches). Access is governed by
``systemd/org.evcc.Evcc1.conf``.
"""
