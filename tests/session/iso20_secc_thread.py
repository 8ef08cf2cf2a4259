"""Test helper for ISO 15118-20 sessions over real TCP / TLS 1.3 on loopback: the bench SECC server (-20 DC and AC
responders, SupportedAppProtocol per ISO 15118-20 §8.3) on its own event loop in its own thread, as on another
device (OpenSSL keeps its error queue per thread: a charger's TLS errors must not land on the EV's), and one EV
session through the asyncio runner (SupportedAppProtocol on 0x8001, then the -20 machine)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence

from evcc.bench.secc.faults import Fault
from evcc.bench.secc.iso20_responder import Iso20SeccConfig, ac_secc, dc_secc
from evcc.bench.secc.memory import SeccResponder
from evcc.bench.secc.sap_responder import SupportedProtocol
from evcc.bench.secc.server import SeccLog, serve_secc
from evcc.session import v2gtp
from evcc.session.connection import PreparedTls, TlsConfig, open_connection
from evcc.session.iso2 import AcBatteryModel
from evcc.session.iso20 import ISO_15118_20, Iso20Config
from evcc.session.iso20.factory import iso20_machines, iso20_offers
from evcc.session.runner import SessionReport, run_session
from evcc.session.sap import ISO20_NAMESPACES
from evcc.session.timeouts import EvccTimers

QUICK = Iso20SeccConfig(response_time=0.001)
RESPONDERS: dict[str, Callable[[], SeccResponder]] = {"DC": lambda: dc_secc(QUICK), "AC": lambda: ac_secc(QUICK)}


@contextlib.contextmanager
def secc_thread(context: ssl.SSLContext | None, fault: Fault | None, services: Sequence[str] = ("DC", "AC"),
                name: str = "secc20") -> Iterator[tuple[SeccLog, int]]:
    """The -20 SECC server for ``services`` on ::1 (a free port) on its own loop and thread, ``fault`` on its first
    connection only; yields its record and port, and stops the server, the loop and the thread afterwards."""
    protocols = [f"iso20-{service.lower()}" for service in services]
    supported = [SupportedProtocol(p, ISO20_NAMESPACES[p], 1, 0) for p in protocols]
    responders = {p: RESPONDERS[service] for p, service in zip(protocols, services)}
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    started = serve_secc("::1", 0, supported, responders=responders, ssl_context=context, fault=fault,
                         faulty_connections=1)
    server, record = asyncio.run_coroutine_threadsafe(started, loop).result(10.0)
    try:
        yield record, server.sockets[0].getsockname()[1]
    finally:
        async def stop() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        loop.close()


async def ev_session20(port: int, service: str, tls: TlsConfig | PreparedTls | None = None,
                       sap_timers: EvccTimers = ISO_15118_20) -> SessionReport:
    """One -20 EV session (``service`` DC or AC, Dynamic control mode, a car at 79.8 of 80 %) to the SECC on ::1."""
    config = Iso20Config(evcc_id="0242AC110002", service=service, control_mode="Dynamic")  # type: ignore[arg-type]
    vehicle = AcBatteryModel(capacity_wh=400.0, soc=79.8, target_soc=80.0)
    conn = await open_connection("::1", port, tls=tls, accepted=v2gtp.SESSION_PAYLOAD_TYPES | v2gtp.ISO20_PAYLOAD_TYPES)
    return await run_session(conn, iso20_offers(config), iso20_machines(config, vehicle), sap_timers)
