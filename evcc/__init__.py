"""evcc: the EV side of ISO 15118 Plug & Charge (SLAC, DIN 70121, ISO 15118-2/-20, native EXI)."""

__version__ = "0.1.0"
