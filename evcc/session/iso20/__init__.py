"""ISO 15118-20 EVCC, DC, AC, DC_BPT and AC_BPT, Scheduled and Dynamic control, EIM and Plug & Charge: sans-IO
machine (machine.py), its transition table (transitions.py with setup.py, contract_flow.py, dc.py, ac.py,
stopping.py), request builders (requests.py), schedules (schedule.py), configuration and the timer table
(config.py), the contract port (pnc.py), the -20 vehicle port (vehicle.py) and the machine factory (factory.py)."""

from evcc.session.iso20.config import ISO_15118_20, Iso20Config, State
from evcc.session.iso20.machine import Iso20Evcc
from evcc.session.iso20.vehicle import Iso20VehiclePort

__all__ = ["ISO_15118_20", "Iso20Config", "Iso20Evcc", "Iso20VehiclePort", "State"]
