"""BMS CAN bridge: the vehicle's BMS/VCU on CAN (dbc/evcc_bms.dbc) mapped to the vehicle port and back.

No standard defines this interface (BMS.md); the DBC is ours. Layers:
:mod:`.codec` (DBC frames <-> checked signal values), :mod:`.core` (sans-IO: frames + ``now`` -> snapshot,
freshness deadlines, stop events; session state + ``now`` -> cyclic frames), :mod:`.vehicle` (the
:class:`~evcc.session.vehicle.VehiclePort` over the snapshot, plus AC and ISO 15118-20 BPT limits),
:mod:`.aio` (the asyncio adapter over a python-can bus), :mod:`.battery_bms` (the bench battery that plays
the BMS on the bus, with fault injection).
"""
