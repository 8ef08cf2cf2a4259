"""Configuration of the EV SLAC machine (ISO 15118-3 §9 and Annex A): frozen, passed in, never global."""

from __future__ import annotations

from dataclasses import dataclass, field

from evcc.errors import ConfigError
from evcc.slac.timers import DEFAULT_TIMERS, SlacTimers


@dataclass(frozen=True, slots=True)
class SlacConfig:
    """``host_mac`` is the EV host's Ethernet MAC (sent as PEV_MAC, not the modem's; EVerest #1812).

    ``parm_retries`` counts CM_SLAC_PARM.REQ resends after the first (spec C_EV_match_retry = 2; the field
    needs more: EVerest's EV uses 100). ``max_attenuation_db`` rejects an EVSE whose mean attenuation is higher.
    ``validate`` runs CM_VALIDATE when the two best EVSEs are within ``validate_margin_db`` of each other.
    ``early_atten_results`` ends the TT_EV_atten_results wait as soon as every EVSE that answered
    CM_SLAC_PARM has sent its CM_ATTEN_CHAR.IND (and all sounds are out): see :mod:`evcc.slac.machine`.
    """

    host_mac: bytes
    pev_id: bytes = b"\x00" * 17
    parm_retries: int = DEFAULT_TIMERS.C_EV_match_retry
    match_retries: int = DEFAULT_TIMERS.C_EV_match_retry
    max_attenuation_db: float = DEFAULT_TIMERS.C_EV_match_signalattn_indirect
    validate: bool = False
    validate_margin_db: float = 3.0
    early_atten_results: bool = True
    timers: SlacTimers = field(default_factory=SlacTimers)

    def __post_init__(self) -> None:
        if len(self.host_mac) != 6:
            raise ConfigError(f"slac.host_mac must be 6 bytes, got {len(self.host_mac)}")
        if len(self.pev_id) != 17:
            raise ConfigError(f"slac.pev_id must be 17 bytes, got {len(self.pev_id)}")
        if not 0 <= self.parm_retries <= 1000:
            raise ConfigError(f"slac.parm_retries={self.parm_retries} outside 0..1000")
        if not 0 <= self.match_retries <= 100:
            raise ConfigError(f"slac.match_retries={self.match_retries} outside 0..100")
        if not 0.0 <= self.max_attenuation_db <= 255.0:
            raise ConfigError(f"slac.max_attenuation_db={self.max_attenuation_db} outside 0..255")
