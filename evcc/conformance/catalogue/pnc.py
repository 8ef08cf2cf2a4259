"""Plug & Charge charger cases (issue 16): the contract chains and signatures a charger must refuse and the signed
receipt it must check, ISO 15118-2 (PaymentDetails, Authorization, MeteringReceipt, CertificateInstallation) and
ISO 15118-20 DC (Authorization with PnC_AReqAuthorizationMode, MeteringConfirmation). ResponseCodes as the schemas
name them: FAILED_CertificateExpired, FAILED_CertChainError, FAILED_ChallengeInvalid, FAILED_SignatureError,
FAILED_MeteringSignatureNotValid; -20 WARNING_CertificateExpired, WARNING_CertificateValidationError,
WARNING_ChallengeInvalid. Requirements are cited by message and element (no requirement ids verified here).
The stimuli: :mod:`evcc.conformance.pnc`."""

from __future__ import annotations

from evcc.conformance.model import Case, Check, Expect, ExpectKind, Phase, Precondition, Stimulus, StimulusKind

PAYMENT = "ISO 15118-2 PaymentDetailsReq/Res"
AUTH = "ISO 15118-2 AuthorizationReq/Res (GenChallenge, Header Signature)"
RECEIPT = "ISO 15118-2 MeteringReceiptReq/Res (Header Signature)"

# (id, energy, request, deviation or None (the valid request), response codes, checks, requirement, title)
ROWS: tuple[tuple[str, str, str, str | None, tuple[str, ...], tuple[Check, ...], str, str], ...] = (
    ("ISO2-DC-PNC-RES-PaymentDetails", "dc", "PaymentDetailsReq", None, ("OK",),
     (Check("GenChallenge", "len", (16, 16)), Check("EVSETimeStamp", "present")), PAYMENT,
     "a valid contract chain is accepted with a 16-byte GenChallenge"),
    ("ISO2-DC-PNC-RES-Authorization", "dc", "AuthorizationReq", None, ("OK",),
     (Check("EVSEProcessing", "in", ("Finished", "Ongoing", "Ongoing_WaitingForCustomerInteraction")),), AUTH,
     "an AuthorizationReq signed over the issued GenChallenge is accepted"),
    ("ISO2-DC-PNC-expired-chain", "dc", "PaymentDetailsReq", "expired-chain", ("FAILED_CertificateExpired",), (),
     PAYMENT, "an expired contract certificate (trusted MO Sub-CA) is refused with FAILED_CertificateExpired"),
    ("ISO2-DC-PNC-untrusted-chain", "dc", "PaymentDetailsReq", "untrusted-chain", ("FAILED_CertChainError",), (),
     PAYMENT, "a contract chain to an unknown MO root is refused with FAILED_CertChainError"),
    ("ISO2-DC-PNC-wrong-emaid", "dc", "PaymentDetailsReq", "wrong-emaid", ("FAILED*",), (), PAYMENT,
     "a PaymentDetailsReq whose eMAID is not the contract certificate's is refused"),
    ("ISO2-DC-PNC-old-challenge", "dc", "AuthorizationReq", "old-challenge", ("FAILED_ChallengeInvalid",),
     (), AUTH, "an AuthorizationReq correctly signed over a GenChallenge of an earlier session (a replay) is "
     "refused with FAILED_ChallengeInvalid"),
    ("ISO2-DC-PNC-bad-signature", "dc", "AuthorizationReq", "bad-signature", ("FAILED_SignatureError",), (), AUTH,
     "an AuthorizationReq with a broken signature is refused with FAILED_SignatureError"),
    ("ISO2-DC-PNC-RES-MeteringReceipt", "dc", "MeteringReceiptReq", None, ("OK",),
     (Check("DC_EVSEStatus.EVSEStatusCode", "present"),), RECEIPT, "a correctly signed MeteringReceiptReq is accepted"),
    ("ISO2-DC-PNC-bad-receipt", "dc", "MeteringReceiptReq", "bad-receipt", ("FAILED_MeteringSignatureNotValid",), (),
     RECEIPT, "a MeteringReceiptReq with a broken signature is refused with FAILED_MeteringSignatureNotValid"),
    ("ISO2-AC-PNC-RES-ChargingStatus", "ac", "ChargingStatusReq", None, ("OK",),
     (Check("AC_EVSEStatus.RCD", "present"), Check("EVSEID", "len", (1, 37))), "ISO 15118-2 §8.4.4.2",
     "ChargingStatusRes in a Plug & Charge AC session has its mandatory content"),
    ("ISO2-AC-PNC-RES-MeteringReceipt", "ac", "MeteringReceiptReq", None, ("OK",),
     (Check("AC_EVSEStatus.RCD", "present"),), RECEIPT, "a correctly signed MeteringReceiptReq (AC) is accepted"),
    ("ISO2-AC-PNC-bad-receipt", "ac", "MeteringReceiptReq", "bad-receipt", ("FAILED_MeteringSignatureNotValid",), (),
     RECEIPT, "a MeteringReceiptReq (AC) with a broken signature is refused with FAILED_MeteringSignatureNotValid"),
)


