"""Signature building blocks (EXI.md §3) against golden data and with real ECDSA keys."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from evcc import exi
from evcc.exi import iso2, iso20_common
from evcc.exi.signature import (
    ECDSA_SHA256,
    ECDSA_SHA512,
    SignatureError,
    digest,
    fragment_bytes,
    sign_elements,
    signed_info,
    signed_info_bytes,
    verify_signature,
)

DATA = Path(__file__).parent / "data"


# RISE-V2G signature-creation test data, correct namespace urn:iso:15118:2:2013:MsgBody (published SHA-256 values).
def test_rise_v2g_certificate_installation_digests() -> None:
    key = iso2.ContractSignatureEncryptedPrivateKeyType(Id="id2", value=bytes.fromhex(
        "1520AFFF79C2729744C3C0B90038A52063461BC0E29C8BBE029DF437C69AB7780399921A23D96FA77871E720B9D49430"))
    dh = iso2.DiffieHellmanPublickeyType(Id="id3", value=bytes.fromhex(
        "04EC801A167AA60762B8F648902BAFFC60EF13329A860F5D0B7D84A22CC8F00C05B998DA328C719DAF1139ABF6F21B8B27CC2"
        "01E9A4E3DDA6905B27C3B2831CF18"))
    emaid = iso2.EMAIDType(Id="id4", value="DEABCC123ABC56")
    chain_exi = bytes.fromhex((DATA / "rise_v2g_contract_chain.hex").read_text().strip())
    chain = exi.decode_fragment("iso2-fragment", chain_exi).value
    assert digest("iso2-fragment", "ContractSignatureCertChain", chain).hex().upper() == \
        "A993EA30EB05C7FC0FB96AF2D8FF0859D012380993D63DD833395D4A9D331A84"
    assert digest("iso2-fragment", "ContractSignatureEncryptedPrivateKey", key).hex().upper() == \
        "DC16ECAF420130C531A5B0C2BDCF31503ED7D84AEEB047AF1870EC48991B3A00"
    assert digest("iso2-fragment", "DHpublickey", dh).hex().upper() == \
        "C81FCBD160FE4A6162DD55ADED51A291DFCEEEA0D1CA52FC4C10EECAF1E5F536"
    # eMAID uses the relaxed ElementFragment grammar (EXI §8.5.3; cbexigen #60 got this wrong)
    assert fragment_bytes("iso2-fragment", "eMAID", emaid).hex().upper() == \
        "80EC0202B4B21A40041111505090D0CC4C8CD05090CD4DBD3D00"
    assert digest("iso2-fragment", "eMAID", emaid).hex().upper() == \
        "939AF54F14396EC0D827F753C896AC0762AE1E00ACAB57E19AF100243CDD5A6B"


def test_openv2g_signed_info_reproduced(vectors: list[dict[str, str]]) -> None:
    rows = {r["id"]: r for r in vectors}
    auth = exi.decode_fragment("iso2-fragment", bytes.fromhex(rows["123"]["hex"]))
    ref = digest("iso2-fragment", auth.name, auth.value)
    assert ref == hashlib.sha256(bytes.fromhex(rows["123"]["hex"])).digest()
    info = signed_info([(auth.value.Id, ref)])
    assert signed_info_bytes(info) == bytes.fromhex(rows["124"]["hex"])


def _p256_signer(key: ec.EllipticCurvePrivateKey, algo: hashes.HashAlgorithm):  # type: ignore[no-untyped-def]
    size = (key.curve.key_size + 7) // 8

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(algo)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def verify(data: bytes, sig: bytes) -> bool:
        r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        try:
            key.public_key().verify(encode_dss_signature(r, s), data, ec.ECDSA(algo))
        except InvalidSignature:
            return False
        return True

    return sign, verify


def _authorization_message(challenge: bytes) -> iso2.V2G_Message:
    return iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=bytes.fromhex("0102030405060708")),
        Body=iso2.BodyType(AuthorizationReq=iso2.AuthorizationReqType(Id="ID1", GenChallenge=challenge)),
    )


def test_sign_and_verify_authorization_req_p256() -> None:
    sign, verify = _p256_signer(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    msg = _authorization_message(bytes(range(16)))
    msg.Header.Signature = sign_elements("iso2-fragment", [("AuthorizationReq", msg.Body.AuthorizationReq)], sign)
    assert len(msg.Header.Signature.SignatureValue.value) == 64
    received = exi.decode("iso2", exi.encode(msg))  # the verifier works from decoded values
    assert verify_signature("iso2-fragment", received.Header.Signature, received, verify) == ["AuthorizationReq"]
    received.Body.AuthorizationReq.GenChallenge = bytes(16)
    with pytest.raises(SignatureError, match="digest mismatch for AuthorizationReq"):
        verify_signature("iso2-fragment", received.Header.Signature, received, verify)


def test_tampered_signature_value_and_foreign_references_are_rejected() -> None:
    sign, verify = _p256_signer(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    msg = _authorization_message(bytes(16))
    msg.Header.Signature = sign_elements("iso2-fragment", [("AuthorizationReq", msg.Body.AuthorizationReq)], sign)
    bad = bytearray(msg.Header.Signature.SignatureValue.value)
    bad[5] ^= 1
    msg.Header.Signature.SignatureValue.value = bytes(bad)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature("iso2-fragment", msg.Header.Signature, msg, verify)
    with pytest.raises(SignatureError, match="may not be signed here"):
        verify_signature("iso2-fragment", msg.Header.Signature, msg, verify, allowed=["eMAID"])
    msg.Header.Signature.SignedInfo.Reference[0].URI = "#nowhere"
    with pytest.raises(SignatureError, match="names no element"):
        verify_signature("iso2-fragment", msg.Header.Signature, msg, verify)


def test_iso20_p521_sha512_signature() -> None:
    sign, verify = _p256_signer(ec.generate_private_key(ec.SECP521R1()), hashes.SHA512())
    header = iso20_common.MessageHeaderType(SessionID=bytes(8), TimeStamp=1700000000)
    mode = iso20_common.PnC_AReqAuthorizationModeType(
        Id="pnc1", GenChallenge=bytes(range(16)),
        ContractCertificateChain=iso20_common.ContractCertificateChainType(
            Certificate=b"\x30\x03\x02\x01\x01", SubCertificates=iso20_common.SubCertificatesType(Certificate=[b"\x30\x00"])))
    sig = sign_elements("iso20-common-fragment", [("PnC_AReqAuthorizationMode", mode)], sign, ECDSA_SHA512)
    header.Signature = sig
    msg = iso20_common.AuthorizationReqType(Header=header, SelectedAuthorizationService="PnC",
                                            PnC_AReqAuthorizationMode=mode)
    received = exi.decode("iso20-common", exi.encode(msg))
    assert received == msg
    assert len(received.Header.Signature.SignatureValue.value) == 132
    assert verify_signature("iso20-common-fragment", received.Header.Signature, received, verify) == \
        ["PnC_AReqAuthorizationMode"]
    assert ECDSA_SHA512.digest(b"") == hashlib.sha512(b"").digest()
    assert ECDSA_SHA256.hash_name == "sha256"
