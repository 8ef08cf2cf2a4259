"""Moved to :mod:`evcc.session.ac_vehicle` (the AC vehicle port serves ISO 15118-2 and -20); kept for imports."""

from evcc.session.ac_vehicle import AcBatteryModel, AcLimits, AcVehiclePort

__all__ = ["AcBatteryModel", "AcLimits", "AcVehiclePort"]
