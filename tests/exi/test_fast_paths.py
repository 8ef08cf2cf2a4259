"""The fast paths of the Python face (issue 17): instances the decoder makes without `__init__`, the native
`exi.decode`/`exi.encode` entry points with their fall-back to the Python functions, and the field vectors an
encoding reuses. Each must behave exactly like the plain path it replaces."""

from __future__ import annotations

import enum
import functools
import gc
import struct
import sys
import tracemalloc
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


def _instances(value: object) -> list[Message]:
    """Every generated instance of a message tree."""
    out: list[Message] = []

    def walk(v: object) -> None:
        if isinstance(v, Message):
            out.append(v)
        if isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return out


@pytest.mark.parametrize("index", range(len(exi_bench.messages())))
def test_decoded_instances_hold_exactly_their_fields_and_stay_ordinary_lists(index: int) -> None:
    # The decoder allocates each instance's item array once, at its field count (not grown by appends).
    name, grammar, msg = exi_bench.messages()[index]
    back = exi.decode(grammar, exi.encode(msg))  # type: ignore[arg-type]
    found = _instances(back)
    assert len(found) > 1, name
    for obj in found:
        empty = type(obj).__new__(type(obj))
        assert sys.getsizeof(obj) == sys.getsizeof(empty) + len(obj) * struct.calcsize("P"), (name, type(obj))
        assert gc.is_tracked(obj) and list(gc.get_referents(obj)).count(None) <= len(obj)
    # and grow, shrink and compare like any list afterwards
    top = found[0]
    n = len(top)
    top.append("extra")
    top.extend(range(20))
    assert len(top) == n + 21 and top.pop() == 19
    del top[n:]
    assert top == msg


def test_decode_and_encode_keep_reference_counts_and_memory_flat() -> None:
    # What the preallocated instances, the in-place scalars and the registry's memo take must all be given back.
    _, grammar, msg = exi_bench.messages()[2]
    data = exi.encode(msg)  # type: ignore[arg-type]
    unit_or_none = [None, True, False]

    def run(n: int) -> None:
        for _ in range(n):
            exi.decode(grammar, data)
            exi.encode(msg)  # type: ignore[arg-type]

    run(2000)
    counts = [sys.getrefcount(o) for o in unit_or_none]
    tracemalloc.start()
    try:
        run(500)
        before = tracemalloc.get_traced_memory()[0]
        run(20000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(o) for o in unit_or_none] == counts
    assert grown < 64 * 1024, grown  # a leaked item array or int per call would be megabytes


def _charge_loop_req(**control: object) -> iso20_dc.DC_ChargeLoopReqType:
    return iso20_dc.DC_ChargeLoopReqType(
        Header=iso20_dc.MessageHeaderType(SessionID=bytes(range(8)), TimeStamp=1718607534), MeterInfoRequested=False,
        EVPresentVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=400),
        Scheduled_DC_CLReqControlMode=iso20_dc.Scheduled_DC_CLReqControlModeType(
            EVTargetCurrent=iso20_dc.RationalNumberType(Exponent=0, Value=20),
            EVTargetVoltage=iso20_dc.RationalNumberType(Exponent=0, Value=400)), **control)


def test_scalars_written_in_place_accept_exactly_what_the_checked_conversion_accepts() -> None:
    # The reused tree holds exact ints, bools and bytes from the previous encoding; what follows must be converted
    # (or refused) exactly as on a first encoding, and the encoding after it must not see any of it.
    class Level(enum.IntEnum):
        HIGH = 400

    class Raw(bytes):
        pass

    plain = _charge_loop_req()
    expected = exi.encode(plain)
    variants: list[tuple[str, object]] = [
        ("EVPresentVoltage.Value", Level.HIGH),                    # an int subclass: its int value
        ("Header.SessionID", bytearray(range(8))),                 # bytes-like
        ("Header.SessionID", Raw(bytes(range(8)))),                # a bytes subclass
        ("Header.TimeStamp", 1718607534 + 0 * (1 << 70)),          # an int that is not the same object
    ]
    for path, value in variants:
        exi.encode(plain)
        m = _charge_loop_req()
        owner_path, _, attr = path.rpartition(".")
        setattr(functools.reduce(getattr, owner_path.split("."), m), attr, value)
        assert exi.encode(m) == expected, path
        assert exi.encode(plain) == expected, path
    wide = _charge_loop_req()
    wide.Header.TimeStamp = (1 << 64) - 1                       # unsignedLong beyond int64: the wide path
    assert exi.decode("iso20-dc", exi.encode(wide)).Header.TimeStamp == (1 << 64) - 1
    for path, value, error in [("EVPresentVoltage.Value", True, "expected an int, got bool"),
                               ("MeterInfoRequested", 1, "expected a bool, got int"),
                               ("Header.SessionID", "x" * 8, "expected bytes, got str")]:
        exi.encode(plain)
        m = _charge_loop_req()
        owner_path, _, attr = path.rpartition(".")
        owner = functools.reduce(getattr, owner_path.split("."), m) if owner_path else m
        setattr(owner, attr, value)
        with pytest.raises(ExiError, match=error):
            exi.encode(m)
        assert exi.encode(plain) == expected, path


