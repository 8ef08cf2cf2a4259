"""TEST ONLY: a certificate provisioning service (CPS/MO side) built on the test PKI of :mod:`evcc.pki`.

It answers an EV's CertificateInstallationReq/CertificateUpdateReq the way a backend behind the charger does
(ISO 15118-2 [V2G2-818..823]; ISO 15118-20 [V2G20-2491..2502]): it generates a contract key, issues a contract
certificate under MO Sub-CA 2, encrypts the key for the EV's static key and returns the values the response
carries. The message level (request checks, EXI messages, the XML signature over the four references made with
:meth:`ProvisioningSimulator.sign`: raw r||s, or raw Ed448) is :mod:`evcc.contracts.provisioning_service`.

Never use it outside tests and benches: it holds every private key of the test PKI in memory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, x448
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_der_public_key,
)

from evcc.contracts.install2 import ContractResponse2
from evcc.contracts.install20 import EcdhCurve, SignedInstallationData20, SkiEncoding, aad
from evcc.hsm.hostcrypto import HASHES, ecdsa_raw
from evcc.hsm.keystore import COUNTER_1, KDF_ISO2, KDF_ISO20, ConcatKdf, KeyAlgorithm, wipe
from evcc.hsm.tpm_wrap import StorageParent
from evcc.pki.generator import OID_SUBJECT_ALT_PUBLIC_KEY_INFO, TestPki, issue_certificate
from evcc.pki.profiles import CONTRACT_USAGE, Profile, Suite


def _kdf(z: bytes, kdf: ConcatKdf) -> bytes:
    return hashlib.new(kdf.hash_name, COUNTER_1 + z + kdf.other_info).digest()[:kdf.length]


def x448_alternate_key(oem_cert: x509.Certificate) -> x448.X448PublicKey:
    """The X448 key in the OEM provisioning certificate's subjectAltPublicKeyInfo extension."""
    ext = oem_cert.extensions.get_extension_for_oid(OID_SUBJECT_ALT_PUBLIC_KEY_INFO).value
    key = load_der_public_key(ext.value)  # type: ignore[attr-defined]
    if not isinstance(key, x448.X448PublicKey):
        raise ValueError("alternate key is not X448")
    return key


