"""Interface set-up for the modem's Ethernet port with pyroute2 (rtnetlink): bring the link up, wait until an
IPv6 link-local address is usable (not tentative: DAD finished, RFC 4862 §5.4), follow carrier changes.

ISO 15118-2 §7.6 / DIN 70121 need a usable IPv6 link-local address for SDP and TCP once SLAC has matched
(ISO 15118-3 §9.6 "link established"). This is an asyncio adapter; it polls rtnetlink at a short period.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pyroute2 import AsyncIPRoute  # type: ignore[import-untyped]

from evcc.errors import PlatformError

IFF_UP = 0x1
IFA_F_TENTATIVE = 0x40
IFA_F_DADFAILED = 0x08
RT_SCOPE_LINK = 253
AF_INET6 = 10
POLL_PERIOD = 0.05


@dataclass(frozen=True, slots=True)
class LinkState:
    ifname: str
    index: int
    up: bool
    carrier: bool
    mac: str


async def _index(ipr: AsyncIPRoute, ifname: str) -> int:
    found = await ipr.link_lookup(ifname=ifname)
    if not found:
        raise PlatformError(f"network interface {ifname!r} does not exist")
    return int(found[0])


async def link_state(ifname: str) -> LinkState:
    """Administrative state, carrier and MAC of ``ifname``."""
    async with AsyncIPRoute() as ipr:
        index = await _index(ipr, ifname)
        (msg,) = await ipr.link("get", index=index)
        return LinkState(
            ifname,
            index,
            bool(msg["flags"] & IFF_UP),
            bool(msg.get("carrier")),
            str(msg.get("address")),
        )


async def bring_up(ifname: str) -> LinkState:
    """Set ``ifname`` administratively up; PlatformError if missing or not permitted."""
    async with AsyncIPRoute() as ipr:
        index = await _index(ipr, ifname)
        try:
            await ipr.link("set", index=index, state="up")
        except Exception as exc:  # pyroute2 raises NetlinkError (an OSError subclass) and others
            raise PlatformError(f"cannot bring {ifname!r} up: {exc}") from exc
    return await link_state(ifname)


async def usable_link_local(ifname: str) -> str | None:
    """The first IPv6 link-local address of ``ifname`` that is neither tentative nor DAD-failed."""
    async with AsyncIPRoute() as ipr:
        index = await _index(ipr, ifname)
        async for msg in await ipr.addr("dump", index=index, family=AF_INET6):
            flags = int(msg.get("IFA_FLAGS") or msg["flags"])
            if msg["scope"] != RT_SCOPE_LINK or flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
                continue
            return str(msg.get("IFA_ADDRESS"))
    return None


async def wait_link_local(ifname: str, timeout: float) -> str:
    """Wait until ``ifname`` has a usable IPv6 link-local address; PlatformError naming the cause otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        addr = await usable_link_local(ifname)
        if addr is not None:
            return addr
        if time.monotonic() >= deadline:
            state = await link_state(ifname)
            if not state.up:
                raise PlatformError(f"network interface {ifname!r} is down")
            raise PlatformError(
                f"no usable IPv6 link-local address on {ifname!r} after {timeout:.1f} s"
                f" (carrier {'on' if state.carrier else 'off'})"
            )
        await asyncio.sleep(POLL_PERIOD)


async def prepare_interface(ifname: str, timeout: float = 5.0) -> tuple[LinkState, str]:
    """Bring the link up and wait for its link-local address: what the session needs after SLAC."""
    state = await bring_up(ifname)
    addr = await wait_link_local(ifname, timeout)
    return state, addr


async def carrier_changes(ifname: str, period: float = POLL_PERIOD) -> AsyncIterator[bool]:
    """Yield the carrier state now and at every change (True = carrier present)."""
    last: bool | None = None
    while True:
        state = await link_state(ifname)
        carrier = state.up and state.carrier
        if carrier != last:
            last = carrier
            yield carrier
        await asyncio.sleep(period)
