"""Certificate profiles of the V2G test PKI (ISO 15118-2 Annex F / ISO 15118-20 Annex B; PKI.md §2).

Everything that shapes a certificate of the test PKI lives in this table: issuer, subject (CN, O, DC), basic
constraints, key usage and validity. The generator (:mod:`evcc.pki.generator`) only turns rows into certificates.

Three key suites share the same tree:

=============  ====================  ===========================================================
suite          keys / signature      notes
=============  ====================  ===========================================================
``iso2``       secp256r1 / SHA-256   ISO 15118-2
``iso20-p521`` secp521r1 / SHA-512   ISO 15118-20, ECDH on secp521r1
``iso20-ed448`` Ed448                ISO 15118-20; the OEM provisioning leaf carries an X448
                                     alternate key (ECDH) in subjectAltPublicKeyInfo (2.5.29.72)
=============  ====================  ===========================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

DAY = timedelta(days=1)
YEAR = timedelta(days=365)


class Suite(enum.Enum):
    """Key and signature algorithm family of one PKI tree."""

    ISO2 = "iso2"
    ISO20_P521 = "iso20-p521"
    ISO20_ED448 = "iso20-ed448"


class KeyUsage(enum.Enum):
    """The key usage bits the V2G profiles use (X.509 names)."""

    DIGITAL_SIGNATURE = "digital_signature"
    NON_REPUDIATION = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"
    KEY_AGREEMENT = "key_agreement"
    KEY_CERT_SIGN = "key_cert_sign"
    CRL_SIGN = "crl_sign"


CA_USAGE = frozenset({KeyUsage.KEY_CERT_SIGN, KeyUsage.CRL_SIGN})
SECC_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT})
OEM_PROV_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT})
CONTRACT_USAGE = frozenset(
    {KeyUsage.DIGITAL_SIGNATURE, KeyUsage.NON_REPUDIATION, KeyUsage.KEY_ENCIPHERMENT, KeyUsage.KEY_AGREEMENT}
)
CPS_LEAF_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE})
VEHICLE_USAGE = frozenset({KeyUsage.DIGITAL_SIGNATURE})


@dataclass(frozen=True)
class Profile:
    """One certificate of the tree. ``issuer`` names another profile; ``None`` means self-signed (a root).

    ``not_before``/``not_after`` are offsets from the generation time ``now`` (negative = in the past).
    ``path_len`` is only meaningful for CAs (``None`` = unlimited).
    """

    name: str
    issuer: str | None
    cn: str
    o: str
    dc: str
    ca: bool
    path_len: int | None
    usage: frozenset[KeyUsage]
    not_after: timedelta
    not_before: timedelta = -DAY


# A valid PCID (VDE-AR-E 2802-100-1: WMI + 14 alphanumerics + check character, 18 characters).
TEST_PCID = "WMIEVCCTEST0000017"
# The vehicle's TLS client identity (ISO 15118-20 TLS 1.3 mutual authentication): issued by the OEM.
TEST_VEHICLE_CN = "WMIEVCCTESTVEHICLE"
# Valid eMAIDs with their ISO 15118-2 Annex H check character (see evcc.contracts.emaid).
TEST_EMAIDS = ("DE8AA001234567" + "0", "NN123ABCDEFGHI" + "T", "FRXYZ123456789" + "2")


def _ca(name: str, issuer: str | None, cn: str, dc: str, path_len: int | None, years: float,
        extra: frozenset[KeyUsage] = frozenset()) -> Profile:
    return Profile(name, issuer, cn, "evcc test PKI", dc, True, path_len, CA_USAGE | extra, years * YEAR)


PROFILES: tuple[Profile, ...] = (
    _ca("v2g_root", None, "V2GRootCA", "V2G", None, 10),
    _ca("cpo_sub_ca_1", "v2g_root", "CPOSubCA1", "V2G", 1, 4),
    _ca("cpo_sub_ca_2", "cpo_sub_ca_1", "CPOSubCA2", "V2G", 0, 1),
    Profile("secc_leaf", "cpo_sub_ca_2", "SECCCert", "evcc test CPO", "CPO", False, None, SECC_USAGE, 60 * DAY),
    _ca("oem_root", None, "OEMRootCA", "OEM", None, 10),
    _ca("oem_sub_ca_1", "oem_root", "OEMSubCA1", "OEM", 1, 4),
    _ca("oem_sub_ca_2", "oem_sub_ca_1", "OEMSubCA2", "OEM", 0, 4),
    Profile("oem_prov_leaf", "oem_sub_ca_2", TEST_PCID, "evcc test OEM", "OEM", False, None, OEM_PROV_USAGE,
            4 * YEAR),
    # The vehicle certificate the EV presents as TLS 1.3 client (ISO 15118-20): an OEM leaf like the provisioning
    # certificate, digitalSignature only (its key signs CertificateVerify; no key agreement in TLS 1.3's
    # ephemeral exchange). PKI.md names no extendedKeyUsage for it, so none is set (an EKU would restrict it).
    Profile("vehicle_leaf", "oem_sub_ca_2", TEST_VEHICLE_CN, "evcc test OEM", "OEM", False, None, VEHICLE_USAGE,
            4 * YEAR),
    _ca("mo_root", None, "MORootCA", "MO", None, 10),
    _ca("mo_sub_ca_1", "mo_root", "MOSubCA1", "MO", 1, 4),
    _ca("mo_sub_ca_2", "mo_sub_ca_1", "MOSubCA2", "MO", 0, 4,
        frozenset({KeyUsage.DIGITAL_SIGNATURE, KeyUsage.NON_REPUDIATION})),
    Profile("contract_1", "mo_sub_ca_2", TEST_EMAIDS[0], "evcc test MO", "MO", False, None, CONTRACT_USAGE,
            2 * YEAR),
    Profile("contract_2", "mo_sub_ca_2", TEST_EMAIDS[1], "evcc test MO", "MO", False, None, CONTRACT_USAGE,
            365 * DAY),
    Profile("contract_3", "mo_sub_ca_2", TEST_EMAIDS[2], "evcc test MO", "MO", False, None, CONTRACT_USAGE,
            28 * DAY),
    _ca("cps_sub_ca_1", "v2g_root", "CPSSubCA1", "CPS", 1, 4),
    _ca("cps_sub_ca_2", "cps_sub_ca_1", "CPSSubCA2", "CPS", 0, 2),
    Profile("cps_leaf", "cps_sub_ca_2", "CPSLeaf", "evcc test CPS", "CPS", False, None, CPS_LEAF_USAGE, 90 * DAY),
)

# Broken variants for negative tests. They live in the same tree under their own names.
BROKEN_PROFILES: tuple[Profile, ...] = (
    Profile("broken_cps_leaf_expired", "cps_sub_ca_2", "CPSLeafExpired", "evcc test CPS", "CPS", False, None,
            CPS_LEAF_USAGE, -DAY, -91 * DAY),
    Profile("broken_cps_leaf_not_yet_valid", "cps_sub_ca_2", "CPSLeafFuture", "evcc test CPS", "CPS", False, None,
            CPS_LEAF_USAGE, 120 * DAY, 30 * DAY),
    Profile("broken_cps_leaf_wrong_usage", "cps_sub_ca_2", "CPSLeafWrongKU", "evcc test CPS", "CPS", False, None,
            frozenset({KeyUsage.KEY_ENCIPHERMENT}), 90 * DAY),
    Profile("broken_secc_leaf_wrong_usage", "cpo_sub_ca_2", "SECCCertWrongKU", "evcc test CPO", "CPO", False, None,
            frozenset({KeyUsage.KEY_CERT_SIGN}), 60 * DAY),
    # A look-alike V2G root (same names, other key) and a CPS chain under it: "wrong root".
    _ca("broken_rogue_root", None, "V2GRootCA", "V2G", None, 10),
    _ca("broken_rogue_cps_sub_ca_1", "broken_rogue_root", "CPSSubCA1", "CPS", 1, 4),
    _ca("broken_rogue_cps_sub_ca_2", "broken_rogue_cps_sub_ca_1", "CPSSubCA2", "CPS", 0, 2),
    Profile("broken_rogue_cps_leaf", "broken_rogue_cps_sub_ca_2", "CPSLeaf", "evcc test CPS", "CPS", False, None,
            CPS_LEAF_USAGE, 90 * DAY),
    # pathLen 0 Sub-CA 2 issuing a third CA: the path is too long.
    _ca("broken_cps_sub_ca_3", "cps_sub_ca_2", "CPSSubCA3", "CPS", 0, 1),
    Profile("broken_cps_leaf_path_too_long", "broken_cps_sub_ca_3", "CPSLeafDeep", "evcc test CPS", "CPS", False,
            None, CPS_LEAF_USAGE, 90 * DAY),
    Profile("broken_contract_expired", "mo_sub_ca_2", TEST_EMAIDS[0], "evcc test MO", "MO", False, None,
            CONTRACT_USAGE, -DAY, -400 * DAY),
)

# Names of the issuing chain for each leaf (the chain a message carries: leaf, then Sub-CAs, without the root).
LEAVES: tuple[str, ...] = tuple(p.name for p in PROFILES + BROKEN_PROFILES if not p.ca)
ROOTS: tuple[str, ...] = tuple(p.name for p in PROFILES + BROKEN_PROFILES if p.issuer is None)


def profile_table() -> dict[str, Profile]:
    """All profiles by name (regular and broken)."""
    return {p.name: p for p in PROFILES + BROKEN_PROFILES}
