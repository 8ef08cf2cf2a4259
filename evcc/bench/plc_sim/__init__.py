"""Bench simulators for ISO 15118-3: a GreenPHY powerline with simulated modems and an EVSE-side SLAC."""
