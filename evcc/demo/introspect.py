"""The shipped interface files ``dbus/org.evcc.Evcc1.{Manager,Contract,Session}.xml`` from the live service.

    python3 -m evcc.demo.introspect --write dbus/     regenerate the files (a reference service on a private bus)
    python3 -m evcc.demo.introspect --check dbus/     exit 1 and name the difference when they drifted
    ... --address ADDR                                introspect the service already on that bus (e.g. evcc demo)

The structure (members, signatures, access, argument names where the service gives them) is what the running
service answers to org.freedesktop.DBus.Introspectable.Introspect (D-Bus specification, "Introspection Data
Format"); the text, the errors, the signal argument names and the EmitsChangedSignal annotations come from
:mod:`evcc.demo.api_docs`. The reference service is :class:`evcc.hmi.service.HmiService` itself (the object the
daemon exports) with one contract in a temporary store, on a private dbus-daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from dbus_fast import introspection as intr
from dbus_fast.aio import MessageBus

from evcc.demo.api_docs import ERROR_DOCS, INTERFACES, Member
from evcc.errors import EvccError
from evcc.hmi.names import BUS_NAME, CONTRACT_INTERFACE, CONTRACT_PREFIX, ERROR_PREFIX, ROOT_PATH, SESSION_PATH

REGENERATE = "python3 -m evcc.demo.introspect --write dbus/"
EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"
HEADER = """<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<!--
  {name}: interface of the evcc onboard service (bus name org.evcc.Evcc1), API version 1.
  Installed to /usr/share/dbus-1/interfaces/{name}.xml. Generated from the live service by
  python3 -m evcc.demo.introspect (option: write dbus/), documentation from evcc/demo/api_docs.py;
  tests/demo checks it against the service.
  Compatible changes only within a version: members may be added, none removed or changed (evcc/demo/api_docs.py).
-->
"""


class DocMissing(EvccError):
    """A member of the live service has no entry in evcc/demo/api_docs.py."""


def interface_file(name: str) -> str:
    return f"{name}.xml"


def _comment(lines: list[str], indent: str) -> list[str]:
    body: list[str] = []
    for line in lines:
        wrapped = textwrap.wrap(line.replace("--", "-"), 110 - len(indent)) or [""]
        body.extend(f"{indent}  {w}" for w in wrapped)
    return [f"{indent}<!--", *body, f"{indent}-->"]


def _member_comment(name: str, doc: Member, indent: str) -> list[str]:
    lines = [f"{name}:"]
    lines += [f"@{arg}: {text}" for arg, text in doc.args.items()]
    lines.append(doc.text)
    lines += [f"Error {ERROR_PREFIX}{e}: {ERROR_DOCS[e]}" for e in doc.errors]
    return _comment(lines, indent)


def _doc(interface: str, member: str) -> Member:
    idoc = INTERFACES.get(interface)
    if idoc is None or member not in idoc.members:
        raise DocMissing(f"{interface}.{member} is served but not documented: add it to evcc/demo/api_docs.py, "
                         f"then run `{REGENERATE}`")
    return idoc.members[member]


def _order(interface: str, names: list[str]) -> list[str]:
    idoc = INTERFACES.get(interface)
    known = list(idoc.members) if idoc else []
    return sorted(names, key=lambda n: (known.index(n) if n in known else len(known), n))


def _arg(a: intr.Arg, name: str | None, direction: str | None) -> str:
    attrs = (f' name="{name}"' if name else "") + f' type="{a.signature!s}"' + (
        f' direction="{direction}"' if direction else "")
    return f"<arg{attrs}/>"


def render(iface: intr.Interface) -> str:
    """The interface file's text for one live interface (deterministic: the committed file must equal it)."""
    name = iface.name
    if name not in INTERFACES:
        raise DocMissing(f"interface {name} is not documented in evcc/demo/api_docs.py")
    out = [HEADER.format(name=name).rstrip("\n"), "<node>"]
    out += _comment([f"{name}:", INTERFACES[name].text], "  ")
    out.append(f'  <interface name="{name}">')
    methods = {m.name: m for m in iface.methods}
    for mname in _order(name, list(methods)):
        m, doc = methods[mname], _doc(name, mname)
        out += _member_comment(mname, doc, "    ")
        out.append(f'    <method name="{mname}">')
        out += [f"      {_arg(a, a.name, 'in')}" for a in m.in_args]
        out += [f"      {_arg(a, a.name or (doc.arg_names[i] if i < len(doc.arg_names) else None), 'out')}"
                for i, a in enumerate(m.out_args)]
        out.append("    </method>")
    signals = {s.name: s for s in iface.signals}
    for sname in _order(name, list(signals)):
        s, doc = signals[sname], _doc(name, sname)
        out += _member_comment(sname, doc, "    ")
        out.append(f'    <signal name="{sname}">')
        for i, a in enumerate(s.args):
            arg_name = a.name or (doc.arg_names[i] if i < len(doc.arg_names) else None)
            out.append(f"      {_arg(a, arg_name, None)}")
        out.append("    </signal>")
    props = {p.name: p for p in iface.properties}
    for pname in _order(name, list(props)):
        p, doc = props[pname], _doc(name, pname)
        out += _member_comment(pname, doc, "    ")
        access = p.access.value if hasattr(p.access, "value") else str(p.access)
        out.append(f'    <property name="{pname}" type="{p.signature}" access="{access}">')
        if doc.emits:
            out.append(f'      <annotation name="{EMITS}" value="{doc.emits}"/>')
        out.append("    </property>")
    out += ["  </interface>", "</node>", ""]
    return "\n".join(out)


