"""The worker's side of `selchat-server --workers N` (the parent is server/workers.py).

A worker is an ordinary server that also holds one end of a socketpair to its parent. It writes
`READY` once it listens. The parent writes `DRAIN` (shut down as on SIGTERM) or, after a second
signal, `STOP` (at once). End-of-file means the parent has died: the worker drains, so no orphan
keeps serving on the port.

A stop often reaches a worker twice: its own SIGTERM or SIGINT (systemd signals every process of
the service by default; Ctrl-C signals the terminal's whole process group) and its parent's
`DRAIN`, in either order. The single server takes a second signal to mean "stop at once", so a
worker counts only its own signals: one that comes while it is already draining at its parent's
request is the same stop, and only a second one of its own stops it at once.
"""

from __future__ import annotations

import logging
import os
import signal
import socket

from .loop import READ, Loop

log = logging.getLogger("selchat.server")

READY = b"ready\n"  # worker to parent, once it listens
DRAIN = b"drain\n"  # parent to worker: shut down as on SIGTERM
STOP = b"stop\n"  # parent to worker: the operator insisted; stop at once


def label_log(index: int) -> None:
    """Start every log line of this worker with its index and pid (the workers share stderr)."""
    formatter = logging.Formatter(f"%(asctime)s %(levelname)s worker {index} (pid {os.getpid()}): %(message)s",
                                  datefmt="%H:%M:%S")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def report_to_supervisor(loop: Loop, fd: int, service) -> None:
    """Tell the parent on `fd` that this worker listens; from now on SIGINT and SIGTERM, and the
    parent's requests, shut `service` down (a `Service`: `shutting_down`, `shutdown()`)."""
    channel = socket.socket(fileno=fd)
    channel.sendall(READY)
    channel.setblocking(False)
    own_signals = 0

    def drain(level: int, why: str) -> None:
        if not service.shutting_down:
            log.log(level, "%s", why)
            service.shutdown()

    def stop_now() -> None:
        drain(logging.INFO, "the supervisor says stop")
        service.shutdown()  # the second call: stop at once

    def on_signal(signum: int) -> None:
        nonlocal own_signals
        own_signals += 1
        if own_signals == 1 and service.shutting_down:
            return  # draining at the parent's request already: the same stop
        service.shutdown()

    def heard(mask: int) -> None:
        data = read_channel(channel)
        if data is None:
            return
        if not data:
            loop.unregister(channel)
            channel.close()
            drain(logging.WARNING, "the supervisor has gone: shutting down")
        elif STOP in data:
            stop_now()
        elif DRAIN in data:
            drain(logging.INFO, "the supervisor asks this worker to drain")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    loop.register(channel, READ, heard)


def read_channel(channel: socket.socket) -> bytes | None:
    """One read of the parent-worker socketpair: the bytes, b"" once the other end is gone (or
    broke), None if nothing is there yet."""
    try:
        return channel.recv(512)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""
