"""The `evcc` daemon (ARCHITECTURE.md step 8, SERVICE.md "systemd"): ``evcc run --config <toml>``.

:mod:`.config` (TOML -> frozen dataclasses, errors that name the key), :mod:`.compose` (the composition root:
the only module that builds parts from the configuration), :mod:`.progress` (sans-IO: machine states ->
D-Bus session state and BMS session stage), :mod:`.attempt` (one charging session on the link),
:mod:`.daemon` (the loop, signals, watchdog), :mod:`.cancel` (ending a task for certain on stop),
:mod:`.notify` (sd_notify), :mod:`.logs` (stderr with ``<N>`` priorities), :mod:`.cli` (the ``run`` sub-command).
"""
