"""Charger-side simulator (SECC) for the bench and the tests: SDP responder, SupportedAppProtocol responder,
DIN SPEC 70121 DC responder with fault injection, and the asyncio server that carries them. Same codec and the
same V2GTP framing as the EV side; sans-IO cores with thin asyncio adapters.
"""
