"""The three D-Bus interfaces (SERVICE.md: state as properties with PropertiesChanged, collections through
ObjectManager, a state-change signal with (old, new, reason), errors ``org.evcc.Evcc1.Error.<Name>``).

They hold values and translate calls; the work is behind :class:`ManagerActions` (the service).
No ``from __future__ import annotations`` here: dbus-fast reads the signatures from the annotation objects
(and takes a postponed ``-> None`` for a value)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Protocol

from dbus_fast import PropertyAccess
from dbus_fast.annotations import (
    DBusDouble, DBusInt32, DBusInt64, DBusObjectPath, DBusSignature, DBusStr, DBusUInt32, DBusUnixFd,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from evcc.contracts.emaid import parse_emaid
from evcc.contracts.errors import InvalidIdentifier
from evcc.contracts.store import Contract
from evcc.hmi.errors import HmiError, to_dbus
from evcc.hmi.names import (
    API_VERSION, CONTRACT_INTERFACE, CONTRACT_STATE_CODES, MANAGER_INTERFACE, SESSION_INTERFACE, SessionState,
)

ObjectPaths = Annotated[list[str], DBusSignature("ao")]
Strings = Annotated[list[str], DBusSignature("as")]
StateChange = Annotated[tuple[int, int, str], DBusSignature("uus")]


class ManagerActions(Protocol):
    """What the Manager's methods do; raises :class:`HmiError`. Paths are contract object paths."""

    async def select(self, path: str) -> None: ...

    async def set_priorities(self, paths: list[str]) -> None: ...

    async def request_installation(self, emaid: str, priority: int) -> str: ...

    async def remove(self, path: str) -> None: ...

    async def import_files(self, chain_fd: int, key_fd: int, priority: int) -> str: ...


class ManagerInterface(ServiceInterface):
    """org.evcc.Evcc1.Manager at the service root (ObjectManager lists the contracts there).

    SelectContract(o) -> UnknownContract; SetPriorities(ao: first = preferred, all contracts once) ->
    UnknownContract, InvalidArguments; RequestInstallation(s eMAID, i priority) -> o (installed by
    CertificateInstallation at the next session) -> InvalidArguments; RemoveContract(o) -> UnknownContract;
    ImportContract(h chain PEM, h key PEM, i priority) -> o (workshops; the caller opens the files, so the
    service never reads a path on a client's behalf; regular files or pipes of at most 64 KiB each, a pipe must be
    closed by its writer within 5 s) -> ImportFailed, InvalidArguments (naming the limit), NotSupported.
    Every method may also answer StoreFailed. The methods are coroutines: the store writes (fsync) and token calls
    behind them run on the service's worker thread, never on the event loop (issue 15)."""

    def __init__(self, actions: ManagerActions) -> None:
        super().__init__(MANAGER_INTERFACE)
        self._actions = actions

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt32:  # noqa: N802 (D-Bus member names)
        return API_VERSION

    @dbus_method()
    async def SelectContract(self, contract: DBusObjectPath) -> None:  # noqa: N802
        try:
            await self._actions.select(contract)
        except HmiError as exc:
            raise to_dbus(exc) from None

    @dbus_method()
    async def SetPriorities(self, contracts: ObjectPaths) -> None:  # noqa: N802
        try:
            await self._actions.set_priorities(list(contracts))
        except HmiError as exc:
            raise to_dbus(exc) from None

    @dbus_method()
    async def RequestInstallation(self, emaid: DBusStr, priority: DBusInt32) -> DBusObjectPath:  # noqa: N802
        try:
            return await self._actions.request_installation(emaid, priority)
        except HmiError as exc:
            raise to_dbus(exc) from None

    @dbus_method()
    async def RemoveContract(self, contract: DBusObjectPath) -> None:  # noqa: N802
        try:
            await self._actions.remove(contract)
        except HmiError as exc:
            raise to_dbus(exc) from None

    @dbus_method()
    async def ImportContract(self, chain: DBusUnixFd, key: DBusUnixFd,  # noqa: N802
                             priority: DBusInt32) -> DBusObjectPath:
        try:
            return await self._actions.import_files(chain, key, priority)
        except HmiError as exc:
            raise to_dbus(exc) from None


def _provider(emaid: str) -> str:
    try:
        parsed = parse_emaid(emaid)
    except InvalidIdentifier:
        return ""
    return f"{parsed.country}-{parsed.provider}"


def _stamp(ts: datetime | None) -> int:
    return int(ts.timestamp()) if ts is not None else 0


