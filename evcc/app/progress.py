"""What the outside sees of a running session (sans-IO): the protocol machine's state (what it waits for,
ISO 15118-2 §8.4 / DIN SPEC 70121 §9.4 message names) folded into the D-Bus ``Session.State``
(evcc.hmi.names.SessionState) and the BMS's ``EVCC_SessionStage`` (evcc.bms_bridge.state.SessionStage).

:class:`ObservedMachine` wraps any :class:`~evcc.session.machine.EvccMachine` for the session runner and
reports each state change to a callback; it adds no awaiting and reads no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evcc.bms_bridge.state import Protocol as BmsProtocol, SessionStage
from evcc.hmi.names import SessionState
from evcc.session.events import SessionEnded, SessionEvent
from evcc.session.machine import EvccMachine, MultiPayloadMachine

# Response the machine waits for -> (D-Bus state, BMS stage). Names are the standards' message names.
STATE_TABLE: dict[str, tuple[SessionState, SessionStage]] = {
    "SessionSetupRes": (SessionState.SETUP, SessionStage.SETUP),
    "ServiceDiscoveryRes": (SessionState.SETUP, SessionStage.SETUP),
    "ServiceDetailRes": (SessionState.SETUP, SessionStage.SETUP),
    "PaymentServiceSelectionRes": (SessionState.SETUP, SessionStage.SETUP),
    "ServicePaymentSelectionRes": (SessionState.SETUP, SessionStage.SETUP),
    "CertificateInstallationRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "CertificateUpdateRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "PaymentDetailsRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "AuthorizationRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "ContractAuthenticationRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "ChargeParameterDiscoveryRes": (SessionState.CHARGE_PARAMETER, SessionStage.CHARGE_PARAMETER),
    "CableCheckRes": (SessionState.CABLE_CHECK, SessionStage.CABLE_CHECK),
    "PreChargeRes": (SessionState.PRE_CHARGE, SessionStage.PRE_CHARGE),
    "PowerDeliveryRes (start)": (SessionState.PRE_CHARGE, SessionStage.PRE_CHARGE),
    "CurrentDemandRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "ChargingStatusRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "MeteringReceiptRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "PowerDeliveryRes (renegotiate)": (SessionState.CHARGING, SessionStage.CHARGING),
    "PowerDeliveryRes (stop)": (SessionState.STOPPING, SessionStage.STOPPING),
    "WeldingDetectionRes": (SessionState.WELDING_DETECTION, SessionStage.WELDING_DETECTION),
    "SessionStopRes": (SessionState.STOPPING, SessionStage.STOPPING),
    # ISO 15118-20 (§8.3): the names the -20 machine waits for that -2 does not have
    "AuthorizationSetupRes": (SessionState.AUTHORIZATION, SessionStage.AUTHORIZATION),
    "ServiceSelectionRes": (SessionState.SETUP, SessionStage.SETUP),
    "DC_ChargeParameterDiscoveryRes": (SessionState.CHARGE_PARAMETER, SessionStage.CHARGE_PARAMETER),
    "AC_ChargeParameterDiscoveryRes": (SessionState.CHARGE_PARAMETER, SessionStage.CHARGE_PARAMETER),
    "ScheduleExchangeRes": (SessionState.CHARGE_PARAMETER, SessionStage.CHARGE_PARAMETER),
    "DC_CableCheckRes": (SessionState.CABLE_CHECK, SessionStage.CABLE_CHECK),
    "DC_PreChargeRes": (SessionState.PRE_CHARGE, SessionStage.PRE_CHARGE),
    "DC_ChargeLoopRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "AC_ChargeLoopRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "MeteringConfirmationRes": (SessionState.CHARGING, SessionStage.CHARGING),
    "DC_WeldingDetectionRes": (SessionState.WELDING_DETECTION, SessionStage.WELDING_DETECTION),
}
PROTOCOL_CODES = {"din": BmsProtocol.DIN70121, "iso2": BmsProtocol.ISO15118_2,
                  **{p: BmsProtocol.ISO15118_20 for p in ("iso20-dc", "iso20-ac", "iso20-dc-bpt", "iso20-ac-bpt")}}
# Stages in which the vehicle's contactors may be closed (after PowerDelivery(Start) answered).
CONTACTOR_STAGES = frozenset({SessionStage.CHARGING})


def classify(state: str) -> tuple[SessionState, SessionStage] | None:
    """The D-Bus state and BMS stage of a machine state (``State.value``); None for idle/ended."""
    name, _, detail = state.partition(" (")
    return STATE_TABLE.get(f"{name} ({detail.lower()}" if detail else name)


def end_state(ended: SessionEnded) -> tuple[SessionState, SessionStage]:
    return (SessionState.STOPPED, SessionStage.STOPPED) if ended.kind.value in ("completed", "stopped") \
        else (SessionState.ERROR, SessionStage.ERROR)


def machine_state(machine: object) -> str:
    state = getattr(machine, "state", None)
    value = getattr(state, "value", None)
    return value if isinstance(value, str) else ""


class ObservedMachine:
    """An :class:`EvccMachine` that calls ``on_state(state)`` whenever the inner machine's state changes. It is
    always a :class:`MultiPayloadMachine` too: ISO 15118-20 machines' payload types pass through, DIN/-2 machines
    send and take their one type."""

    def __init__(self, inner: EvccMachine, on_state: Callable[[str], None]) -> None:
        self.inner = inner
        self.grammar = inner.grammar
        self.payload_type = inner.payload_type
        multi = inner if isinstance(inner, MultiPayloadMachine) else None
        self.payload_types = multi.payload_types if multi else frozenset({inner.payload_type})
        self._multi = multi
        self._on_state = on_state
        self._last = ""

    def payload_type_of(self, msg: Any) -> int:
        return self._multi.payload_type_of(msg) if self._multi else self.payload_type

    def receive_typed(self, payload_type: int, data: bytes, now: float) -> None:
        if self._multi:
            self._multi.receive_typed(payload_type, data, now)
        else:
            self.inner.receive_payload(data, now)
        self._check()

    def _check(self) -> None:
        state = machine_state(self.inner)
        if state != self._last:
            self._last = state
            self._on_state(state)

    @property
    def ended(self) -> SessionEnded | None:
        return self.inner.ended

    def start(self, now: float, setup_deadline: float | None = None) -> None:
        self.inner.start(now, setup_deadline)
        self._check()

    def receive_payload(self, data: bytes, now: float) -> None:
        self.inner.receive_payload(data, now)
        self._check()

    def handle_timer(self, now: float) -> None:
        self.inner.handle_timer(now)
        self._check()

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def messages_to_send(self) -> list[Any]:
        return self.inner.messages_to_send()

    def events(self) -> list[SessionEvent]:
        return self.inner.events()

    def stop(self, now: float, reason: str) -> None:
        """The EV ends the session in order (PowerDelivery stop, SessionStop) at the next response."""
        stop = getattr(self.inner, "stop", None)
        if callable(stop):
            stop(now, reason)


class EnergyMeter:
    """Energy the charger reports delivering (present voltage x current over time), Wh."""

    def __init__(self) -> None:
        self.wh = 0.0
        self._last: float | None = None

    def sample(self, voltage: float, current: float, now: float) -> float:
        if self._last is not None and now > self._last:
            self.wh += max(0.0, voltage * current) * (now - self._last) / 3600.0
        self._last = now
        return self.wh