@dataclass
class ProvisioningSimulator:
    """Answers installation/update requests from one test PKI. ``now`` is passed to every call."""

    pki: TestPki
    cps_leaf: str = "cps_leaf"
    mo_issuer: str = "mo_sub_ca_2"
    contract_validity: timedelta = timedelta(days=365)
    # The backend's copy of every contract key it issued (raw bytes), so tests can prove the EV never
    # writes it anywhere in plaintext. A real backend also holds these; the EV never sees this list.
    issued_keys: list[bytes] = field(default_factory=list)

    def cps_chain(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(Encoding.DER) for c in self.pki.chain(self.cps_leaf))

    def sign(self, data: bytes) -> bytes:
        """Sign with the CPS leaf key: raw r||s ECDSA (SHA-256 on P-256, SHA-512 on P-521) or Ed448."""
        key = self.pki.signing_key(self.cps_leaf)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            alg = KeyAlgorithm.EC_P256 if key.curve.name == "secp256r1" else KeyAlgorithm.EC_P521
            return ecdsa_raw(key.sign(data, ec.ECDSA(HASHES[alg])), alg)
        return key.sign(data)

    def _issue(self, emaid: str, public: ec.EllipticCurvePublicKey | ed448.Ed448PublicKey | x448.X448PublicKey,
               now: datetime) -> list[x509.Certificate]:
        profile = Profile("contract", self.mo_issuer, emaid, "evcc test MO", "MO", False, None, CONTRACT_USAGE,
                          self.contract_validity)
        issuer = (self.pki.certs[self.mo_issuer], self.pki.signing_key(self.mo_issuer))
        leaf = issue_certificate(profile, public, issuer, issuer[1], self.pki.suite, now)
        return [leaf] + self.pki.chain(self.mo_issuer)

    def _response_2(self, static: ec.EllipticCurvePublicKey, emaid: str, now: datetime) -> ContractResponse2:
        if self.pki.suite is not Suite.ISO2:
            raise ValueError("ISO 15118-2 responses need the iso2 PKI")
        contract = ec.generate_private_key(ec.SECP256R1())
        chain = self._issue(emaid, contract.public_key(), now)
        eph = ec.generate_private_key(ec.SECP256R1())
        k = _kdf(eph.exchange(ec.ECDH(), static), KDF_ISO2)
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
        d = contract.private_numbers().private_value.to_bytes(32, "big")
        self.issued_keys.append(d)
        ct = enc.update(d) + enc.finalize()
        return ContractResponse2(
            contract_chain=tuple(c.public_bytes(Encoding.DER) for c in chain), encrypted_private_key=iv + ct,
            dh_public_key=eph.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
            emaid=emaid, cps_chain=self.cps_chain())

    def certificate_installation_2(self, oem_prov_cert: x509.Certificate, emaid: str,
                                   now: datetime) -> ContractResponse2:
        """-2 CertificateInstallationRes values for the EV owning ``oem_prov_cert`` [V2G2-820]."""
        static = oem_prov_cert.public_key()
        if not isinstance(static, ec.EllipticCurvePublicKey):
            raise ValueError("OEM provisioning certificate has no EC key")
        return self._response_2(static, emaid, now)

    def certificate_update_2(self, contract_cert: x509.Certificate, emaid: str, now: datetime) -> ContractResponse2:
        """-2 CertificateUpdateRes values, encrypted for the current contract key [V2G2-821]."""
        static = contract_cert.public_key()
        if not isinstance(static, ec.EllipticCurvePublicKey):
            raise ValueError("contract certificate has no EC key")
        return self._response_2(static, emaid, now)

    def certificate_installation_20(self, oem_prov_cert: x509.Certificate, pcid: str, emaid: str, now: datetime,
                                    curve: EcdhCurve = EcdhCurve.SECP521,
                                    ski_encoding: SkiEncoding = SkiEncoding.HEX_TEXT) -> SignedInstallationData20:
        """-20 SignedInstallationData values (SECP521 with the iso20-p521 PKI, X448 with iso20-ed448)."""
        if curve is EcdhCurve.SECP521:
            static = oem_prov_cert.public_key()
            if not isinstance(static, ec.EllipticCurvePublicKey):
                raise ValueError("OEM provisioning certificate has no EC key")
            contract = ec.generate_private_key(ec.SECP521R1())
            chain = self._issue(emaid, contract.public_key(), now)
            eph = ec.generate_private_key(ec.SECP521R1())
            z = eph.exchange(ec.ECDH(), static)
            dh = eph.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            plaintext = contract.private_numbers().private_value.to_bytes(66, "big")
        else:
            static_x = x448_alternate_key(oem_prov_cert)
            contract_x = x448.X448PrivateKey.generate()
            chain = self._issue(emaid, contract_x.public_key(), now)
            eph_x = x448.X448PrivateKey.generate()
            z = eph_x.exchange(static_x)
            dh = eph_x.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            plaintext = contract_x.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        self.issued_keys.append(plaintext)
        iv = os.urandom(12)
        sealed = AESGCM(_kdf(z, KDF_ISO20)).encrypt(iv, plaintext, aad(pcid, chain[0], ski_encoding))
        return SignedInstallationData20(
            contract_chain=tuple(c.public_bytes(Encoding.DER) for c in chain), ecdh_curve=curve,
            dh_public_key=dh, encrypted_private_key=iv + sealed, cps_chain=self.cps_chain())

    def certificate_installation_20_tpm(self, emaid: str, now: datetime,
                                        storage: StorageParent) -> SignedInstallationData20:
        """-20 SignedInstallationData with a TPM_EncryptedPrivateKey (PKI.md §1): a P-521 contract key duplicated
        for the EV's TPM storage key ``storage`` (outer wrapper only, evcc.hsm.tpm_wrap); DHPublicKey is the
        ephemeral point of the seed. Needs the iso20-p521 PKI and tpm2-pytss (the public area's name)."""
        from evcc.hsm.tpm_objects import contract_public_20
        from evcc.hsm.tpm_wrap import ecc_sensitive, outer_wrap

        if self.pki.suite is not Suite.ISO20_P521:
            raise ValueError("TPM_EncryptedPrivateKey needs the iso20-p521 PKI")
        contract = ec.generate_private_key(ec.SECP521R1())
        chain = self._issue(emaid, contract.public_key(), now)
        point = contract.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        d = bytearray(contract.private_numbers().private_value.to_bytes(66, "big"))
        self.issued_keys.append(bytes(d))
        eph = ec.generate_private_key(storage.curve)
        sensitive = ecc_sensitive(d, 66, os.urandom(64))
        try:
            dup = outer_wrap(storage, bytes(contract_public_20(point).get_name()), sensitive, eph)
        finally:
            wipe(sensitive)
            wipe(d)
        return SignedInstallationData20(
            contract_chain=tuple(c.public_bytes(Encoding.DER) for c in chain), ecdh_curve=EcdhCurve.SECP521,
            dh_public_key=eph.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint),
            encrypted_private_key=dup.duplicate, cps_chain=self.cps_chain(), tpm_wrapped=True)