@dataclass(frozen=True)
class ContractValues:
    """The Contract properties (D-Bus names in :meth:`properties`)."""

    id: str
    emaid: str
    provider: str
    not_before: int
    not_after: int
    priority: int
    state: int

    @classmethod
    def of(cls, c: Contract, now: datetime, expiry_window: timedelta) -> "ContractValues":
        """Values of ``c`` at ``now`` (times as Unix seconds, 0 = none)."""
        return cls(c.contract_id, c.emaid, _provider(c.emaid), _stamp(c.not_before), _stamp(c.not_after),
                   c.priority, CONTRACT_STATE_CODES.get(c.state(now, expiry_window), 0))

    def properties(self) -> dict[str, object]:
        return {"Id": self.id, "EMAID": self.emaid, "Provider": self.provider, "NotBefore": self.not_before,
                "NotAfter": self.not_after, "Priority": self.priority, "State": self.state}


class ContractInterface(ServiceInterface):
    """org.evcc.Evcc1.Contract: Id, EMAID, Provider (country-provider of the eMAID), NotBefore/NotAfter (x,
    Unix seconds, 0 = not installed yet), Priority (i, higher wins), State (u, names.py)."""

    def __init__(self, values: ContractValues) -> None:
        super().__init__(CONTRACT_INTERFACE)
        self.values = values

    def update(self, values: ContractValues) -> None:
        old = self.values.properties()
        changed = {k: v for k, v in values.properties().items() if old[k] != v}
        self.values = values
        if changed:
            self.emit_properties_changed(changed)

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:  # noqa: N802
        return self.values.id

    @dbus_property(access=PropertyAccess.READ)
    def EMAID(self) -> DBusStr:  # noqa: N802
        return self.values.emaid

    @dbus_property(access=PropertyAccess.READ)
    def Provider(self) -> DBusStr:  # noqa: N802
        return self.values.provider

    @dbus_property(access=PropertyAccess.READ)
    def NotBefore(self) -> DBusInt64:  # noqa: N802
        return self.values.not_before

    @dbus_property(access=PropertyAccess.READ)
    def NotAfter(self) -> DBusInt64:  # noqa: N802
        return self.values.not_after

    @dbus_property(access=PropertyAccess.READ)
    def Priority(self) -> DBusInt32:  # noqa: N802
        return self.values.priority

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusUInt32:  # noqa: N802
        return self.values.state


@dataclass(frozen=True)
class SessionValues:
    """The Session properties; :meth:`properties` gives them under their D-Bus names."""

    state: SessionState = SessionState.IDLE
    protocol: str = ""
    soc: float = 0.0
    power: float = 0.0
    energy: float = 0.0
    errors: tuple[str, ...] = ()
    reason: str = ""
    limit: str = ""  # Limit: what the EV may ask for now and what set it (evcc.session.limits, issue 19)
    loop_lag_ms: float = 0.0

    def properties(self) -> dict[str, object]:
        return {"State": int(self.state), "Protocol": self.protocol, "SoC": self.soc, "Power": self.power,
                "Energy": self.energy, "Errors": list(self.errors), "Limit": self.limit, "Reason": self.reason,
                "LoopLag": self.loop_lag_ms}


class SessionInterface(ServiceInterface):
    """org.evcc.Evcc1.Session: State (u, names.py), Protocol (s: "DIN70121", "ISO15118-2", "ISO15118-20", ""),
    SoC (d, %), Power (d, W; negative = discharging), Energy (d, Wh this session), Errors (as), Reason (s, of
    the last state change), LoopLag (d, ms: the service's largest event-loop delay over the last minute; a health
    figure, 0 until measured); StateChanged(u old, u new, s reason)."""

    def __init__(self) -> None:
        super().__init__(SESSION_INTERFACE)
        self.values = SessionValues()

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusUInt32:  # noqa: N802
        return int(self.values.state)

    @dbus_property(access=PropertyAccess.READ)
    def Protocol(self) -> DBusStr:  # noqa: N802
        return self.values.protocol

    @dbus_property(access=PropertyAccess.READ)
    def SoC(self) -> DBusDouble:  # noqa: N802
        return self.values.soc

    @dbus_property(access=PropertyAccess.READ)
    def Power(self) -> DBusDouble:  # noqa: N802
        return self.values.power

    @dbus_property(access=PropertyAccess.READ)
    def Energy(self) -> DBusDouble:  # noqa: N802
        return self.values.energy

    @dbus_property(access=PropertyAccess.READ)
    def Errors(self) -> Strings:  # noqa: N802
        return list(self.values.errors)

    @dbus_property(access=PropertyAccess.READ)
    def Reason(self) -> DBusStr:  # noqa: N802
        return self.values.reason

    @dbus_property(access=PropertyAccess.READ)
    def Limit(self) -> DBusStr:  # noqa: N802
        """What the EV may ask for now and what set it (EV, EVSE maximum, schedule, minimum), e.g. "27.1 A (EVSE
        maximum)"; "" outside the charge loop (evcc.session.limits, issue 19)."""
        return self.values.limit

    @dbus_property(access=PropertyAccess.READ)
    def LoopLag(self) -> DBusDouble:  # noqa: N802
        return self.values.loop_lag_ms

    @dbus_signal()
    def StateChanged(self, old: int, new: int, reason: str) -> StateChange:  # noqa: N802
        return (old, new, reason)
