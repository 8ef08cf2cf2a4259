"""Errors of the contracts part. Each rejection of a certificate installation has its own class so that the
session can log exactly what was wrong; all derive from the project's one error tree (evcc.errors)."""

from __future__ import annotations

from evcc.errors import SecurityError, StoreError


class InvalidIdentifier(SecurityError):
    """An eMAID or PCID is malformed, not ASCII, or has a wrong check character (ISO 15118-2 Annex H)."""


class ChainError(SecurityError):
    """A certificate chain failed validation."""


class ChainTooLarge(ChainError):
    """A chain holds too many certificates or too many bytes (bounded before parsing)."""


class MalformedCertificate(ChainError):
    """A certificate is not valid DER X.509."""


class UnknownRoot(ChainError):
    """The chain does not lead to an installed root certificate."""


class CertificateExpired(ChainError):
    """A certificate of the chain is past its notAfter."""


class CertificateNotYetValid(ChainError):
    """A certificate of the chain is before its notBefore."""


class WrongKeyUsage(ChainError):
    """A certificate lacks the key usage or CA flag its place in the chain needs."""


class PathTooLong(ChainError):
    """A pathLenConstraint is exceeded or the chain has more Sub-CAs than the profile allows."""


class BadSignature(ChainError):
    """A certificate's signature does not verify with its issuer's key, or the issuer names do not link."""


class InstallationRejected(SecurityError):
    """A CertificateInstallationRes/CertificateUpdateRes was rejected; the store is unchanged."""


class SignatureRejected(InstallationRejected):
    """The CPS signature over the message's references did not verify [V2G2-771]."""


class SignatureValueInvalid(SignatureRejected):
    """The SignatureValue does not verify over SignedInfo with the CPS leaf key (or its method is not allowed)."""


class DigestMismatch(SignatureRejected):
    """A referenced element's digest differs from its DigestValue: it was changed after signing."""


class MissingReference(SignatureRejected):
    """An element that must be signed is not referenced (or the message has no Signature at all)."""


class UnexpectedReference(SignatureRejected):
    """The signature references something else, twice, or an Id that is not unique in the message."""


class MalformedResponse(InstallationRejected):
    """The response cannot be decoded or lacks the expected body element."""


class ResponseNotOk(InstallationRejected):
    """The charger answered with a failure ResponseCode; nothing of the response is used."""

    def __init__(self, message: str, response_code: str) -> None:
        super().__init__(message)
        self.response_code = response_code


class DhPublicKeyInvalid(InstallationRejected):
    """DHpublickey has the wrong length or is not a point on the curve."""


class DecryptionFailed(InstallationRejected):
    """The encrypted private key has the wrong length, or AES-GCM authentication failed (-20)."""


class KeyMismatch(InstallationRejected):
    """The decrypted private key is out of range or does not match the contract certificate [V2G2-823]."""


class EmaidMismatch(InstallationRejected):
    """The eMAID of the message differs from the contract certificate's subject CN."""


class ContractStoreError(StoreError):
    """The contract store file is missing, unreadable, corrupt or of an unknown format."""


class ContractNotFound(ContractStoreError):
    """No contract with that id is in the store."""
