"""Acceptance (issue 6): the daemon on a private bus, the battery model on udp_multicast CAN in a namespace, the
ISO 15118-2 SECC simulator on veth (direct link, no SLAC). A D-Bus client lists two contracts and swaps their
priority; the next session authorises with the new first contract, as the simulator sees it in
PaymentDetailsReq (the contract chain's eMAID) and AuthorizationReq (signed with that contract's key in the
token). sd_notify READY/WATCHDOG/STOPPING through a NOTIFY_SOCKET of the test."""

from __future__ import annotations

import re
import signal
import time

from .conftest import DbusClient
from .harness import Bench, DaemonProcess, until


def test_priority_swap_over_dbus_changes_the_contract_of_the_next_session(bench: Bench,
                                                                          dbus_client: DbusClient) -> None:
    first, second = bench.emaids["contract_1"], bench.emaids["contract_2"]
    daemon = DaemonProcess.start(bench, bench.config(restart_delay_s=1.0), "swap")
    try:
        ready = daemon.notify.wait_for("READY=1")
        assert ready - daemon.started < 10.0
        listed = dbus_client.contracts()
        assert [(emaid, prio) for _, emaid, prio in listed] == [(first, 2), (second, 1)]

        until(lambda: any(s.stopped for s in bench.sessions_since(daemon.started)), 20.0, "a first session")
        before = bench.sessions_since(daemon.started)[0]
        assert before.emaid == first and "AuthorizationReq" in before.secc.received
        assert before.pnc.refusals == []

        dbus_client.set_priorities([listed[1][0], listed[0][0]])
        swapped = time.monotonic()
        assert [(emaid, prio) for _, emaid, prio in dbus_client.contracts()] == [(second, 2), (first, 1)]

        def next_session_authorised() -> bool:
            return any(s.first("PaymentDetailsReq", swapped) and s.stopped for s in bench.sessions_since(swapped))
        until(next_session_authorised, 20.0, "a session after the swap")
        after = next(s for s in bench.sessions_since(swapped) if s.first("PaymentDetailsReq", swapped))
        assert after.emaid == second and after.pnc.refusals == [] and after.secc.errors == []
        assert after.secc.received.index("AuthorizationReq") > after.secc.received.index("PaymentDetailsReq")
        assert dbus_client.session("Protocol") == "iso2" and dbus_client.session("SoC") >= 75.0
        assert re.fullmatch(r"\d+\.\d (A|W) \((EV|EVSE maximum|schedule|minimum)\)",
                            str(dbus_client.session("Limit"))), dbus_client.session("Limit")  # issue 19
        assert any(m == "WATCHDOG=1" for _, m in daemon.notify.drain())

        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, daemon.output()
        daemon.notify.wait_for("STOPPING=1", 1.0)
        assert "Traceback" not in daemon.output()
    finally:
        daemon.stop()
