"""The daemon with SLAC end to end (issue 6 "the daemon wires plc, slac, session ..."): ``[slac] enabled = true``
on the EV end of the bench's simulated powerline (tests/app/powerline.py). The daemon matches with the EVSE's
SLAC simulator over raw HomePlug AV frames (ISO 15118-3), its modem joins the EVSE's network (same NMK), and
only then can SDP and TCP cross the powerline to the ISO 15118-2 SECC simulator; the session runs to
SessionStop. D-Bus shows the SLAC stage: Session.StateChanged goes Idle -> SLAC -> Setup -> ... -> Stopped."""

from __future__ import annotations

import signal

from evcc.hmi.names import SessionState

from .conftest import DbusClient, state_changes
from .harness import Bench, DaemonProcess, until
from .powerline import PowerlineLink


def test_slac_then_a_session_to_session_stop_under_the_daemon(slac_bench: Bench) -> None:
    link = slac_bench.link
    assert isinstance(link, PowerlineLink)
    client = DbusClient.connect(slac_bench.peer, slac_bench.bus_address)
    daemon = DaemonProcess.start(slac_bench, slac_bench.config(restart_delay_s=30.0), "slac")
    try:
        daemon.notify.wait_for("READY=1")
        assert not link.ev_joined() and link.ip_frames == 0  # nothing crosses before the match
        until(lambda: any(s.stopped for s in slac_bench.sessions_since(daemon.started)), 40.0,
              "a session after SLAC", poll=0.05)
        session = slac_bench.sessions_since(daemon.started)[0]
        assert session.secc.received[0] == "SessionSetupReq" and session.secc.received[-1] == "SessionStopReq"
        assert link.ev_joined() and link.ip_frames > 0
        until(lambda: client.session("State") == SessionState.STOPPED, 5.0, "Session.State Stopped")
        states = [new for _, new, _ in state_changes(client)]
        slac_at = states.index(SessionState.SLAC)
        assert states[slac_at + 1] == SessionState.SETUP, states
        assert SessionState.CHARGING in states[slac_at:] and states[-1] == SessionState.STOPPED, states
        assert "SLAC matched" in daemon.output()
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, daemon.output()
        assert "Traceback" not in daemon.output()
    finally:
        daemon.stop()
        client.close()
