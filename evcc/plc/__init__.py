"""HomePlug GreenPHY modem access: MME framing (HPAV 1.1 §11), SLAC MME codecs (ISO 15118-3 Annex A.8), the
local-modem operations, the AF_PACKET socket and interface set-up (pyroute2)."""