AUTH20 = "ISO 15118-20 AuthorizationReq PnC_AReqAuthorizationMode / AuthorizationRes"
METERING20 = "ISO 15118-20 MeteringConfirmationReq (Header Signature over SignedMeteringData)"
# ISO 15118-20 DC: the AuthorizationRes codes of the -20 schema (WARNING_* refuse the contract: the EV may try its
# next one; a charger may report a changed chain as a signature error when it checks the signature first)
ROWS20: tuple[tuple[str, str, str, str | None, tuple[str, ...], tuple[Check, ...], str, str], ...] = (
    ("ISO20-DC-PNC-RES-Authorization", "dc", "AuthorizationReq", None, ("OK",),
     (Check("EVSEProcessing", "in", ("Finished", "Ongoing", "Ongoing_WaitingForCustomerInteraction")),), AUTH20,
     "a contract chain and signature over the issued GenChallenge are accepted"),
    ("ISO20-DC-PNC-expired-chain", "dc", "AuthorizationReq", "expired-chain",
     ("WARNING_CertificateExpired", "FAILED_CertificateExpired"), (), AUTH20,
     "an expired contract certificate (trusted MO Sub-CA, signed with its key) is refused as expired"),
    ("ISO20-DC-PNC-untrusted-chain", "dc", "AuthorizationReq", "untrusted-chain",
     ("WARNING_CertificateValidationError", "WARNING_NoCertificateAvailable",
      "FAILED_CertChainError"), (), AUTH20,
     "a contract chain to an unknown MO root (signed with its key) is refused"),
    ("ISO20-DC-PNC-old-challenge", "dc", "AuthorizationReq", "old-challenge",
     ("WARNING_ChallengeInvalid", "FAILED_ChallengeInvalid"), (), AUTH20,
     "PnC_AReqAuthorizationMode correctly signed over a GenChallenge of an earlier session (a replay) is refused"),
    ("ISO20-DC-PNC-bad-signature", "dc", "AuthorizationReq", "bad-signature", ("FAILED_SignatureError",), (),
     AUTH20, "PnC_AReqAuthorizationMode with a broken signature is refused with FAILED_SignatureError"),
    ("ISO20-DC-PNC-bad-receipt", "dc", "MeteringConfirmationReq", "bad-receipt",
     ("FAILED_MeteringSignatureNotValid",), (), METERING20,
     "a MeteringConfirmationReq with a broken signature is refused with FAILED_MeteringSignatureNotValid"),
)


INSTALL = "ISO 15118-2 CertificateInstallationReq/Res"


def cases() -> list[Case]:
    pre = Precondition("iso2", "CertificateInstallationReq", energy="dc", auth="pnc")
    out = [
        Case("ISO2-DC-PNC-CertificateInstallation", "ISO 15118-2 DC Plug & Charge: a valid CertificateInstallationReq "
             "is answered OK with a contract the EV decrypts and stores (it goes on to PaymentDetailsReq)", "pnc",
             ("iso2",), (INSTALL,), Phase.SESSION, pre, Stimulus(), Expect(ExpectKind.PROGRESS, "PaymentDetailsReq")),
        Case("ISO2-DC-PNC-CertificateInstallation-bad-signature", "ISO 15118-2 DC Plug & Charge: a "
             "CertificateInstallationReq with a broken signature is refused with FAILED_SignatureError", "pnc",
             ("iso2",), (INSTALL,), Phase.SESSION, pre, Stimulus(StimulusKind.CONTRACT, value="bad-signature"),
             Expect(ExpectKind.RESPONSE, "CertificateInstallationRes", ("FAILED_SignatureError",))),
    ]
    for rows, protocol, title in ((ROWS, "iso2", "ISO 15118-2"), (ROWS20, "iso20-dc", "ISO 15118-20")):
        for ident, energy, request, deviation, codes, checks, requirement, what in rows:
            stimulus = Stimulus() if deviation is None else Stimulus(StimulusKind.CONTRACT, value=deviation)
            out.append(Case(ident, f"{title} {energy.upper()} Plug & Charge: {what}", "pnc", (protocol,),
                            (requirement,), Phase.SESSION, Precondition(protocol, request, energy=energy, auth="pnc"),
                            stimulus, Expect(ExpectKind.RESPONSE, request[:-3] + "Res", codes, checks)))
    return out