# --- shapes: what an HMI's generated code depends on --------------------------------------------------------
@dataclass(frozen=True)
class Shape:
    """Members of one interface: name -> signature text (methods ``in->out``, signals ``args``, properties
    ``type access``)."""

    methods: dict[str, str]
    signals: dict[str, str]
    properties: dict[str, str]

    def members(self) -> dict[str, str]:
        return {**{f"method {k}": v for k, v in self.methods.items()},
                **{f"signal {k}": v for k, v in self.signals.items()},
                **{f"property {k}": v for k, v in self.properties.items()}}


def shape(iface: intr.Interface) -> Shape:
    def access(p: intr.Property) -> str:
        return p.access.value if hasattr(p.access, "value") else str(p.access)
    def sig(args: list[intr.Arg]) -> str:
        return "".join(str(a.signature) for a in args)
    return Shape({m.name: sig(m.in_args) + "->" + sig(m.out_args) for m in iface.methods},
                 {s.name: sig(s.args) for s in iface.signals},
                 {p.name: f"{p.signature} {access(p)}" for p in iface.properties})


def parse_file(path: Path) -> intr.Interface:
    """The interface described by a shipped file (comments and annotations ignored)."""
    root = ElementTree.fromstring(path.read_text(encoding="utf-8"))
    element = root.find("interface")
    if element is None:
        raise EvccError(f"{path}: no <interface> element")
    return intr.Interface.from_xml(element)


def compatibility(shipped: intr.Interface, live: intr.Interface) -> tuple[list[str], list[str]]:
    """(breaking changes, additions) of ``live`` against the ``shipped`` interface (api_docs.py's rule: a shipped
    member must still exist with the same signature and access; additions are allowed)."""
    old, new = shape(shipped).members(), shape(live).members()
    breaking = [f"{shipped.name}: {k} ({v}) is gone" for k, v in old.items() if k not in new]
    breaking += [f"{shipped.name}: {k} changed from {v!r} to {new[k]!r}" for k, v in old.items()
                 if k in new and new[k] != v]
    added = [f"{live.name}: {k} ({v}) is new" for k, v in new.items() if k not in old]
    return breaking, added


# --- the live service -----------------------------------------------------------------------------------------
async def live_interfaces(bus: MessageBus, destination: str = BUS_NAME) -> dict[str, intr.Interface]:
    """The three org.evcc.Evcc1 interfaces as the service on ``bus`` introspects them (a Contract object must
    exist)."""
    found: dict[str, intr.Interface] = {}
    root = await bus.introspect(destination, ROOT_PATH)
    session = await bus.introspect(destination, SESSION_PATH)
    nodes = [root, session]
    folder = await bus.introspect(destination, CONTRACT_PREFIX.rstrip("/"))
    children = [n.name for n in folder.nodes if n.name]
    if children:
        nodes.append(await bus.introspect(destination, CONTRACT_PREFIX + sorted(children)[0]))
    for node in nodes:
        for iface in node.interfaces:
            if iface.name.startswith(BUS_NAME + "."):
                found[iface.name] = iface
    if CONTRACT_INTERFACE not in found:
        raise EvccError(f"no contract object under {CONTRACT_PREFIX}: the Contract interface cannot be introspected")
    return found


@contextlib.asynccontextmanager
async def reference_service() -> AsyncIterator[str]:
    """An :class:`~evcc.hmi.service.HmiService` with one (pending) contract on a private session-style bus;
    yields the bus address."""
    from evcc.contracts.store import ContractStore
    from evcc.demo.buses import SessionBus
    from evcc.hmi.service import HmiConfig, HmiService

    with tempfile.TemporaryDirectory(prefix="evcc-introspect-") as tmp, SessionBus() as bus:
        store = ContractStore(Path(tmp) / "contracts")
        store.add_pending("DE8AA0012345670", 1)
        service = HmiService(HmiConfig(bus_address=bus.address), store)
        await service.start()
        try:
            yield bus.address
        finally:
            service.stop()


async def files_from_live(address: str | None) -> dict[str, str]:
    """File name -> text, from the service at ``address`` (None: a reference service)."""
    async with contextlib.AsyncExitStack() as stack:
        if address is None:
            address = await stack.enter_async_context(reference_service())
        bus = await MessageBus(bus_address=address).connect()
        try:
            interfaces = await live_interfaces(bus)
        finally:
            bus.disconnect()
    return {interface_file(name): render(iface) for name, iface in sorted(interfaces.items())}


def drift(folder: Path, files: dict[str, str]) -> list[str]:
    """Files in ``folder`` that differ from the generated ``files`` (a readable line each)."""
    problems = []
    for name, text in files.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text(encoding="utf-8") != text:
            old, new = path.read_text(encoding="utf-8").splitlines(), text.splitlines()
            first = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
            got = old[first] if first < len(old) else "<end of file>"
            want = new[first] if first < len(new) else "<end of file>"
            problems.append(f"{path} line {first + 1}: file has {got.strip()!r}, service gives {want.strip()!r}")
    return problems


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m evcc.demo.introspect", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="DIR", help="(re)write the interface files into DIR")
    mode.add_argument("--check", type=Path, metavar="DIR", help="compare the files in DIR with the service")
    p.add_argument("--address", help="introspect the service on this bus (default: a reference service)")
    args = p.parse_args(argv)
    try:
        files = asyncio.run(files_from_live(args.address))
    except EvccError as exc:
        print(f"evcc.demo.introspect: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"evcc.demo.introspect: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.write is not None:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            write_atomic(args.write / name, text)
            print(f"wrote {args.write / name}")
        return 0
    problems = drift(args.check, files)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"regenerate with: {REGENERATE}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
