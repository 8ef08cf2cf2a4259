"""The HMI developer's workbench (issue 18): ``evcc demo`` runs the real daemon (``evcc run``'s composition) against
the simulated charger and BMS, cycling a scenario of situations an HMI must show (:mod:`.cli`, :mod:`.world`,
:mod:`.scenario`, :mod:`.runner`); :mod:`.introspect` writes and checks the shipped interface files
``dbus/org.evcc.Evcc1.*.xml`` from the live service, documented by :mod:`.api_docs`."""
