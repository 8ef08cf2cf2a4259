"""Charge modes of the BMS bridge and the BMS frames each needs fresh (dbc/evcc_bms.dbc, BMS.md "signals the EVCC
needs"). Kept apart from :mod:`evcc.bms_bridge.codec` so that the configuration and the daemon's start can name
them without loading cantools and python-can (cold start, issue 6)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path

DEFAULT_DBC = Path(__file__).resolve().parents[2] / "dbc" / "evcc_bms.dbc"


class ChargeMode(enum.IntEnum):
    """BMS_ChargeMode / EVCC_EnergyTransfer."""

    NONE = 0
    AC = 1
    DC = 2
    DC_BPT = 3


# The BMS frames each charge mode needs fresh; BMS_Timing is optional everywhere (missing = unknown).
REQUIRED_FRAMES: Mapping[ChargeMode, tuple[str, ...]] = {
    ChargeMode.NONE: ("BMS_Status",),
    ChargeMode.AC: ("BMS_Status", "BMS_AcRequest"),
    ChargeMode.DC: ("BMS_Status", "BMS_DcRequest", "BMS_DcLimits", "BMS_Energy"),
    ChargeMode.DC_BPT: ("BMS_Status", "BMS_DcRequest", "BMS_DcLimits", "BMS_Energy", "BMS_BptLimits"),
}
