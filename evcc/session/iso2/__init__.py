"""ISO 15118-2 EVCC, AC and DC, EIM and Plug & Charge: sans-IO machine (machine.py), its transition table
(transitions.py with setup.py, dc.py, ac.py), request builders (requests.py), SAScheduleTuple selection
(schedules.py), configuration (config.py) and the AC vehicle port (ac_vehicle.py)."""

from evcc.session.iso2.ac_vehicle import AcBatteryModel, AcLimits, AcVehiclePort
from evcc.session.iso2.config import Iso2Config, State
from evcc.session.iso2.machine import Iso2Evcc

__all__ = ["AcBatteryModel", "AcLimits", "AcVehiclePort", "Iso2Config", "Iso2Evcc", "State"]
