"""A hostile local client for the attack tests (issue 15): a forked child of the test process that drops to an
unprivileged uid (``nobody``, optionally with the group ``evcc``, as ``setpriv`` would) and speaks raw D-Bus on a
plain socket: it can write calls without reading the replies, attach file descriptors to any call, and hold
pipes open. The interpreter under /root is not reachable for ``nobody``, hence fork instead of a new process.

The child's script is a list of :class:`Step`; the parent gets the child's counters over a pipe.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import select
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dbus_fast import Message

BUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


@dataclass
class Call:
    destination: str
    path: str
    interface: str | None
    member: str
    signature: str = ""
    body: list[object] = field(default_factory=list)
    fds: int = 0  # how many descriptors (of /dev/null) to attach
    pipes: int = 0  # attach this many pipe read ends whose write ends the child keeps open (and never writes)


@dataclass
class Step:
    call: Call
    count: int = 1
    read_replies: bool = True  # False: write only, never read (the flood)


def _path(address: str) -> str:
    for part in address.split(";")[0].split(":", 1)[1].split(","):
        key, _, value = part.partition("=")
        if key == "path":
            return value
    raise ValueError(f"not a unix:path= address: {address}")


def _line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("bus closed during authentication")
        data += chunk
    return data


def connect_raw(address: str) -> socket.socket:
    """Authenticate (EXTERNAL, unix fds) and send Hello (its reply is still to be read: :class:`Replies`).
    Descriptors must wait for that reply: dbus-daemon drops a connection whose descriptors arrive while it still
    reads the authentication lines."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(_path(address))
    sock.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    if not _line(sock).startswith(b"OK"):
        raise PermissionError("EXTERNAL authentication refused")
    sock.sendall(b"NEGOTIATE_UNIX_FD\r\n")
    if not _line(sock).startswith(b"AGREE_UNIX_FD"):
        raise OSError("the bus does not pass file descriptors")
    sock.sendall(b"BEGIN\r\n")
    sock.sendall(bytes(Message(destination=BUS[0], path=BUS[1], interface=BUS[2], member="Hello", serial=1)
                       ._marshall(True)))
    return sock


def _message_length(head: bytes) -> int:
    endian = "<" if head[0:1] == b"l" else ">"
    body_len, _serial, fields_len = struct.unpack(endian + "III", head[4:16])
    header = 16 + int(fields_len)
    return header + (-header % 8) + int(body_len)


class Replies:
    """Counts the replies (method returns and errors) arriving on a raw connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf, self.returns, self.errors = sock, b"", 0, 0

    def wait(self, total: int, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        poller = select.poll()  # not select(): the descriptor numbers may be high after an attack
        poller.register(self.sock, select.POLLIN)
        while self.returns + self.errors < total:
            left = end - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise TimeoutError(f"{self.returns + self.errors} of {total} replies")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("bus closed the connection")
            self.buf += chunk
            while len(self.buf) >= 16 and len(self.buf) >= _message_length(self.buf[:16]):
                size = _message_length(self.buf[:16])
                kind = self.buf[1]
                self.buf = self.buf[size:]
                if kind == 2:
                    self.returns += 1
                elif kind == 3:
                    self.errors += 1


def _drop_privileges(evcc_group: bool) -> None:
    nobody = pwd.getpwnam("nobody")
    os.setgroups([grp.getgrnam("evcc").gr_gid] if evcc_group else [])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def _child(address: str, steps: list[Step], evcc_group: bool, go_on: int, report: int) -> None:
    _drop_privileges(evcc_group)
    sock = connect_raw(address)
    replies = Replies(sock)
    expected = 1  # Hello
    replies.wait(expected)
    serial = 2
    held: list[int] = []
    for number, step in enumerate(steps):
        try:
            expected = _run_step(sock, replies, step, serial, expected, held)
        except OSError as exc:
            raise OSError(exc.errno, f"step {number} ({step.call.interface}.{step.call.member}): {exc.strerror}") \
                from exc
        serial += step.count
    os.write(report, json.dumps({"sent": serial - 2, "returns": replies.returns, "errors": replies.errors,
                                 "uid": os.getuid()}).encode() + b"\n")
    os.read(go_on, 1)  # hold the connection (and the pipes' write ends) until the parent says so
    for fd in held:
        os.close(fd)
    sock.close()


def _run_step(sock: socket.socket, replies: Replies, step: Step, serial: int, expected: int,
              held: list[int]) -> int:
    c = step.call
    for _ in range(step.count):
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(c.fds)]
        for _ in range(c.pipes):
            r, w = os.pipe()
            fds.append(r)
            held.append(w)
        msg = Message(destination=c.destination, path=c.path, interface=c.interface, member=c.member,
                      signature=c.signature, body=list(c.body), serial=serial, unix_fds=fds)
        data = bytes(msg._marshall(True))
        if fds:
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))])
        else:
            sock.sendall(data)
        for fd in fds:
            os.close(fd)
        serial += 1
        expected += 1
    if step.read_replies:
        replies.wait(expected)
    return expected


@dataclass
class Attacker:
    pid: int
    go_on: int
    report: int

    def result(self, timeout: float = 120.0) -> dict[str, int]:
        """The child's counters once its steps are done (it keeps its connection until :meth:`release`)."""
        poller = select.poll()
        poller.register(self.report, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise TimeoutError("the attacker did not finish its steps")
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self.report, 4096)
            if not chunk:
                raise EOFError("the attacker ended without a report (see its stderr)")
            line += chunk
        out: dict[str, int] = json.loads(line)
        return out

    def release(self) -> None:
        os.write(self.go_on, b"x")


@contextmanager
def attacker(address: str, steps: list[Step], *, evcc_group: bool = False) -> Iterator[Attacker]:
    """Fork the attacking child (uid nobody); on exit it is told to close its connection and is reaped."""
    go_r, go_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            os.close(go_w)
            os.close(rep_r)
            _child(address, steps, evcc_group, go_r, rep_w)
        except BaseException as exc:  # noqa: BLE001 - the child reports and exits, never returns to pytest
            os.write(2, f"attacker: {type(exc).__name__}: {exc}\n".encode())
            status = 1
        os._exit(status)
    os.close(go_r)
    os.close(rep_w)
    a = Attacker(pid, go_w, rep_r)
    try:
        yield a
    finally:
        try:
            a.release()
        except OSError:
            pass
        os.waitpid(pid, 0)
        os.close(go_w)
        os.close(rep_r)
