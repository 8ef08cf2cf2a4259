"""TPM 2.0 object templates and the key file format of :class:`evcc.hsm.tpm_store.TpmKeyStore`.

Templates (TPM 2.0 Library Part 2 §12.2 TPMT_PUBLIC, attribute bits §8.3):

- storage primary key (SRK): ECC NIST P-256, nameAlg SHA-256, restricted|decrypt|fixedTPM|fixedParent|
  sensitiveDataOrigin|userWithAuth|noDA, AES-128-CFB, empty unique. It is the template tpm2-openssl 1.1 uses for
  a key whose parent is TPM2_RH_OWNER (0x40000001): the TPM derives the same key from the owner seed every time,
  so the store and OpenSSL's ``tpm2`` provider load the same key files. Never persisted (no NV handle used).
- generated keys: ECC P-256 or P-521, nameAlg SHA-256, sign|decrypt (ECDSA and ECDH_ZGen with one key, as the OEM
  provisioning key and contract keys need), scheme NULL (the scheme is given per TPM2_Sign), fixedTPM|fixedParent|
  sensitiveDataOrigin|userWithAuth|noDA, empty auth.
- imported keys (contract keys): the same but fixedTPM, fixedParent and sensitiveDataOrigin clear (TPM2_Import
  requires it); empty authPolicy, so TPM2_Duplicate can never be authorised: the key cannot leave the TPM.
- ISO 15118-20 TPM storage key (``TPM_EncryptedPrivateKey`` parent): ECC P-521, nameAlg SHA-512, restricted|
  decrypt, AES-256-CFB. A TPM refuses a storage key whose nameAlg or symmetric algorithm differs from its parent's
  (TPM_RC_HASH / TPM_RC_SYMMETRIC, measured on swtpm), so it cannot sit under the P-256/SHA-256 SRK: it is a second
  primary key of the owner hierarchy, its template's unique field set from the label (so each label is its own
  key), derived again from the owner seed whenever it is used; its file holds the public area only.

Key file (one per key, written atomically), a PEM "TSS2 PRIVATE KEY" (ASN.1 TPMKey of tpm2-tss-engine and
tpm2-openssl: OID 2.23.133.10.1.3 loadableKey, emptyAuth TRUE, parent 0x40000001, TPM2B_PUBLIC, TPM2B_PRIVATE)
preceded by header lines that OpenSSL's PEM reader skips::

    evcc-label: "<label as JSON string>"
    evcc-parent: "<label of the parent key>"        (only for keys under the -20 storage key)
    evcc-primary: "storage20"                       (only for the -20 storage key: public area only)
    -----BEGIN TSS2 PRIVATE KEY-----
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC, TPMA_OBJECT  # type: ignore[import-untyped]
from tpm2_pytss.tsskey import TSSPrivKey  # type: ignore[import-untyped]
from tpm2_pytss.types import (  # type: ignore[import-untyped]
    TPM2B_PUBLIC,
    TPMS_ECC_PARMS,
    TPMT_ECC_SCHEME,
    TPMT_KDF_SCHEME,
    TPMT_PUBLIC,
    TPMT_SYM_DEF_OBJECT,
    TPMU_PUBLIC_PARMS,
    TPMU_SYM_KEY_BITS,
    TPMU_SYM_MODE,
)

from evcc.hsm.keystore import KeyAlgorithm

TPM2_RH_OWNER = 0x40000001
CURVE_IDS: dict[KeyAlgorithm, int] = {KeyAlgorithm.EC_P256: int(TPM2_ECC.NIST_P256),
                                      KeyAlgorithm.EC_P521: int(TPM2_ECC.NIST_P521)}
ALGORITHM_OF_CURVE = {v: k for k, v in CURVE_IDS.items()}
WIDTH = {KeyAlgorithm.EC_P256: 32, KeyAlgorithm.EC_P521: 66}
_HEADER_LABEL = "evcc-label: "
_HEADER_PARENT = "evcc-parent: "
_HEADER_PRIMARY = "evcc-primary: "
PRIMARY_STORAGE20 = "storage20"
_PEM_BEGIN = "-----BEGIN TSS2 PRIVATE KEY-----"

_STORAGE = (TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.NODA
            | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN)
_USE = TPMA_OBJECT.USERWITHAUTH | TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.DECRYPT | TPMA_OBJECT.NODA
_GENERATED = _USE | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN


def _aes_cfb(bits: int) -> Any:
    return TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES, keyBits=TPMU_SYM_KEY_BITS(aes=bits),
                               mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB))


def _ecc(attributes: Any, curve: int, name_alg: Any, symmetric: Any) -> Any:
    return TPM2B_PUBLIC(publicArea=TPMT_PUBLIC(
        type=TPM2_ALG.ECC, nameAlg=name_alg, objectAttributes=attributes, authPolicy=b"",
        parameters=TPMU_PUBLIC_PARMS(eccDetail=TPMS_ECC_PARMS(
            symmetric=symmetric, scheme=TPMT_ECC_SCHEME(scheme=TPM2_ALG.NULL), curveID=curve,
            kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL)))))


def srk_template() -> Any:
    """The storage primary key's TPM2B_PUBLIC (same as tpm2-openssl's for parent 0x40000001)."""
    return _ecc(_STORAGE, int(TPM2_ECC.NIST_P256), TPM2_ALG.SHA256, _aes_cfb(128))


def storage20_template(label: str) -> Any:
    """The -20 TPM storage key (a primary): P-521, SHA-512, AES-256-CFB (a TPM_EncryptedPrivateKey is 206 bytes
    for it); unique.x = SHA-512(label) truncated to the curve width, so that each label derives its own key."""
    template = _ecc(_STORAGE, int(TPM2_ECC.NIST_P521), TPM2_ALG.SHA512, _aes_cfb(256))
    template.publicArea.unique.ecc.x = hashlib.sha512(label.encode()).digest()
    return template


def key_template(algorithm: KeyAlgorithm) -> Any:
    """A key generated in the TPM (sign and ECDH)."""
    return _ecc(_GENERATED, CURVE_IDS[algorithm], TPM2_ALG.SHA256, TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL))


def imported_public(algorithm: KeyAlgorithm, point: bytes, name_alg: Any = TPM2_ALG.SHA256) -> Any:
    """The public area of a key imported from outside (X9.62 ``point`` 04||X||Y)."""
    width = WIDTH[algorithm]
    public = _ecc(_USE, CURVE_IDS[algorithm], name_alg, TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL))
    public.publicArea.unique.ecc.x = point[1:1 + width]
    public.publicArea.unique.ecc.y = point[1 + width:]
    return public


def contract_public_20(point: bytes) -> Any:
    """Public area of an ISO 15118-20 contract key delivered as TPM_EncryptedPrivateKey: both the CPS and the EV
    build it from the contract certificate's P-521 key (its name binds the duplication blob), nameAlg SHA-512."""
    return imported_public(KeyAlgorithm.EC_P521, point, TPM2_ALG.SHA512)


