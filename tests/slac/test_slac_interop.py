"""Interop: our EV SLAC against pyslac 0.8.3 (PyPI, EVSE side) behind the powerline simulator (INTEROP.md).

pyslac runs in its own virtual environment (scripts/setup.d/20-slac.sh) inside the EVSE's namespace.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from collections.abc import Callable

import pytest

from evcc.bench.plc_sim.bridge import PowerlineSim, bench_ports, run_evse
from evcc.bench.plc_sim.topology import Topology, in_netns
from evcc.plc.rawsock import RawSocket
from evcc.slac.config import SlacConfig
from evcc.slac.events import Matched
from evcc.slac.machine import EvSlac
from evcc.slac.runner import SlacRunner, system_rng

VENV_PYTHON = pathlib.Path(os.environ.get("EVCC_PYSLAC_VENV", "/opt/evcc-test/pyslac-venv")) / "bin" / "python"
DRIVER = pathlib.Path(__file__).with_name("pyslac_evse.py")


async def _pyslac_session(topo: Topology, attenuations: list[int]) -> tuple[Matched, str, str]:
    assert topo.ev is not None
    evse = topo.evses[0]
    async with PowerlineSim(bench_ports(topo.sim_ifnames, attenuations, restart_s=1.0), topo.sim_netns):
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", evse.netns, str(VENV_PYTHON), str(DRIVER), evse.ifname,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        ours = [asyncio.create_task(run_evse(e.ifname, e.netns)) for e in topo.evses[1:]]
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 40)
            assert line.startswith(b"READY"), line
            with in_netns(topo.ev.netns):
                sock = RawSocket.open(topo.ev.ifname)
            sock.start()
            try:
                config = SlacConfig(sock.mac, parm_retries=100)
                matched = await SlacRunner(EvSlac(config, system_rng), sock).match()
            finally:
                sock.close()
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            return matched, out.decode(), err.decode()[-3000:]
        finally:
            for task in ours:
                task.cancel()
            await asyncio.gather(*ours, return_exceptions=True)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.interop
def test_match_against_pyslac(topology: Callable[[int], Topology]) -> None:
    if not VENV_PYTHON.exists():
        pytest.fail(f"pyslac venv missing at {VENV_PYTHON}: run scripts/setup")
    topo = topology(1)
    matched, out, err = asyncio.run(_pyslac_session(topo, [22]))
    assert matched.evse_mac == topo.evses[0].mac and matched.attenuation_db == 22.0
    assert f"MATCHED {matched.nmk.hex()}" in out, out + err
    assert topo.ev is not None and topo.ev.mac.hex() in out


@pytest.mark.interop
def test_pyslac_nearer_than_our_evse_is_chosen(topology: Callable[[int], Topology]) -> None:
    """INTEROP.md: pyslac at 22 dB, a second (simulated) EVSE at 35 dB: the EV picks pyslac."""
    if not VENV_PYTHON.exists():
        pytest.fail(f"pyslac venv missing at {VENV_PYTHON}: run scripts/setup")
    topo = topology(2)
    matched, out, err = asyncio.run(_pyslac_session(topo, [22, 35]))
    assert matched.evse_mac == topo.evses[0].mac and matched.attenuation_db == 22.0
    assert f"MATCHED {matched.nmk.hex()}" in out, out + err
