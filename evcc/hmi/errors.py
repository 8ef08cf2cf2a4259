"""D-Bus errors of the service: ``org.evcc.Evcc1.Error.<Name>``, one reply per call (SERVICE.md).

============================  ==========================================================================
name                          when
============================  ==========================================================================
``UnknownContract``           the object path names no stored contract
``InvalidArguments``          a priority list that is not a permutation of all contracts, a bad eMAID,
                              an unreadable file descriptor
``ImportFailed``              the files are not a valid contract chain and matching key (the message says
                              what was wrong)
``StoreFailed``               the contract store could not be written, or the service is stopping (nothing
                              changed)
``NotSupported``              the operation is not available in this configuration (no importer)
============================  ==========================================================================
"""

from __future__ import annotations

from dbus_fast import DBusError

from evcc.errors import EvccError
from evcc.hmi.names import ERROR_PREFIX

UNKNOWN_CONTRACT = "UnknownContract"
INVALID_ARGUMENTS = "InvalidArguments"
IMPORT_FAILED = "ImportFailed"
STORE_FAILED = "StoreFailed"
NOT_SUPPORTED = "NotSupported"


class HmiError(EvccError):
    """An HMI request was refused; ``name`` is the D-Bus error name's last element."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def to_dbus(exc: HmiError) -> DBusError:
    return DBusError(ERROR_PREFIX + exc.name, str(exc))
