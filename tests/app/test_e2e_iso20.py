"""ISO 15118-20 under the daemon (issue 7 in `evcc run`): ``protocols = ["iso20-dc"]``, Plug & Charge over TLS 1.3
with mutual authentication. The vehicle certificate's key is generated in the SoftHSM2 token and used through
OpenSSL's pkcs11-provider; the -20 DC SECC simulator requires the vehicle certificate (OEM root) and checks the
contract chain and the signature over PnC_AReqAuthorizationMode. The contract tried first follows the D-Bus
priorities: after a swap over D-Bus the next session authorises with the other contract, as the simulator sees
it. D-Bus Session.Protocol names the configured protocol. (The SECC's context has CERT_REQUIRED: a session that
reaches it at all presented the vehicle certificate.)"""

from __future__ import annotations

import signal

from evcc.bench.secc.iso20_responder import Iso20Secc
from evcc.hmi.names import SessionState

from .conftest import DbusClient, state_changes
from .harness import Bench, DaemonProcess, until


def _done(s: Iso20Secc) -> bool:
    return bool(s.record.received) and s.record.received[-1] == "SessionStopReq"


def test_iso20_dc_pnc_over_tls13_follows_the_dbus_priorities(bench20: Bench) -> None:
    first, second = bench20.emaids["contract_1"], bench20.emaids["contract_2"]
    client = DbusClient.connect(bench20.peer, bench20.bus_address)
    daemon = DaemonProcess.start(bench20, bench20.config(restart_delay_s=1.0), "iso20")
    try:
        daemon.notify.wait_for("READY=1")
        listed = client.contracts()
        assert [(emaid, prio) for _, emaid, prio in listed] == [(first, 2), (second, 1)]
        until(lambda: any(_done(s) for s in list(bench20.sessions20)), 30.0, "a first -20 session", poll=0.05)
        before = next(s for s in list(bench20.sessions20) if _done(s))
        r = before.record
        assert r.errors == [] and r.refusals == [], (r.errors, r.refusals)
        assert r.authorization_service == "PnC" and r.emaids_authorized == [first]
        assert r.selected_service == "DC" and "DC_ChargeLoopReq" in r.received
        assert client.session("Protocol") == "iso20-dc"
        states = [new for _, new, _ in state_changes(client)]
        assert SessionState.CABLE_CHECK in states and SessionState.CHARGING in states, states

        client.set_priorities([listed[1][0], listed[0][0]])
        seen = len(bench20.sessions20)
        until(lambda: any(_done(s) for s in list(bench20.sessions20)[seen:]), 30.0, "a -20 session after the swap",
              poll=0.05)
        after = next(s for s in list(bench20.sessions20)[seen:] if _done(s))
        assert after.record.emaids_authorized == [second] and after.record.errors == []

        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, daemon.output()
        assert "Traceback" not in daemon.output()
    finally:
        daemon.stop()
        client.close()
        print(daemon.output()[-4000:])  # shown by pytest when the test fails
        print([(s.record.received[-3:], s.record.errors) for s in bench20.sessions20[-2:]])
