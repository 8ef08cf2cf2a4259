"""Names and enumerations of the D-Bus API, versioned from day one (SERVICE.md): bus name ``org.evcc.Evcc1``,
interfaces ``org.evcc.Evcc1.{Manager,Contract,Session}``, errors ``org.evcc.Evcc1.Error.<Name>``.

Enumerations are numbers with 0 = unknown (fixed sets); the protocol is a string (others will extend it).

Session.State: 0 Unknown, 1 Idle, 2 Slac, 3 Setup, 4 Authorization, 5 ChargeParameter, 6 CableCheck,
7 PreCharge, 8 Charging, 9 WeldingDetection, 10 Stopping, 11 Stopped, 12 Error.
Contract.State: 0 Unknown, 1 Active, 2 Expiring, 3 Expired, 4 NotYetValid, 5 Revoked, 6 PendingInstallation.
"""

from __future__ import annotations

import enum

from evcc.contracts.store import ContractState

API_VERSION = 1
BUS_NAME = "org.evcc.Evcc1"
ROOT_PATH = "/org/evcc/Evcc1"
SESSION_PATH = ROOT_PATH + "/Session"
CONTRACT_PREFIX = ROOT_PATH + "/contract/"
MANAGER_INTERFACE = BUS_NAME + ".Manager"
CONTRACT_INTERFACE = BUS_NAME + ".Contract"
SESSION_INTERFACE = BUS_NAME + ".Session"
ERROR_PREFIX = BUS_NAME + ".Error."


class SessionState(enum.IntEnum):
    UNKNOWN = 0
    IDLE = 1
    SLAC = 2
    SETUP = 3
    AUTHORIZATION = 4
    CHARGE_PARAMETER = 5
    CABLE_CHECK = 6
    PRE_CHARGE = 7
    CHARGING = 8
    WELDING_DETECTION = 9
    STOPPING = 10
    STOPPED = 11
    ERROR = 12


CONTRACT_STATE_CODES: dict[ContractState, int] = {
    ContractState.ACTIVE: 1, ContractState.EXPIRING: 2, ContractState.EXPIRED: 3,
    ContractState.NOT_YET_VALID: 4, ContractState.REVOKED: 5, ContractState.PENDING_INSTALLATION: 6,
}


def contract_path(contract_id: str) -> str:
    """Object path of a contract; characters outside [A-Za-z0-9] are escaped as _XX (path element rules)."""
    element = "".join(c if c.isascii() and c.isalnum() else f"_{ord(c):02x}" for c in contract_id)
    return CONTRACT_PREFIX + (element or "_")
