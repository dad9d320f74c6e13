"""Fuzzing the accept path (server/accept.py) with Hypothesis: whatever accept() and the TLS wrap do, the
loop never raises and its counts stay right.

A scripted listener stands in for the kernel: each accept() plays the next step of a random
script, either a connection (a socketpair end, from one of a few addresses) or an error Linux's
accept() can report. With TLS, each connection's wrap either works or fails as it does for a peer
that reset before it was accepted. A model of the limits (--max-clients, --max-per-ip) says what
the loop should have admitted, refused and dropped.
"""

from __future__ import annotations

import collections
import errno
import selectors
import socket
import ssl
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selchat.server.accept import TLS_REFUSALS_IN_FLIGHT
from selchat.server.network import Reactor

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_CONNECTIONS = 4
MAX_PER_PEER = 2
PEERS = 3

# Errors after which accept() is simply retried: that connection is gone, the listener is fine.
RETRY = ["ECONNABORTED", "ECONNRESET", "ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
         "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ETIMEDOUT", "EPERM"]
# Errors after which accepting pauses: out of a resource, or the listener itself is unwell.
PAUSE = ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "EINVAL", "EBADF"]
WRAP_FAILURES = {
    "reset": lambda: ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    "notconn": lambda: OSError(errno.ENOTCONN, "Transport endpoint is not connected"),
    "ssl": lambda: ssl.SSLError(1, "[SSL] internal error"),
}


@dataclass(frozen=True)
class Connect:
    peer: int
    wrap: str  # "ok" or a key of WRAP_FAILURES (used only with TLS)


@dataclass(frozen=True)
class Fail:
    name: str  # an errno name


steps = st.one_of(
    st.builds(Connect, st.integers(0, PEERS - 1), st.sampled_from(["ok", "ok", *WRAP_FAILURES])),
    st.builds(Fail, st.sampled_from(RETRY)),
    st.builds(Fail, st.sampled_from(PAUSE)),
)


class Recorder:
    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, reason: str) -> None:
        pass


class ScriptedListener:
    """accept() plays the script, then says EAGAIN. A real listener with one connection waiting
    (never accepted) makes select() report it readable."""

    def __init__(self, script: list) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.waiting = socket.create_connection(self.sock.getsockname())
        self.script = list(script)
        self.consumed = 0
        self.wraps: dict[int, str] = {}  # server-side fd -> how its TLS wrap goes
        self.served: list[tuple[socket.socket, socket.socket, Connect]] = []  # (ours, theirs, step)

    def fileno(self) -> int:
        return self.sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def accept(self):
        if not self.script:
            raise BlockingIOError(errno.EAGAIN, "no more")
        step = self.script.pop(0)
        self.consumed += 1
        if isinstance(step, Fail):
            code = getattr(errno, step.name)
            raise OSError(code, step.name)
        ours, theirs = socket.socketpair()
        self.wraps[ours.fileno()] = step.wrap
        self.served.append((ours, theirs, step))
        return ours, (f"10.0.0.{step.peer}", 40000)

    def close(self) -> None:
        self.waiting.close()
        self.sock.close()
        for ours, theirs, _ in self.served:
            ours.close()
            theirs.close()


class ScriptedTLS:
    """wrap_socket() fails as the script says, or wraps for real (the handshake never starts)."""

    def __init__(self, listener: ScriptedListener) -> None:
        self.listener = listener
        self.real = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

    def wrap_socket(self, sock, **kwargs):
        outcome = self.listener.wraps[sock.fileno()]
        if outcome != "ok":
            raise WRAP_FAILURES[outcome]()
        return self.real.wrap_socket(sock, **kwargs)


def model(script: list, tls: bool) -> tuple[collections.Counter, int, int, int]:
    """What the loop should end with: (admitted per peer, refusals, failures, steps consumed)."""
    per_peer: collections.Counter = collections.Counter()
    refusing = refused = failures = 0
    for consumed, step in enumerate(script, 1):
        if isinstance(step, Fail):
            if step.name in PAUSE:
                return per_peer, refused, failures, consumed  # accepting pauses: the rest waits
            failures += 1
            continue
        over = sum(per_peer.values()) >= MAX_CONNECTIONS or per_peer[step.peer] >= MAX_PER_PEER
        if over and not (tls and refusing < TLS_REFUSALS_IN_FLIGHT):
            refused += 1
            continue
        if tls and step.wrap != "ok":
            failures += 1
            continue
        per_peer[step.peer] += 1
        refusing += over
    return per_peer, refused, failures, len(script)


def run_script(script: list, tls: bool) -> None:
    reactor = Reactor(selectors.DefaultSelector(), max_connections=MAX_CONNECTIONS, max_per_peer=MAX_PER_PEER,
                      refusal=lambda reason: f"no: {reason}\n".encode())
    listener = ScriptedListener(script)
    reactor.listen(listener, lambda transport: Recorder(), tls=ScriptedTLS(listener) if tls else None)
    expected, refused, failures, consumed = model(script, tls)
    try:
        # Each turn accepts until EAGAIN, a pause, or ACCEPT_FAILURES_PER_TURN failures.
        for _ in range(len(script) + 1):
            if listener.consumed == consumed and (consumed < len(script) or not listener.script):
                break
            reactor.run_once()  # must not raise
        assert listener.consumed == consumed
        peers = collections.Counter(int(t.peer.rsplit(".", 1)[1]) for t in reactor.connections())
        assert peers == expected
        assert reactor.connection_count == sum(expected.values())
        assert reactor.accept_failures == failures
        dropped = [(ours, theirs) for ours, theirs, _ in listener.served if ours.fileno() != -1 and
                   not any(t.sock is ours or getattr(t.sock, "fileno", lambda: -2)() == ours.fileno()
                           for t in reactor.connections())]
        assert not dropped, "a refused or failed connection was left open"
        told = 0
        for ours, theirs, _ in listener.served:
            theirs.setblocking(False)
            try:
                told += theirs.recv(100).startswith(b"no: ")
            except BlockingIOError:
                pass
        assert told == refused  # every plain refusal said why
        open_now = reactor.connections()
        for transport in open_now:
            transport.abort("test over")
        if open_now:  # (with nothing doomed, a paused listener would make select() wait)
            reactor.run_once()
        assert reactor.connection_count == 0 and reactor.connections() == []
    finally:
        listener.close()
        reactor.selector.close()


@FUZZ
@given(st.lists(steps, max_size=40))
def test_plain_accept_never_raises_and_counts_stay_right(script):
    run_script(script, tls=False)


@FUZZ
@given(st.lists(steps, max_size=40))
def test_tls_accept_and_wrap_never_raise_and_counts_stay_right(script):
    run_script(script, tls=True)


def test_more_failures_than_one_turn_handles_are_taken_over_several_turns():
    script = [Fail("ECONNABORTED")] * 200 + [Connect(0, "ok")]
    run_script(script, tls=False)
