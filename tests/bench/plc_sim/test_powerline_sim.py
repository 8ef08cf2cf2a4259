"""The simulated GreenPHY powerline (bench): what crosses the line, the modems' answers (SLAC.md §5)."""

from __future__ import annotations

from evcc.bench.plc_sim.powerline import ModemPort, Powerline
from evcc.plc import modem_mme as mm
from evcc.plc import slac_mme as sm
from evcc.plc.frames import EmptyVendorReq, decode_frame, encode_frame
from evcc.plc.mme import BROADCAST, LOCALCAST, MMType, Mode, mmtype
from evcc.plc.modem import set_key_frame

EV = bytes.fromhex("020000000001")
EVSE = bytes.fromhex("020000000002")
IPV6 = bytes.fromhex("333300000001") + EV + b"\x86\xdd" + bytes(60)


def line() -> Powerline:
    return Powerline([
        ModemPort("ev", bytes.fromhex("00b052000001"), restart_s=1.0),
        ModemPort("evse", bytes.fromhex("00b052000002"), evse=True, attenuation_db=31, restart_s=1.0),
    ])


def test_slac_frames_cross_without_common_nmk_ip_does_not() -> None:
    pl = line()
    parm = encode_frame(BROADCAST, EV, mmtype(MMType.CM_SLAC_PARM, Mode.REQ), sm.CmSlacParmReq(b"R" * 8))
    assert pl.receive(0, parm, 0.0) == [(1, parm)]
    assert pl.receive(0, IPV6, 0.0) == []


def test_ip_crosses_once_nmks_match_and_modems_are_back() -> None:
    pl = line()
    for port in (0, 1):
        out = pl.receive(port, set_key_frame(EV if port == 0 else EVSE, b"\x42" * 16), 0.0)
        _mme, cnf = decode_frame(out[0][1])
        assert isinstance(cnf, mm.CmSetKeyCnf) and cnf.result == 1 and out[0][0] == port
    assert pl.receive(0, IPV6, 0.5) == []  # both modems restarting
    assert pl.receive(0, IPV6, 1.01) == [(1, IPV6)]


def test_mnbc_sound_adds_attenuation_profile_on_the_evse_side() -> None:
    pl = line()
    pl.receive(1, set_key_frame(EVSE, b"\x01" * 16), -5.0)  # EVSE host MAC learned
    ind = sm.CmMnbcSoundInd(b"R" * 8, 9, bytes(16))
    sound = encode_frame(BROADCAST, EV, mmtype(MMType.CM_MNBC_SOUND, Mode.IND), ind)
    out = pl.receive(0, sound, 0.0)
    assert out[0] == (1, sound)
    port, profile = out[1]
    assert port == 1 and len(profile) == 85 and profile[0:6] == EVSE
    _mme, msg = decode_frame(profile)
    assert isinstance(msg, sm.CmAttenProfileInd) and msg.pev_mac == EV and msg.aag == (31,) * 58


def test_local_requests_answered_not_forwarded() -> None:
    pl = line()
    req = encode_frame(LOCALCAST, EV, mmtype(MMType.VS_LINK_STATUS, Mode.REQ), EmptyVendorReq())
    (port, frame), = pl.receive(0, req, 0.0)
    _mme, msg = decode_frame(frame)
    assert port == 0 and isinstance(msg, mm.VsLinkStatusCnf) and not msg.linked
    pl.ports[0].nmk = pl.ports[1].nmk = b"\x05" * 16
    (_port, frame), = pl.receive(0, req, 0.0)
    assert decode_frame(frame)[1] == mm.VsLinkStatusCnf(1)


def test_modem_that_never_confirms_and_garbage() -> None:
    pl = line()
    pl.ports[0].confirm_set_key = False
    assert pl.receive(0, set_key_frame(EV, b"\x01" * 16), 0.0) == []
    assert pl.receive(0, b"\x00" * 5, 0.0) == []
    assert pl.receive(0, bytes(12) + b"\x88\xe1\x09" + bytes(45), 0.0) == []
