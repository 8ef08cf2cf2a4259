"""The V2G communication session, EV side: SDP, TCP/TLS, V2GTP framing, SupportedAppProtocol and the protocol
machines (DIN SPEC 70121 now; ISO 15118-2 and -20 slot in beside it with the same shape).

Sans-IO cores (``v2gtp``, ``sdp``, ``sap``, ``din``) take bytes/messages and ``now``; the asyncio adapters
(``sdp_aio``, ``connection``, ``runner``) are the only code that awaits, reads sockets or the clock.
"""
