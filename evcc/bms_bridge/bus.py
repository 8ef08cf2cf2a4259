"""Opening the python-can bus named by the configuration (the only place that knows python-can's options).

``socketcan`` in the car; ``udp_multicast`` for tests and benches on kernels without vcan: an IPv4 group over
the loopback of a network namespace that has ``ip link set lo up multicast on`` and ``ip route add 224.0.0.0/4
dev lo`` (BMS.md). Sockets belong to the namespace of the thread that opens the bus. udp_multicast delivers a
sender's own frames back to it; the bridge and the bench battery ignore their own frame ids.
"""

from __future__ import annotations

import can

from evcc.bms_bridge.config import CanBusConfig
from evcc.bms_bridge.errors import CanBusUnavailable


def open_bus(config: CanBusConfig) -> can.BusABC:
    """The bus, or :class:`CanBusUnavailable` naming interface and channel."""
    try:
        return can.Bus(interface=config.interface, channel=config.channel, fd=config.fd)
    except (can.CanError, OSError, ValueError, ImportError) as exc:
        raise CanBusUnavailable(f"CAN bus {config.interface}:{config.channel} cannot be opened: {exc}") from exc
