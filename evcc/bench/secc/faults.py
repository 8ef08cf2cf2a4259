"""What a hostile or broken SECC does wrong, as data: the fault kinds of issue 4 point 5 for the bench's charger
simulator, one frozen :class:`Fault` per run, and the text form the bench CLI and the scenario files use.

Where a fault strikes (``Fault.at``) is a response element name (``"CurrentDemandRes"``, with ``occurrence``
picking the n-th one) or the index of the response in the V2G session (0 = SessionSetupRes; the
supportedAppProtocolRes is addressed by name only). The layer that applies a fault to any responder is
:mod:`evcc.bench.secc.hostile`; the certificate faults are made in :mod:`evcc.bench.secc.hostile_tls` (TLS 1.2)
and :mod:`evcc.bench.secc.hostile_tls13` (TLS 1.3 with the vehicle certificate, ISO 15118-20).

Text form, for ``parse_fault``::

    KIND[:TARGET[#OCCURRENCE]][=VALUE]

    code:PowerDeliveryRes=FAILED       delay:CurrentDemandRes        delay:CableCheckRes=3.5
    code:supportedAppProtocolRes=Failed_NoNegotiation
    session-id:ServiceDiscoveryRes     silence:CurrentDemandRes#5    stall:CableCheckRes    stall:PreChargeRes=1
    unexpected:PreChargeRes=SessionSetupRes                          garbage-exi:ChargeParameterDiscoveryRes
    disconnect:CableCheckRes           oversized      oversized:2=70000      truncated:CurrentDemandRes
    wrong-version:SessionSetupRes=0x02 wrong-payload-type:ServiceDiscoveryRes=0x8004
    cert:expired                       cert:untrusted                   cert:vehicle-refused

TARGET defaults to index 0 (SessionSetupRes). VALUE is the kind's parameter: the ResponseCode (code, default
FAILED; also WARNING* or OK_* such as OK_CertificateExpiresSoon), the delay in seconds (delay, default: the request's V2G_EVCC_Msg_Timeout plus ``margin``), the response
to send instead (unexpected, default: an earlier response of another type), the pace of the repeats (stall,
seconds, default none), the announced payload length (oversized, default 0xFFFFFFFF), the version byte
(wrong-version, default 0x02) or the payload type (wrong-payload-type, default: one the session does not use).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from evcc.errors import ConfigError

SAP_RESPONSE = "supportedAppProtocolRes"


class FaultSpecError(ConfigError):
    """A fault description (text or :class:`Fault` fields) is not valid; the message says which part."""


class FaultKind(enum.Enum):
    # message level: these work in the in-memory pairing and over any transport
    CODE = "code"  # the response carries another ResponseCode: FAILED*, WARNING* (-20) or an OK_* one
    SESSION_ID = "session-id"  # the response carries another SessionID
    DELAY = "delay"  # the response comes after the EVCC's V2G_EVCC_Msg_Timeout
    SILENCE = "silence"  # no response from this one on
    STALL = "stall"  # from this one on, this response repeats its first answer (Ongoing, PreCharge voltage),
    # each repeat ``delay`` seconds late when given (a slow loop: fewer rounds until the sequence timer)
    UNEXPECTED = "unexpected"  # a response of another type instead of this one
    GARBAGE_EXI = "garbage-exi"  # undecodable EXI in a correct V2GTP frame
    # frame and connection level: these need a transport (TCP or TLS)
    DISCONNECT = "disconnect"  # the SECC closes the TCP connection instead of answering
    OVERSIZED = "oversized"  # a V2GTP header announcing more than the EVCC's bound, then nothing
    TRUNCATED = "truncated"  # header and half the payload, then silence
    WRONG_VERSION = "wrong-version"  # V2GTP protocol version byte (and its inverse) other than 0x01
    WRONG_PAYLOAD_TYPE = "wrong-payload-type"  # a payload type the session does not use
    # TLS handshake level
    CERT_EXPIRED = "cert-expired"  # the SECC leaf has expired (chain otherwise valid)
    CERT_UNTRUSTED = "cert-untrusted"  # the SECC chain ends in a look-alike root the EVCC does not trust
    CERT_VEHICLE_REFUSED = "cert-vehicle-refused"  # TLS 1.3 (-20): the SECC refuses the vehicle certificate


FRAME_KINDS = frozenset({FaultKind.DISCONNECT, FaultKind.OVERSIZED, FaultKind.TRUNCATED, FaultKind.WRONG_VERSION,
                         FaultKind.WRONG_PAYLOAD_TYPE})
CERT_KINDS = frozenset({FaultKind.CERT_EXPIRED, FaultKind.CERT_UNTRUSTED, FaultKind.CERT_VEHICLE_REFUSED})
CERT_TEXT = {"expired": FaultKind.CERT_EXPIRED, "untrusted": FaultKind.CERT_UNTRUSTED,
             "vehicle-refused": FaultKind.CERT_VEHICLE_REFUSED}

_RESPONSE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*Res$")
_RESPONSE_CODE = re.compile(r"^((FAILED|WARNING)(_[A-Za-z0-9]+)*|OK_[A-Za-z0-9_]+|Failed_NoNegotiation)$")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at: str | int = 0  # response element name, or index of the response in the session (0 = SessionSetupRes)
    occurrence: int = 1  # with a name: the n-th response of that name
    response_code: str = "FAILED"  # CODE
    delay: float | None = None  # DELAY: seconds, None = the request's V2G_EVCC_Msg_Timeout + margin; STALL: pace
    margin: float = 0.5  # DELAY: how far past the timeout
    replacement: str | None = None  # UNEXPECTED: the earlier response to send instead
    length: int = 0xFFFF_FFFF  # OVERSIZED: the payload length the header announces
    version: int = 0x02  # WRONG_VERSION
    payload_type: int | None = None  # WRONG_PAYLOAD_TYPE; None = 0x8002 in a 0x8001 session, else 0x8001
    garbage: bytes = b"\x80\xff\xff\xff\xff\x00\x13\x37"  # GARBAGE_EXI: V2G EXI header, then no valid event

    def __post_init__(self) -> None:
        if isinstance(self.at, int):
            if self.at < 0:
                raise FaultSpecError(f"fault {self.kind.value}: message index {self.at} is negative")
        elif not _RESPONSE_NAME.match(self.at):
            raise FaultSpecError(f"fault {self.kind.value}: {self.at!r} is not a response element name (...Res)")
        if self.occurrence < 1:
            raise FaultSpecError(f"fault {self.kind.value}: occurrence {self.occurrence} must be 1 or more")
        if not _RESPONSE_CODE.match(self.response_code):
            raise FaultSpecError(f"fault code: {self.response_code!r} is not a FAILED*/WARNING*/OK_* ResponseCode "
                                 "(or SupportedAppProtocol's Failed_NoNegotiation)")
        if self.delay is not None and not 0.0 <= self.delay <= 3600.0:
            raise FaultSpecError(f"fault delay: {self.delay} s outside [0, 3600]")
        if not 0.0 <= self.margin <= 60.0:
            raise FaultSpecError(f"fault delay: margin {self.margin} s outside [0, 60]")
        if self.replacement is not None and not _RESPONSE_NAME.match(self.replacement):
            raise FaultSpecError(f"fault unexpected: {self.replacement!r} is not a response element name")
        if not 0 <= self.length <= 0xFFFF_FFFF:
            raise FaultSpecError(f"fault oversized: length {self.length} is not a uint32")
        if not 0 <= self.version <= 0xFF or self.version == 0x01:
            raise FaultSpecError(f"fault wrong-version: {self.version:#x} is not a wrong V2GTP version byte")
        if self.payload_type is not None and not 0 <= self.payload_type <= 0xFFFF:
            raise FaultSpecError(f"fault wrong-payload-type: {self.payload_type:#x} is not a uint16")

    @property
    def needs_transport(self) -> bool:
        """Frame and TLS faults cannot happen in the in-memory pairing (it has no V2GTP stream)."""
        return self.kind in FRAME_KINDS or self.kind in CERT_KINDS

    @property
    def target(self) -> str:
        """Where the fault strikes, for messages and reports (``CurrentDemandRes #3``, ``message 4``)."""
        if isinstance(self.at, int):
            return f"message {self.at}"
        return self.at if self.occurrence == 1 else f"{self.at} #{self.occurrence}"

    def describe(self) -> str:
        if self.kind in CERT_KINDS:
            return self.kind.value
        return f"{self.kind.value} at {self.target}"


def parse_fault(spec: str) -> Fault:
    """``KIND[:TARGET[#OCCURRENCE]][=VALUE]`` (module docstring) -> :class:`Fault`; FaultSpecError names the part."""
    text = spec.strip()
    head, _, value = text.partition("=")
    kind_text, _, target = head.partition(":")
    if kind_text == "cert":
        return _cert(spec, target, value)
    try:
        kind = FaultKind(kind_text)
    except ValueError:
        known = ", ".join(sorted([k.value for k in FaultKind if k not in CERT_KINDS] + ["cert"]))
        raise FaultSpecError(f"fault {spec!r}: unknown kind {kind_text!r} (known: {known})") from None
    if kind in CERT_KINDS:
        raise FaultSpecError(f"fault {spec!r}: write {_cert_forms()}")
    at, occurrence = _target(spec, target)
    return _with_value(spec, Fault(kind, at, occurrence), value)


def _cert(spec: str, target: str, value: str) -> Fault:
    if target not in CERT_TEXT or value:
        raise FaultSpecError(f"fault {spec!r}: certificate faults are {_cert_forms()}")
    return Fault(CERT_TEXT[target])


def _cert_forms() -> str:
    return ", ".join(f"cert:{t}" for t in CERT_TEXT)


def _target(spec: str, target: str) -> tuple[str | int, int]:
    if not target:
        return 0, 1
    name, hash_, count = target.partition("#")
    occurrence = _int(spec, "occurrence", count) if hash_ else 1
    if name.isdigit():
        if hash_:
            raise FaultSpecError(f"fault {spec!r}: an occurrence goes with a response name, not an index")
        return int(name), 1
    if not _RESPONSE_NAME.match(name):
        raise FaultSpecError(f"fault {spec!r}: target {name!r} is neither a message index nor a ...Res name")
    return name, occurrence


def _with_value(spec: str, fault: Fault, value: str) -> Fault:
    kind = fault.kind
    if not value:
        return fault
    if kind is FaultKind.CODE:
        return replace(fault, response_code=value)
    if kind in (FaultKind.DELAY, FaultKind.STALL):
        try:
            seconds = float(value)
        except ValueError:
            raise FaultSpecError(f"fault {spec!r}: delay {value!r} is not a number of seconds") from None
        return replace(fault, delay=seconds)
    if kind is FaultKind.UNEXPECTED:
        return replace(fault, replacement=value)
    if kind is FaultKind.OVERSIZED:
        return replace(fault, length=_int(spec, "length", value))
    if kind is FaultKind.WRONG_VERSION:
        return replace(fault, version=_int(spec, "version", value))
    if kind is FaultKind.WRONG_PAYLOAD_TYPE:
        return replace(fault, payload_type=_int(spec, "payload type", value))
    raise FaultSpecError(f"fault {spec!r}: {kind.value} takes no =value")


def _int(spec: str, what: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise FaultSpecError(f"fault {spec!r}: {what} {text!r} is not an integer") from None


# What the fault layer sends instead of a message object (the server writes them, the in-memory pairing
# delivers RawPayload and refuses the others).
@dataclass(frozen=True, slots=True)
class RawPayload:
    """Payload bytes (not a message object) in a correct V2GTP frame of ``payload_type``."""

    payload_type: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RawFrame:
    """Bytes written to the stream as they are: a broken V2GTP frame."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection now."""


Injected = RawPayload | RawFrame | Disconnect
