"""EV SLAC machine (ISO 15118-3 Annex A) paired in memory with the EVSE simulator on the sans-IO powerline,
with a virtual clock so the standard's long timers are checked exactly and fast."""

from __future__ import annotations

import dataclasses

import pytest
from slac_harness import EV_MAC, Pairing, evse_mac

from evcc.errors import ConfigError
from evcc.plc import slac_mme as sm
from evcc.plc.frames import decode_frame, encode_frame
from evcc.plc.mme import BROADCAST, MMType, Mode, mmtype
from evcc.slac.config import SlacConfig
from evcc.slac.events import Failed, Matched, Phase
from evcc.slac.machine import PARM_REQ, START_ATTEN_IND, MNBC_IND, State
from evcc.slac.timers import SlacTimers

T = SlacTimers()


def sent_types(p: Pairing, port: int = 0) -> list[tuple[int, float]]:
    out = []
    for index, frame, now in p.sent:
        if index == port and frame[12:14] == b"\x88\xe1":
            out.append((int.from_bytes(frame[15:17], "little"), now))
    return out


def test_match_single_evse_sets_evse_key_and_link() -> None:
    p = Pairing([25])
    p.plug_in_fresh()
    event = p.run()
    assert isinstance(event, Matched), event
    assert event.evse_mac == evse_mac(1)
    assert event.nmk == p.evses[0].nmk and event.nid == p.evses[0].nid
    assert event.attenuation_db == 25.0
    assert p.line.ports[0].nmk == p.evses[0].nmk
    assert p.ev.state is State.MATCHED


def test_sounding_counts_sizes_and_intervals() -> None:
    """3 START_ATTEN_CHAR.IND then 10 MNBC_SOUND.IND, TP_EV_batch_msg_interval apart, TIME_OUT = 6."""
    p = Pairing([25])
    p.plug_in_fresh()
    p.run()
    sounds = [(t, now) for t, now in sent_types(p) if t in (START_ATTEN_IND, MNBC_IND)]
    assert [t for t, _ in sounds] == [START_ATTEN_IND] * 3 + [MNBC_IND] * 10
    gaps = [b[1] - a[1] for a, b in zip(sounds, sounds[1:])]
    assert all(abs(g - T.TP_EV_batch_msg_interval) < 1e-9 for g in gaps)
    frames = [f for i, f, _ in p.sent if i == 0 and f[15:17] == START_ATTEN_IND.to_bytes(2, "little")]
    _mme, ind = decode_frame(frames[0])
    assert isinstance(ind, sm.CmStartAttenCharInd) and ind.time_out == 6 and ind.num_sounds == 10
    mnbc = [f for i, f, _ in p.sent if i == 0 and f[15:17] == MNBC_IND.to_bytes(2, "little")]
    assert {len(f) for f in mnbc} == {71}
    assert [decode_frame(f)[1].cnt for f in mnbc] == list(range(9, -1, -1))  # type: ignore[union-attr]


def test_two_evses_lower_attenuation_wins() -> None:
    p = Pairing([35, 22])
    p.plug_in_fresh()
    event = p.run()
    assert isinstance(event, Matched) and event.evse_mac == evse_mac(2) and event.attenuation_db == 22.0
    assert p.line.ports[0].nmk == p.evses[1].nmk != p.evses[0].nmk


def test_threshold_rejects_far_evse() -> None:
    p = Pairing([50], SlacConfig(EV_MAC, max_attenuation_db=40.0))
    p.plug_in_fresh()
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.SELECTION


@pytest.mark.parametrize("retries", [2, 100])
def test_no_evse_fails_after_the_standard_time(retries: int) -> None:
    """(1 + retries) CM_SLAC_PARM.REQ, TT_match_response apart, then failure in phase PARM; not earlier."""
    p = Pairing([], SlacConfig(EV_MAC, parm_retries=retries))
    p.plug_in_fresh()
    start = p.bench.now
    event = p.run(limit=100.0)
    assert isinstance(event, Failed) and event.phase is Phase.PARM
    reqs = [now for t, now in sent_types(p) if t == PARM_REQ]
    assert len(reqs) == retries + 1
    assert p.bench.now - start == pytest.approx((retries + 1) * T.TT_match_response)


def test_late_evse_answers_a_retry() -> None:
    """An EVSE that ignores the first CM_SLAC_PARM.REQs is still matched through the field retries."""
    p = Pairing([25], SlacConfig(EV_MAC, parm_retries=10))
    p.evses[0].config = dataclasses.replace(p.evses[0].config, answer_parm=False)
    p.plug_in_fresh()
    p.bench.run_until(lambda: False, p.bench.now + 0.5)
    p.evses[0].config = dataclasses.replace(p.evses[0].config, answer_parm=True)
    assert isinstance(p.run(), Matched)


def test_atten_char_after_tt_ev_atten_results_is_not_a_candidate() -> None:
    p = Pairing([], SlacConfig(EV_MAC))
    p.plug_in_fresh()
    run_id = p.ev.run_id
    cnf = sm.CmSlacParmCnf(EV_MAC, run_id)
    p.bench.inject(0, encode_frame(EV_MAC, evse_mac(9), mmtype(MMType.CM_SLAC_PARM, Mode.CNF), cnf))
    ind = sm.CmAttenCharInd(EV_MAC, run_id, 10, (20,) * 58)
    late = p.bench.now + T.TT_EV_atten_results + 0.1
    p.bench.inject(0, encode_frame(EV_MAC, evse_mac(9), mmtype(MMType.CM_ATTEN_CHAR, Mode.IND), ind), at=late)
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.ATTEN_CHAR


