"""Certificate subjects the factory line asks for, and the roles a key plays (PKI.md §2, §3).

========================  ==========================================================================
role                      subject rule (checked before anything is signed)
========================  ==========================================================================
``oem-provisioning``      CN = the PCID (VDE-AR-E 2802-100-1: 18 upper-case letters and digits),
                          the ISO 15118-20 AAD of the contract-key decryption [V2G20-2492]
``vehicle``               CN = the vehicle name, 1..64 letters, digits and '-' (the TLS 1.3 client
                          identity of ISO 15118-20)
========================  ==========================================================================

Subjects are written as RFC 4514 strings, e.g. ``CN=WMIEVCCTEST0000017,O=evcc test OEM,C=DE,DC=OEM``.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from evcc.contracts.emaid import validate_pcid
from evcc.contracts.errors import InvalidIdentifier
from evcc.errors import ConfigError

OEM_PROVISIONING = "oem-provisioning"
VEHICLE = "vehicle"
CONTRACT = "contract"
CSR_ROLES = (OEM_PROVISIONING, VEHICLE)
_VEHICLE_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


def parse_subject(text: str) -> x509.Name:
    """An RFC 4514 subject (ConfigError naming the text when it does not parse)."""
    try:
        name = x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise ConfigError(f"subject {text!r} is not an RFC 4514 name such as CN=...,O=...,C=DE ({exc})") from None
    if not list(name):
        raise ConfigError("the subject is empty")
    return name


def common_name(name: x509.Name) -> str | None:
    """The one CN of ``name`` (None when it has none; ConfigError for more than one)."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(cns) > 1:
        raise ConfigError(f"subject {name.rfc4514_string()!r} has {len(cns)} CNs: give one")
    return str(cns[0].value) if cns else None


def check_subject(role: str, name: x509.Name) -> None:
    """The subject rule of ``role`` (module docstring); ConfigError with the cause."""
    cn = common_name(name)
    if cn is None:
        raise ConfigError(f"subject {name.rfc4514_string()!r} has no CN")
    if role == OEM_PROVISIONING:
        try:
            validate_pcid(cn)
        except InvalidIdentifier as exc:
            raise ConfigError(f"an OEM provisioning certificate's CN must be the PCID: {exc}") from None
    elif role == VEHICLE:
        if _VEHICLE_NAME.match(cn) is None:
            raise ConfigError(f"vehicle name {cn!r} is not 1..64 letters, digits and '-'")
    else:
        raise ConfigError(f"role {role!r} is not one of {', '.join(CSR_ROLES)}")
