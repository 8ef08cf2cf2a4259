"""DIN SPEC 70121 DC EIM, EVCC side: sans-IO machine (machine.py), its transition table (transitions.py),
request builders (requests.py) and configuration (config.py)."""

from evcc.session.din.config import DinConfig, State
from evcc.session.din.machine import DinEvcc

__all__ = ["DinConfig", "DinEvcc", "State"]