def test_enumeration_values_need_not_be_the_interned_strings() -> None:
    _, _, msg = exi_bench.messages()[1]
    data = exi.encode(msg)  # type: ignore[arg-type]
    twin = exi.decode("iso2", data)
    status = twin.Body.CurrentDemandReq.DC_EVStatus
    code = status.EVErrorCode
    status.EVErrorCode = "".join(list(code))  # equal, another object
    assert status.EVErrorCode is not code and status.EVErrorCode == code
    assert exi.encode(twin) == data


def test_the_registry_memo_follows_the_registry() -> None:
    # The registry remembers its last grammar and class by identity; registering again must not leave a stale entry,
    # and an equal key that is another object finds the same entry through the dict.
    sap_codec = _exi.Codec("sap", exi.schema_module("sap").CLASSES, ExiError)
    din_codec = _exi.Codec("din", exi.schema_module("din").CLASSES, ExiError)
    missing: list[object] = []
    reg = _exi.Registry(lambda g: missing.append(g), lambda m, e: missing.append(m))
    req = sap.supportedAppProtocolReq(AppProtocol=[sap.AppProtocolType(
        ProtocolNamespace="urn:x", VersionNumberMajor=2, VersionNumberMinor=0, SchemaID=1, Priority=1)])
    data = exi.encode(req)
    key = "".join(["g", "x"])
    reg.add_grammar(key, sap_codec, False)
    assert reg.decode("gx", data) == req and reg.decode(key, data) == req  # the memo now holds `key`
    reg.add_grammar(key, din_codec, False)
    with pytest.raises(ExiError):
        reg.decode(key, data)  # now din's grammar: the sap document is not a din one
    reg.add_codec(sap_codec, True)
    assert reg.encode(req) == data

    class Entry(sap.AppProtocolType):
        __slots__ = ()

    classes = [Entry if c is sap.AppProtocolType else c for c in exi.schema_module("sap").CLASSES]
    reg.add_codec(_exi.Codec("sap", classes, ExiError), True)  # the request class now encodes with Entry entries
    with pytest.raises(ExiError, match="expected a AppProtocolType object"):
        reg.encode(req)
    assert missing == []


@pytest.mark.parametrize(("module", "element"), [("iso20_dc", "DC_ChargeLoopReq"), ("iso2", "V2G_Message")])
def test_a_reused_value_tree_encodes_every_shape_as_a_fresh_one(module: str, element: str) -> None:
    # One codec encodes a run of random values of one element (fields coming and going, nodes of other types in
    # the same slot, lists growing and shrinking); each must give the bytes of a codec that never encoded before,
    # also right after a value the encoder refused.
    from evcc.exi._api import schema_module

    classes = schema_module(module).CLASSES
    reused = _exi.Codec(module, classes, ExiError)
    samples = [reused.sample(element, seed) for seed in range(150)]
    assert len({_exi.Codec(module, classes, ExiError).encode(element, s) for s in samples[:20]}) > 10
    for k, sample in enumerate(samples):
        fresh = _exi.Codec(module, classes, ExiError).encode(element, sample)
        assert reused.encode(element, sample) == fresh
        if k % 10 == 0:
            with pytest.raises(ExiError, match="expected"):
                reused.encode(element, _spoilt(sample))
            assert reused.encode(element, sample) == fresh


def _spoilt(message: Message) -> Message:
    """A deep copy of `message` whose deepest message's last present field holds an object no field accepts
    (the encoder fails after it has updated the fields before it)."""
    import copy

    bad = copy.deepcopy(message)
    node: Message = bad
    while True:
        inner = [v for v in node if isinstance(v, Message)]
        if not inner:
            break
        node = inner[0]
    last = max(i for i, v in enumerate(node) if v is not None)
    list.__setitem__(node, last, object())
    return bad
