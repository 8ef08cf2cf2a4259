"""ISO 15118-20 end to end over a real TCP socket on loopback: the asyncio runner (SupportedAppProtocol on 0x8001,
then the -20 machine whose messages travel in 0x8002 and 0x8004 / 0x8003) against the bench SECC server, which
routes each V2GTP payload by its type to the -20 simulator; DC_BPT Dynamic and AC Scheduled."""

from __future__ import annotations

import asyncio

import pytest

from evcc.bench.secc.iso20_responder import ac_secc, dc_secc
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.session import v2gtp
from evcc.session.connection import open_connection
from evcc.session.events import EndKind, Exchange
from evcc.session.iso20 import ISO_15118_20
from evcc.session.iso20.factory import iso20_machines, iso20_offers
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import ISO20_NAMESPACES
from tests.session.iso20.helpers import EVCC_ID, car

SUPPORTED = [SupportedProtocol("iso20-dc", ISO20_NAMESPACES["iso20-dc"], 1, 0),
             SupportedProtocol("iso20-ac", ISO20_NAMESPACES["iso20-ac"], 1, 0)]


@pytest.mark.parametrize(("service", "mode"), [("DC_BPT", "Dynamic"), ("AC", "Scheduled")])
def test_iso20_session_over_tcp_loopback(service: str, mode: str) -> None:
    from evcc.session.iso20 import Iso20Config

    vehicle = car(soc=78.0, target=80.0)
    config = Iso20Config(evcc_id=EVCC_ID, service=service, control_mode=mode,  # type: ignore[arg-type]
                         unix_time_offset=1_700_000_000.0)

    async def main() -> tuple[SessionReport, SeccLog]:
        server, record = await serve_secc("::1", 0, SUPPORTED, responders={"iso20-dc": dc_secc, "iso20-ac": ac_secc},
                                          timers={"iso20-dc": ISO_15118_20, "iso20-ac": ISO_15118_20})
        port = server.sockets[0].getsockname()[1]
        try:
            conn = await open_connection("::1", port, accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
            report = await run_session(conn, iso20_offers(config), iso20_machines(config, vehicle), ISO_15118_20)
        finally:
            server.close()
            await server.wait_closed()
        return report, record

    report, record = asyncio.run(main())
    assert report.ended.kind is EndKind.COMPLETED, report.ended
    assert report.protocol == ("iso20-dc" if service.startswith("DC") else "iso20-ac")
    requests = [e.request for e in report.events if isinstance(e, Exchange)]
    assert requests[0] == "SessionSetupReq" and requests[-1] == "SessionStopReq"
    assert f"{service[:2]}_ChargeLoopReq" in requests
    assert not record.errors and record.negotiated[-1] == report.protocol
    assert vehicle.soc >= 80.0
