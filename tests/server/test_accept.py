"""Accepting in-process: admission and refusals, accept() errors, the pause, TLS wrap failures."""

import errno
import os
import resource
import select
import selectors
import socket

import pytest

from looptools import Recorder, run_until
from selchat.server.loop import FD_SETSIZE
from selchat.server.network import Reactor, Transport


def test_max_connections_refuses_with_the_reason():
    reactor = Reactor(selectors.DefaultSelector(), max_connections=1, refusal=lambda reason: f"no: {reason}\n".encode())
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda transport: Recorder())
    first = socket.create_connection(listener.getsockname())
    second = socket.create_connection(listener.getsockname())
    second.settimeout(5)
    run_until(reactor, lambda: reactor.connection_count == 1)
    assert second.recv(100) == b"no: server full, try again later\n" and second.recv(100) == b""
    first.close()


def test_select_refuses_a_descriptor_past_fd_setsize_and_keeps_serving():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < FD_SETSIZE + 64:
        pytest.skip("needs more than FD_SETSIZE descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, FD_SETSIZE + 64), hard))
    filler = []
    try:
        reactor = Reactor(selectors.SelectSelector(), refusal=lambda reason: f"{reason}\n".encode())
        listener = socket.create_server(("127.0.0.1", 0))
        handlers = []
        reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
        served = socket.create_connection(listener.getsockname())
        run_until(reactor, lambda: handlers)
        while (fd := os.open(os.devnull, os.O_RDONLY)) < FD_SETSIZE:  # push new descriptors past 1023
            filler.append(fd)
        os.close(fd)
        refused = socket.create_connection(listener.getsockname())
        refused.settimeout(5)
        poller = select.poll()  # the test's own socket is past FD_SETSIZE too: select() can't watch it
        poller.register(refused, select.POLLIN)
        run_until(reactor, lambda: poller.poll(0))
        assert refused.recv(100) == b"server full, try again later\n"
        served.sendall(b"still served")
        run_until(reactor, lambda: handlers[0].data)
        assert handlers[0].data == b"still served"
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class ScriptedListener:
    """A real listening socket whose accept() first plays a script: exceptions to raise, or None
    for a real accept(). The loop sees it readable because a real connection waits on it."""

    def __init__(self, script: list) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.script = list(script)

    def fileno(self) -> int:
        return self.sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self.sock.setblocking(flag)

    def getsockname(self):
        return self.sock.getsockname()

    def accept(self):
        if self.script and (step := self.script.pop(0)) is not None:
            raise step
        return self.sock.accept()

    def close(self) -> None:
        self.sock.close()


LINUX_ACCEPT_ERRORS = ("ECONNABORTED", "ENETDOWN", "EPROTO", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
                       "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "ECONNRESET", "EPERM", "ETIMEDOUT")


def test_accept_errors_linux_reports_drop_that_connection_log_once_and_the_loop_accepts_on(caplog):
    errors = [OSError(getattr(errno, name), os.strerror(getattr(errno, name))) for name in LINUX_ACCEPT_ERRORS]
    listener = ScriptedListener(errors + errors)  # each kind twice: logged once
    reactor = Reactor(selectors.DefaultSelector())
    handlers = []
    reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
    client = socket.create_connection(listener.getsockname())
    run_until(reactor, lambda: handlers)
    assert reactor.connection_count == 1 and reactor.accept_failures == 2 * len(errors)
    dropped = [r.getMessage() for r in caplog.records if "dropped an incoming connection" in r.getMessage()]
    assert len(dropped) == len(errors)  # one line per kind: the second of each is only counted
    client.close()
    listener.close()


def test_an_unknown_accept_error_pauses_accepting_instead_of_raising_or_spinning(caplog):
    listener = ScriptedListener([OSError(errno.EINVAL, "Invalid argument")])
    reactor = Reactor(selectors.DefaultSelector())
    handlers = []
    reactor.listen(listener, lambda t: handlers.append(Recorder()) or handlers[-1])
    client = socket.create_connection(listener.getsockname())
    reactor.run_once()
    assert not handlers and any("accept() failed: Invalid argument" in r.getMessage() for r in caplog.records)
    run_until(reactor, lambda: handlers)  # after the pause, accepting resumes
    client.close()
    listener.close()


class FailingWrap:
    """A TLS context whose wrap_socket() fails as it does for a peer that reset before accept()."""

    def wrap_socket(self, sock, **kwargs):
        raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")


def test_a_tls_wrap_that_fails_drops_that_connection_uncounted_and_the_loop_serves_on():
    reactor = Reactor(selectors.DefaultSelector(), max_per_peer=1)
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda t: Recorder(), tls=FailingWrap())
    clients = [socket.create_connection(listener.getsockname()) for _ in range(3)]
    run_until(reactor, lambda: reactor.accept_failures == 3)
    assert reactor.connection_count == 0 and reactor.connections() == []
    for client in clients:
        client.settimeout(5)
        assert client.recv(10) == b""  # closed by the server, not left open
        client.close()


class RefusingSelector(selectors.DefaultSelector):
    """A selector that will not watch connections (as epoll does past max_user_watches)."""

    def register(self, fileobj, events, data=None):
        if isinstance(data, Transport):
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().register(fileobj, events, data)


def test_a_connection_the_selector_will_not_watch_is_dropped_and_uncounted():
    reactor = Reactor(RefusingSelector())
    listener = socket.create_server(("127.0.0.1", 0))
    reactor.listen(listener, lambda transport: Recorder())
    client = socket.create_connection(listener.getsockname())
    run_until(reactor, lambda: reactor.accept_failures == 1)
    assert reactor.connection_count == 0 and reactor.connections() == []
    client.settimeout(5)
    assert client.recv(10) == b""
    client.close()


def test_loopback_peers_are_not_counted_against_max_per_peer_unless_asked():
    from selchat.server.accept import is_loopback
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.5.0.1")
    assert not is_loopback("10.0.0.1") and not is_loopback("unix") and not is_loopback("")
    reactor = Reactor(selectors.DefaultSelector(), max_per_peer=1, count_loopback=False)
    reactor.conns._per_peer.update({"127.0.0.1": 5, "10.0.0.1": 1})
    listener = socket.socket()
    try:
        assert reactor.acceptor.refusal_reason(listener, "127.0.0.1") == ""
        assert "too many connections" in reactor.acceptor.refusal_reason(listener, "10.0.0.1")
        reactor.acceptor.count_loopback = True
        assert "too many connections" in reactor.acceptor.refusal_reason(listener, "127.0.0.1")
    finally:
        listener.close()
        reactor.selector.close()


def test_the_cli_defaults_fit_the_mode():
    from selchat.server.cli import apply_mode_defaults, build_parser

    def parsed(*argv):
        args = build_parser().parse_args(list(argv))
        apply_mode_defaults(args)
        return args.rate, args.burst, args.max_per_ip, args.count_loopback

    assert parsed() == (10.0, 30.0, 64, False)
    assert parsed("--mode", "echo") == (0.0, 30.0, 64, False)
    assert parsed("--mode", "upper") == (0.0, 30.0, 64, False)
    assert parsed("--mode", "echo", "--rate", "5") == (5.0, 30.0, 64, False)
    assert parsed("--max-per-ip", "3") == (10.0, 30.0, 3, True)
