"""SLAC, ISO 15118-3 Annex A (EV side): a sans-IO matching machine plus a thin asyncio adapter."""
