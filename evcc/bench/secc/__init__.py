"""Charger-side simulator (SECC) for the bench and the tests: SDP responder, SupportedAppProtocol responder, DIN
SPEC 70121 and ISO 15118-2 responders, the asyncio server that carries them (payloads routed by V2GTP payload
type), and the hostile charger: fault descriptions (faults.py), the layer that applies one to any responder
(hostile.py) and refused SECC certificates (hostile_tls.py). Same codec and the same V2GTP framing as the EV
side; sans-IO cores with thin asyncio adapters.
"""
