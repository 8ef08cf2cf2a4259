"""Driver for pyslac 0.8.3 as the EVSE (runs in pyslac's own venv, inside the EVSE's network namespace).

Usage: python pyslac_evse.py IFACE. Sets its key (pyslac then sleeps SLAC_SETTLE_TIME = 10 s), prints READY,
reports CP state B to start matching and prints ``MATCHED <nmk hex> <pev mac hex>`` once pyslac matched.
"""

import asyncio
import logging
import sys

from pyslac.enums import STATE_MATCHED
from pyslac.environment import Config
from pyslac.session import SlacEvseSession, SlacSessionController


async def main(iface: str) -> int:
    config = Config(slac_init_timeout=40, slac_atten_results_timeout=None, log_level="DEBUG")
    session = SlacEvseSession("DE*EVC*E0000001", iface, config)
    await session.evse_set_key()
    print("READY", flush=True)
    controller = SlacSessionController()
    await controller.process_cp_state(session, "B")
    for _ in range(600):
        if session.state == STATE_MATCHED:
            print("MATCHED", session.nmk.hex(), session.pev_mac.hex(), flush=True)
            await asyncio.sleep(0.5)
            return 0
        await asyncio.sleep(0.1)
    print("NOT MATCHED", session.state, flush=True)
    return 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    sys.exit(asyncio.run(main(sys.argv[1])))
