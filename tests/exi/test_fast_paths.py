"""The fast paths of the Python face (issue 17): instances the decoder makes without `__init__`, the native
`exi.decode`/`exi.encode` entry points with their fall-back to the Python functions, and the field vectors an
encoding reuses. Each must behave exactly like the plain path it replaces."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evcc import _exi, exi
from evcc.exi import ExiError, Message, iso2, iso20_dc, sap

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import exi_bench  # noqa: E402


def _fields(value: object) -> list[tuple[str, type]]:
    """(path, type) of every item of a message tree, in order."""
    out: list[tuple[str, type]] = []

    def walk(v: object, path: str) -> None:
        out.append((path, type(v)))
        if isinstance(v, Message):
            for name, item in zip(v._fields, v):
                walk(item, f"{path}/{name}")
        elif isinstance(v, list):
            for i, item in enumerate(v):
                walk(item, f"{path}[{i}]")

    walk(value, "")
    return out


@pytest.mark.parametrize("index", range(len(exi_bench.messages())))
def test_decoded_instances_equal_user_built_ones_with_identical_types(index: int) -> None:
    name, grammar, msg = exi_bench.messages()[index]
    back = exi.decode(grammar, exi.encode(msg))  # type: ignore[arg-type]
    assert back == msg, name
    assert _fields(back) == _fields(msg), name
    assert repr(back) == repr(msg)
    assert type(back) is type(msg) and len(back) == len(msg)  # type: ignore[arg-type]


def test_decoded_instances_are_ordinary_mutable_messages() -> None:
    _, grammar, msg = exi_bench.messages()[1]
    back = exi.decode(grammar, exi.encode(msg))  # type: ignore[arg-type]
    back.Body.CurrentDemandReq.EVTargetCurrent.Value = 121
    assert back != msg
    assert exi.decode(grammar, exi.encode(back)).Body.CurrentDemandReq.EVTargetCurrent.Value == 121
    back.Body.CurrentDemandReq.EVTargetCurrent.Value = 120
    assert back == msg and back.to_dict() == msg.to_dict()  # type: ignore[attr-defined]


def test_user_construction_still_validates_its_keywords() -> None:
    with pytest.raises(TypeError):
        iso2.PhysicalValueType(Multiplier=0, Unit="A")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        iso2.PhysicalValueType(0, "A", 1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        iso2.PhysicalValueType(Multiplier=0, Unit="A", Value=1, Nonsense=2)  # type: ignore[call-arg]


def test_entry_points_are_native_and_keep_their_keywords() -> None:
    _, grammar, msg = exi_bench.messages()[2]
    data = exi.encode(msg)  # type: ignore[arg-type]
    assert exi.decode(grammar=grammar, data=data) == msg
    assert exi.encode(message=msg) == data  # type: ignore[arg-type]
    assert exi.encode(msg, None) == data  # type: ignore[arg-type]
    assert exi.encode(msg, "DC_ChargeLoopReq") == data  # type: ignore[arg-type]  # element= goes the Python way


def test_errors_of_the_native_entry_points_are_the_documented_ones() -> None:
    with pytest.raises(ExiError, match="unknown grammar 'iso3'"):
        exi.decode("iso3", b"\x80")
    with pytest.raises(ExiError, match="expected a generated message object, got dict"):
        exi.encode({})  # type: ignore[arg-type]
    with pytest.raises(ExiError, match="BodyType is not the type of any global element"):
        exi.encode(iso2.BodyType())
    with pytest.raises(ExiError, match="schema set xmldsig has no document grammar"):
        exi.encode(exi.xmldsig.SignatureValueType(value=b"\x01"))
    with pytest.raises(ExiError):
        exi.decode("iso20-dc", b"\x80\x34\xff")
    with pytest.raises(TypeError):
        exi.decode("iso2", "not bytes")  # type: ignore[arg-type]


def test_a_subclass_of_a_generated_class_is_not_taken_for_it() -> None:
    class Mine(sap.supportedAppProtocolReq):
        __slots__ = ()

    req = Mine(AppProtocol=[sap.AppProtocolType(ProtocolNamespace="urn:x", VersionNumberMajor=2, VersionNumberMinor=0,
                                                SchemaID=1, Priority=1)])
    with pytest.raises(ExiError, match="Mine is not the type of any global element"):
        exi.encode(req)
    assert exi.decode("sap", exi.encode(req, "supportedAppProtocolReq")) == sap.supportedAppProtocolReq(
        AppProtocol=list(req.AppProtocol))


def test_codec_refuses_classes_it_could_not_build_without_init() -> None:
    classes = list(exi.schema_module("sap").CLASSES)
    classes[0] = dict  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="not a list subclass"):
        _exi.Codec("sap", classes, ExiError)


def test_reused_field_vectors_leave_no_trace_between_encodings() -> None:
    # After an encoding (and after a failed one) the next encodes exactly what a first encoding gives.
    msgs = exi_bench.messages()
    first = {name: exi.encode(m) for name, _, m in msgs}  # type: ignore[arg-type]
    bad = iso2.V2G_Message(Header=iso2.MessageHeaderType(SessionID=bytes(8)),
                           Body=iso2.BodyType(CurrentDemandReq=exi_bench.messages()[1][2].Body.CurrentDemandReq))  # type: ignore[attr-defined]
    bad.Body.CurrentDemandReq.EVTargetVoltage = iso2.PhysicalValueType(Multiplier=0, Unit="V", Value="x")
    for _ in range(3):
        for name, _, m in reversed(msgs):
            assert exi.encode(m) == first[name]  # type: ignore[arg-type]
        with pytest.raises(ExiError, match="EVTargetVoltage/Value"):
            exi.encode(bad)
    empty = iso20_dc.DC_ChargeLoopReqType(
        Header=iso20_dc.MessageHeaderType(SessionID=bytes(8), TimeStamp=0), MeterInfoRequested=True,
        EVPresentVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=0),
        Scheduled_DC_CLReqControlMode=iso20_dc.Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=iso20_dc.RationalNumberType(Exponent=0, Value=0),
            EVTargetVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=0)))
    assert exi.decode("iso20-dc", exi.encode(empty)) == empty


def test_core_time_runs_the_core_and_rejects_what_it_cannot_time() -> None:
    """The benchmark hook (`_exi.core_time`) times real core decodes and encodes of the given bytes; it refuses an
    unknown grammar or side and bytes that do not decode instead of timing an error path."""
    _, grammar, msg = exi_bench.messages()[1]
    data = exi.encode(msg)
    assert _exi.core_time(grammar, data, "decode", 3) > 0.0
    assert _exi.core_time(grammar, data, "encode", 3) > 0.0
    with pytest.raises(ValueError, match="no grammar"):
        _exi.core_time("iso-nine", data, "decode", 1)
    with pytest.raises(ValueError, match="side is decode or encode"):
        _exi.core_time(grammar, data, "both", 1)
    with pytest.raises(ValueError, match="does not decode"):
        _exi.core_time(grammar, data[:3], "decode", 1)
