"""The bench's session state on D-Bus (issue 6, SERVICE.md): the evcc.hmi service (org.evcc.Evcc1) on a private
dbus-daemon (evcc.hmi.private_bus, system-bus rules with evcc's real policy), fed from the running session,
and a dbus-fast client that reads Session.State/SoC/Power back for the display, the way an HMI would.

Everything here runs on the asyncio loop; :meth:`DbusState.publish` may be called from another thread (the
in-process link runs in a worker thread) and hands over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from evcc.bench.vehicle_sim import VehicleSnapshot
from evcc.contracts.store import ContractStore
from evcc.errors import PlatformError
from evcc.hmi.names import BUS_NAME, SESSION_INTERFACE, SESSION_PATH, SessionState
from evcc.hmi.private_bus import PrivateBus
from evcc.hmi.service import HmiConfig, HmiService

POLL_S = 0.2
PROTOCOL_NAMES = {"din": "DIN70121", "iso2": "ISO15118-2"}
_STATES: dict[str, SessionState] = {
    "SessionSetupRes": SessionState.SETUP, "ServiceDiscoveryRes": SessionState.SETUP,
    "ServiceDetailRes": SessionState.SETUP, "PaymentServiceSelectionRes": SessionState.SETUP,
    "ServicePaymentSelectionRes": SessionState.SETUP, "CertificateInstallationRes": SessionState.AUTHORIZATION,
    "CertificateUpdateRes": SessionState.AUTHORIZATION, "PaymentDetailsRes": SessionState.AUTHORIZATION,
    "AuthorizationRes": SessionState.AUTHORIZATION, "ContractAuthenticationRes": SessionState.AUTHORIZATION,
    "ChargeParameterDiscoveryRes": SessionState.CHARGE_PARAMETER, "CableCheckRes": SessionState.CABLE_CHECK,
    "PreChargeRes": SessionState.PRE_CHARGE, "CurrentDemandRes": SessionState.CHARGING,
    "ChargingStatusRes": SessionState.CHARGING, "MeteringReceiptRes": SessionState.CHARGING,
    "WeldingDetectionRes": SessionState.WELDING_DETECTION, "SessionStopRes": SessionState.STOPPING,
}


def session_state(phase: str) -> SessionState:
    """The D-Bus Session.State for a display phase like ``iso2: PowerDeliveryRes (Start)``."""
    key, _, waiting = phase.partition(": ")
    if waiting.startswith("PowerDeliveryRes"):
        return SessionState.STOPPING if waiting.lower().endswith("(stop)") else SessionState.CHARGING
    if waiting == "ended":
        return SessionState.STOPPED
    return _STATES.get(waiting, SessionState.UNKNOWN if waiting else SessionState.IDLE)


class DbusState:
    def __init__(self, service: HmiService, address: str, note: Callable[[str], None]) -> None:
        self.service = service
        self.address = address
        self.note = note
        self.loop = asyncio.get_running_loop()
        self.seen: dict[str, object] = {}  # the last values the client read back
        self.reads = 0
        self._last_state: object = None

    def publish(self, phase: str, snap: VehicleSnapshot, limit: str = "") -> None:
        """From the vehicle observer (any thread); ``limit``: what the EV may ask for now (evcc.session.limits)."""
        self.loop.call_soon_threadsafe(self._apply, phase, snap, limit)

    def set_state(self, state: SessionState, reason: str) -> None:
        self.loop.call_soon_threadsafe(self.service.set_state, state, reason)

    def _apply(self, phase: str, snap: VehicleSnapshot, limit: str = "") -> None:
        state = session_state(phase)
        key = phase.partition(":")[0]
        if state is not self.service.session.values.state and state is not SessionState.UNKNOWN:
            self.service.set_state(state, phase)
        flowing = state not in (SessionState.WELDING_DETECTION, SessionState.STOPPED)  # contactors open: no power
        power = round(snap.voltage * snap.current, 1) if flowing else 0.0
        self.service.update_session(protocol=PROTOCOL_NAMES.get(key, key), soc=round(snap.soc, 2),
                                    power=power, energy=round(snap.delivered_wh, 1))
        self.service.set_limit(limit if flowing else "")

    async def read_loop(self) -> None:
        """The HMI side: read the Session properties back every POLL_S; a line when State changes."""
        client = await MessageBus(bus_address=self.address).connect()
        try:
            intro = await client.introspect(BUS_NAME, SESSION_PATH)
            props = client.get_proxy_object(BUS_NAME, SESSION_PATH, intro).get_interface(
                "org.freedesktop.DBus.Properties")
            while True:
                await self._read_once(props)
                await asyncio.sleep(POLL_S)
        finally:
            client.disconnect()

    async def _read_once(self, props: object) -> None:
        values = await props.call_get_all(SESSION_INTERFACE)  # type: ignore[attr-defined]
        self.seen = {k: v.value for k, v in values.items()}
        self.reads += 1
        if self.seen.get("State") != self._last_state:
            self._last_state = self.seen.get("State")
            self.note(self.describe())

    def describe(self) -> str:
        s = self.seen
        try:
            state = SessionState(int(s.get("State", 0))).name.title().replace("_", "")  # type: ignore[call-overload]
        except ValueError:
            state = str(s.get("State"))
        power = float(s.get("Power", 0.0)) / 1000.0  # type: ignore[arg-type]
        return (f"D-Bus: {BUS_NAME} State={state} SoC={float(s.get('SoC', 0.0)):.1f} %"  # type: ignore[arg-type]
                f" Power={power:.1f} kW Protocol={s.get('Protocol') or '-'}")


@contextlib.asynccontextmanager
async def dbus_state(store: ContractStore | None, note: Callable[[str], None]) -> AsyncIterator[DbusState | None]:
    """The private bus, the service and the reader for one run; None (and a line saying why) without
    dbus-daemon or when the bus cannot start."""
    if shutil.which("dbus-daemon") is None:
        note("D-Bus: dbus-daemon is not installed: no session state on D-Bus (Debian package dbus-daemon)")
        yield None
        return
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="evcc-bench-dbus-")))
        try:
            bus = stack.enter_context(PrivateBus())
            service = HmiService(HmiConfig(bus_address=bus.address), store or ContractStore(folder / "contracts"))
            await service.start()
        except (PlatformError, DBusError, OSError) as exc:
            note(f"D-Bus: no session state on D-Bus ({exc})")
            yield None
            return
        stack.callback(service.stop)
        state = DbusState(service, bus.address, note)
        service.set_state(SessionState.IDLE, "bench started")
        note(f"D-Bus: {BUS_NAME} on a private bus ({bus.address}); Session at {SESSION_PATH}")
        reader = asyncio.create_task(state.read_loop())
        try:
            yield state
        finally:
            await asyncio.sleep(POLL_S * 1.5)  # let the reader see the final state
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, DBusError, OSError):
                await reader