def point_of(public: Any) -> tuple[KeyAlgorithm, bytes]:
    """Algorithm and X9.62 uncompressed point of an ECC TPM2B_PUBLIC (ValueError for other keys)."""
    area = public.publicArea
    if area.type != TPM2_ALG.ECC:
        raise ValueError(f"not an ECC key (type 0x{int(area.type):04x})")
    curve = int(area.parameters.eccDetail.curveID)
    if curve not in ALGORITHM_OF_CURVE:
        raise ValueError(f"unsupported curve 0x{curve:04x}")
    algorithm = ALGORITHM_OF_CURVE[curve]
    width = WIDTH[algorithm]
    x, y = bytes(area.unique.ecc.x), bytes(area.unique.ecc.y)
    if len(x) > width or len(y) > width:
        raise ValueError("ECC point wider than its curve")
    return algorithm, b"\x04" + x.rjust(width, b"\0") + y.rjust(width, b"\0")


@dataclass(frozen=True)
class KeyFile:
    """A key file's content: label, parent label (None: the SRK) and the TPM-wrapped key."""

    label: str
    parent: str | None
    public: Any  # TPM2B_PUBLIC
    private: Any  # TPM2B_PRIVATE (empty for a primary key)
    primary: str | None = None  # PRIMARY_STORAGE20: derived from the owner seed, not loaded from ``private``

    def encode(self) -> bytes:
        head = _HEADER_LABEL + json.dumps(self.label) + "\n"
        if self.parent is not None:
            head += _HEADER_PARENT + json.dumps(self.parent) + "\n"
        if self.primary is not None:
            head += _HEADER_PRIMARY + json.dumps(self.primary) + "\n"
        pem: bytes = TSSPrivKey(self.private, self.public, True, TPM2_RH_OWNER).to_pem()
        return head.encode("ascii") + pem

    @staticmethod
    def decode(data: bytes) -> KeyFile:
        """Parse a key file (ValueError naming what is wrong)."""
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("not ASCII text") from None
        head, sep, _ = text.partition(_PEM_BEGIN)
        if not sep:
            raise ValueError("no TSS2 PRIVATE KEY block")
        label: str | None = None
        parent: str | None = None
        primary: str | None = None
        for line in head.splitlines():
            if line.startswith(_HEADER_LABEL):
                label = json.loads(line[len(_HEADER_LABEL):])
            elif line.startswith(_HEADER_PARENT):
                parent = json.loads(line[len(_HEADER_PARENT):])
            elif line.startswith(_HEADER_PRIMARY):
                primary = json.loads(line[len(_HEADER_PRIMARY):])
        if not isinstance(label, str) or not (parent is None or isinstance(parent, str)):
            raise ValueError("no evcc-label header")
        if primary not in (None, PRIMARY_STORAGE20):
            raise ValueError(f"unknown primary key kind {primary!r}")
        try:
            key = TSSPrivKey.from_pem(text[len(head):].encode("ascii"))
        except Exception as exc:  # asn1crypto and the unmarshal raise many types for damaged input
            raise ValueError(f"TSS2 PRIVATE KEY does not parse ({type(exc).__name__})") from None
        if key.parent != TPM2_RH_OWNER or not key.empty_auth:
            raise ValueError(f"unexpected parent 0x{key.parent:08x} or key auth")
        return KeyFile(label, parent, key.public, key.private, primary)
