"""Every timer and count of the EV SLAC machine, in one table: ISO 15118-3 Table A.1 names and values.

Values as implemented by the reference stacks (see shared docs SLAC.md §3). The ``vendor_*`` entries are not in
ISO 15118-3: they time the exchanges with the local Qualcomm modem (CM_SET_KEY.CNF, VS_LINK_STATUS polling,
the restart after a key change) and are named as such.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SlacTimers:
    """Seconds (TT_/TP_) and counts (C_). Frozen; pass a modified copy (dataclasses.replace) to change one."""

    # ISO 15118-3 Table A.1
    TT_match_response: float = 0.2  # EV retry period for CM_SLAC_PARM.REQ and CM_SLAC_MATCH.REQ
    TP_match_sequence: float = 0.0  # CM_SLAC_PARM.CNF -> first CM_START_ATTEN_CHAR.IND (0..100 ms)
    TP_EV_batch_msg_interval: float = 0.02  # between START_ATTEN_CHAR / MNBC_SOUND (20..50 ms)
    TT_EV_atten_results: float = 1.2  # from the first CM_START_ATTEN_CHAR.IND [V2G3-A09-30]
    TT_EVSE_match_MNBC: float = 0.6  # sent as TIME_OUT (units of 100 ms) in START_ATTEN_CHAR
    TT_match_join: float = 12.0  # CM_SLAC_MATCH.CNF -> link established
    TT_EVSE_vald_toggle: float = 3.5  # toggle window announced in CM_VALIDATE.REQ (units of 100 ms)
    TP_EV_vald_state_duration: float = 0.3  # duration of one S2 toggle state
    C_EV_start_atten_char_inds: int = 3
    C_EV_match_MNBC: int = 10
    C_EV_match_retry: int = 2
    C_EV_vald_nb_toggles: int = 3
    C_EV_match_signalattn_direct: float = 40.0
    C_EV_match_signalattn_indirect: float = 80.0
    # Local modem (Qualcomm vendor behaviour; not ISO 15118-3)
    vendor_set_key_cnf: float = 0.5  # resend CM_SET_KEY.REQ when no CNF came within this time
    vendor_link_poll: float = 0.1  # VS_LINK_STATUS.REQ period while waiting for the AVLN (EVerest: 100 ms)
    vendor_modem_ready: float = 10.0  # longest restart after CM_SET_KEY before the modem answers again
    vendor_modem_poll: float = 0.1  # VS_SW_VER.REQ period while the modem restarts
    C_vendor_set_key_retry: int = 3  # CM_SET_KEY.REQ resends when leaving the AVLN


DEFAULT_TIMERS = SlacTimers()