def test_modem_never_confirms_key_fails_at_tt_match_join() -> None:
    p = Pairing([25])
    p.plug_in_fresh()
    p.line.ports[0].confirm_set_key = False
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.SET_KEY
    match_cnf_at = max(now for i, f, now in p.sent if i == 1 and f[15:17] == b"\x7d\x60")
    assert p.bench.now == pytest.approx(match_cnf_at + T.TT_match_join, abs=0.002)


@pytest.mark.parametrize("result", [0, 1])
def test_set_key_result_zero_and_qualcomm_one_accepted(result: int) -> None:
    p = Pairing([25])
    p.line.ports[0].set_key_result = result
    p.plug_in_fresh()
    assert isinstance(p.run(), Matched)


def test_modem_refusing_key_fails_in_set_key_phase() -> None:
    p = Pairing([25])
    p.plug_in_fresh()
    p.line.ports[0].set_key_result = 2
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.SET_KEY and "Result=2" in event.reason


def test_leave_with_unconfirmed_key_fails_in_leave_phase() -> None:
    p = Pairing([25])
    p.line.ports[0].confirm_set_key = False
    p.ev.plug_in(p.bench.now)
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.LEAVE


def test_no_link_within_tt_match_join() -> None:
    """The EVSE's modem loses the key after CM_SLAC_MATCH.CNF: no AVLN, the EV reports the LINK phase."""
    timers = dataclasses.replace(T, TT_match_join=2.0)
    p = Pairing([25], SlacConfig(EV_MAC, timers=timers))
    p.plug_in_fresh()
    p.bench.run_until(lambda: p.ev.state is State.WAIT_FOR_SET_KEY_CNF, p.bench.now + 5)
    joined_at = p.bench.now
    p.line.ports[1].nmk = b"\x55" * 16
    event = p.run()
    assert isinstance(event, Failed) and event.phase is Phase.LINK
    assert p.bench.now == pytest.approx(joined_at + 2.0, abs=0.002)


def test_neighbour_run_id_and_foreign_destination_are_dropped() -> None:
    p = Pairing([25])
    p.plug_in_fresh()
    other = b"NEIGHBOR"
    neighbour = encode_frame(BROADCAST, evse_mac(7), mmtype(MMType.CM_SLAC_PARM, Mode.CNF),
                             sm.CmSlacParmCnf(bytes.fromhex("020000000777"), other))
    foreign = encode_frame(bytes.fromhex("020000000777"), evse_mac(7), mmtype(MMType.CM_ATTEN_CHAR, Mode.IND),
                           sm.CmAttenCharInd(EV_MAC, p.ev.run_id, 10, (1,) * 58))
    for k in range(5):
        p.bench.inject(0, neighbour, at=p.bench.now + 0.001 * k)
        p.bench.inject(0, foreign, at=p.bench.now + 0.3 + 0.001 * k)
    event = p.run()
    assert isinstance(event, Matched) and event.evse_mac == evse_mac(1)
    drops = p.dropped()
    assert sum("RunID" in d for d in drops) >= 5 and sum("not this EV" in d for d in drops) >= 5


def test_match_cnf_for_another_mac_is_ignored() -> None:
    """A CM_SLAC_MATCH.CNF with another PEV_MAC (a neighbour's session) must not be taken."""
    p = Pairing([25])
    p.plug_in_fresh()
    p.bench.run_until(lambda: p.ev.state is State.WAIT_FOR_SLAC_MATCH_CNF, p.bench.now + 5)
    bogus = sm.CmSlacMatch(bytes.fromhex("020000000777"), evse_mac(1), p.ev.run_id, b"\x01" * 7, b"\x02" * 16)
    p.ev.receive_frame(encode_frame(EV_MAC, evse_mac(1), mmtype(MMType.CM_SLAC_MATCH, Mode.CNF), bogus),
                       p.bench.now)
    assert p.ev.state is State.WAIT_FOR_SLAC_MATCH_CNF
    assert any("not our match" in d for d in p.dropped())
    event = p.run()
    assert isinstance(event, Matched) and event.nmk == p.evses[0].nmk


def test_fresh_random_nmk_on_each_plug_in() -> None:
    """[V2G3-M09-17]: leaving sets a new random NMK; a second plug-in does not reuse the first."""
    p = Pairing([25])
    p.plug_in_fresh()
    first = p.line.ports[0].nmk
    assert isinstance(p.run(), Matched)
    p.leave()
    after_leave = p.line.ports[0].nmk
    assert after_leave not in (first, p.evses[0].nmk)
    p.events.clear()
    p.ev.plug_in(p.bench.now)  # key is fresh: no second leave, straight to CM_SLAC_PARM.REQ
    assert p.ev.state is State.WAIT_FOR_SLAC_PARM_CNF


def test_validate_runs_when_evses_are_close() -> None:
    p = Pairing([22, 23], SlacConfig(EV_MAC, validate=True))
    p.plug_in_fresh()
    event = p.run()
    assert isinstance(event, Matched) and event.evse_mac == evse_mac(1)
    assert any(f[15:17] == b"\x78\x60" for i, f, _ in p.sent if i == 0)


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="host_mac"):
        SlacConfig(b"\x00")
    with pytest.raises(ConfigError, match="parm_retries"):
        SlacConfig(EV_MAC, parm_retries=-1)
