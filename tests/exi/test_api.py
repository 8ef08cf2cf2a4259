"""The Python face of the codec: typed construction, equality, repr, errors that name path and offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcc import exi
from evcc.exi import ExiError, iso2, iso20_dc, sap

ROOT = Path(__file__).resolve().parents[2]
SESSION_SETUP_DIN = bytes.fromhex("809a02000000000000000011d01a121dc983cd6000")


def _session_setup() -> iso2.V2G_Message:
    return iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=bytes(8)),
        Body=iso2.BodyType(SessionSetupReq=iso2.SessionSetupReqType(EVCCID=bytes.fromhex("0A0B0C0D0E0F"))),
    )


def test_build_encode_decode_equal() -> None:
    msg = _session_setup()
    data = exi.encode(msg)
    assert data[0] == 0x80
    back = exi.decode("iso2", data)
    assert back == msg
    assert back.Body.SessionSetupReq.EVCCID == bytes.fromhex("0A0B0C0D0E0F")
    assert back.Body.SessionStopReq is None


def test_equality_and_repr() -> None:
    a, b = _session_setup(), _session_setup()
    assert a == b and not (a != b)
    b.Header.SessionID = b"\1" * 8
    assert a != b
    assert a != [a.Header, a.Body]  # not equal to a plain list
    text = repr(a)
    assert text.startswith("V2G_Message(Header=MessageHeaderType(SessionID=")
    assert "SessionStopReq" not in text  # absent fields are left out


def test_required_keywords_are_enforced_by_the_constructor() -> None:
    with pytest.raises(TypeError):
        iso2.SessionSetupReqType()  # type: ignore[call-arg]


def test_enumerations_by_name_and_integers() -> None:
    msg = iso2.V2G_Message(
        Header=iso2.MessageHeaderType(SessionID=bytes(8)),
        Body=iso2.BodyType(ServiceDiscoveryReq=iso2.ServiceDiscoveryReqType(ServiceCategory="EVCharging")),
    )
    assert exi.decode("iso2", exi.encode(msg)).Body.ServiceDiscoveryReq.ServiceCategory == "EVCharging"
    msg.Body.ServiceDiscoveryReq.ServiceCategory = "NoSuchCategory"
    with pytest.raises(ExiError, match="NoSuchCategory.*is not one of"):
        exi.encode(msg)


def test_wrong_types_name_the_path() -> None:
    msg = _session_setup()
    msg.Body.SessionSetupReq.EVCCID = "not bytes"  # type: ignore[assignment]
    with pytest.raises(ExiError) as info:
        exi.encode(msg)
    assert "/V2G_Message/Body/SessionSetupReq/EVCCID" in str(info.value)
    assert info.value.path == "/V2G_Message/Body/SessionSetupReq/EVCCID"


def test_missing_required_element_is_named() -> None:
    msg = _session_setup()
    msg.Header = None  # type: ignore[assignment]
    with pytest.raises(ExiError, match="missing required Header"):
        exi.encode(msg)


def test_decode_errors_carry_offsets() -> None:
    with pytest.raises(ExiError) as info:
        exi.decode("din", SESSION_SETUP_DIN[:8])
    err = info.value
    assert isinstance(err, ValueError)
    assert err.path == "/V2G_Message/Header/SessionID"
    assert err.bit == 18 and "byte 2" in str(err)
    with pytest.raises(ExiError, match="requires exactly 0x80"):
        exi.decode("din", b"\x81" + SESSION_SETUP_DIN[1:])
    with pytest.raises(ExiError, match="unknown grammar"):
        exi.decode("iso3", SESSION_SETUP_DIN)


def test_trailing_zero_bytes_are_tolerated_but_not_garbage() -> None:
    assert exi.decode("din", SESSION_SETUP_DIN + b"\0\0") == exi.decode("din", SESSION_SETUP_DIN)
    with pytest.raises(ExiError, match="non-zero bytes after the end"):
        exi.decode("din", SESSION_SETUP_DIN + b"\x01")


def test_repeated_elements_have_no_cap_below_the_schema() -> None:
    protos = [sap.AppProtocolType(ProtocolNamespace=f"urn:test:{i}", VersionNumberMajor=2, VersionNumberMinor=0,
                                  SchemaID=i, Priority=i + 1) for i in range(20)]
    req = sap.supportedAppProtocolReq(AppProtocol=protos)
    assert exi.decode("sap", exi.encode(req)) == req
    req.AppProtocol.append(protos[0])  # the schema allows 20
    with pytest.raises(ExiError, match="AppProtocol has 21 value"):
        exi.encode(req)


def test_big_integers_where_the_schema_allows() -> None:
    serial = 2**159 + 12345  # X509SerialNumber is xs:integer
    info = iso2.X509IssuerSerialType(X509IssuerName="CN=test", X509SerialNumber=serial)
    frag = exi.encode_fragment(info, element="RootCertificateID")
    back = exi.decode_fragment("iso2-fragment", frag)
    assert back.name == "RootCertificateID" and back.value.X509SerialNumber == serial
    info.X509SerialNumber = -serial
    assert exi.decode_fragment("iso2-fragment", exi.encode_fragment(info, element="RootCertificateID")).value == info


def test_empty_strings_and_empty_elements_roundtrip() -> None:
    info = iso2.X509IssuerSerialType(X509IssuerName="", X509SerialNumber=0)
    frag = exi.encode_fragment(info, element="RootCertificateID")
    assert exi.decode_fragment("iso2-fragment", frag).value == info
    res = iso20_dc.DC_ChargeLoopResType
    assert res is not None


def test_json_view_both_ways() -> None:
    text = exi.to_json("din", SESSION_SETUP_DIN)
    assert text == '{"V2G_Message":{"Header":{"SessionID":"0000000000000000"},"Body":{"SessionSetupReq":{"EVCCID":"84877260F358"}}}}'
    assert exi.from_json("din", text) == SESSION_SETUP_DIN
    with pytest.raises(ExiError, match="NotAField is not a member of"):
        exi.from_json("din", '{"V2G_Message":{"NotAField":1}}')


def test_ambiguous_fragment_element_must_be_named() -> None:
    chain = iso2.CertificateChainType(Certificate=b"\x30\x00")
    with pytest.raises(ExiError, match="several fragment elements"):
        exi.encode_fragment(chain)
    data = exi.encode_fragment(chain, element="ContractSignatureCertChain")
    assert exi.decode_fragment("iso2-fragment", data) == ("ContractSignatureCertChain", chain)


def test_string_table_hits_are_bounded_from_python_too() -> None:
    """Fuzz finding F1 (issue 20): 20 kB of KeyName string-table hits used to become 112 MiB; now one ExiError."""
    data = (ROOT / "fuzz" / "regressions" / "exi-decode-iso2" / "alloc-80edfaef9836").read_bytes()
    with pytest.raises(ExiError, match=r"^string-table hits would produce more than \d+ characters .* at /KeyInfo/KeyName"):
        exi.decode("iso2", data)
