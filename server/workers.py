"""`selchat-server --workers N`: N server processes on one port, and the parent that keeps them.

Each worker is an ordinary `selchat-server` (its own process, its own select loop) started again
from the same command line, with three hidden options added: `--port` set to the port the parent
picked, `--worker-index` and `--supervisor-fd`. Its listening socket has `SO_REUSEPORT`, so the
kernel spreads incoming connections over the workers' sockets (on Linux, by a hash of the
connection's addresses and ports; a worker does not take connections from another's queue).

The parent serves no client. It
- **reserves the port** (and `--irc-port`'s): it binds (without listening) a `SO_REUSEPORT` socket
  first, so `--port 0` picks one port for all, a port in use is reported before any worker starts, and the port stays
  taken while a worker restarts. A socket that only binds gets no connections: Linux hands them to
  listening sockets only;
- **starts the workers** and waits for each to say `ready` on its socketpair (after it listens);
  it logs `listening on HOST:PORT with N workers` once all have. A worker that exits before it
  is ready stops them all, and the parent exits non-zero;
- **restarts a worker that dies**, after a delay that doubles with each death in a row
  (`restart_delay`), so a crash loop cannot spin; a worker up for `STABLE_AFTER` seconds starts
  the count again. Its users are disconnected and reconnect, landing on the other workers;
- **drains**: on SIGTERM or SIGINT it asks every worker to drain, each does its usual shutdown
  (notify, flush, close within 3 s), and the parent exits 0 when all have exited. On a second
  signal it tells them to stop at once and exits 130.

It asks over the socketpair, not by a signal, because a stop often signals the workers too
(Ctrl-C in a terminal signals the whole process group; so does systemd, by default): the worker
side (`server/supervised.py`) makes all of that one drain. The socketpair is also each worker's
lifeline: if the parent dies (even of SIGKILL), the worker reads end-of-file and shuts down, so
no orphan keeps the port.

In chat mode every worker holds a room, so more than one worker needs `--broker` to share it;
echo and upper modes have no shared state and need none (`refusal`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

from .loop import READ, Loop, Timer
from .supervised import DRAIN, READY, STOP, read_channel

log = logging.getLogger("selchat.server")

RESTART_DELAY_FIRST = 0.1  # seconds before a worker that died is started again
RESTART_DELAY_MAX = 30.0  # the delay doubles with each death in a row, up to this
STABLE_AFTER = 30.0  # a worker up this long counts as healthy: its next death restarts quickly
START_TIMEOUT = 30.0  # workers not ready this long after the start: give up, exit 1
DRAIN_TIMEOUT = 10.0  # workers still running this long after they were asked to drain are killed


# --- options -------------------------------------------------------------------------------


def worker_count(text: str) -> int:
    """`--workers`: a number of processes, or `auto` for one per CPU."""
    if text == "auto":
        return os.cpu_count() or 1
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or auto, not {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return count


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=worker_count, metavar="N",
                        help="run N server processes on one port (SO_REUSEPORT; the kernel spreads "
                             "connections over them), restarted if they die; `auto` = one per CPU. "
                             "In chat mode more than one needs --broker to share the room; echo and "
                             "upper modes need none (default: one process, no supervisor)")
    # Set by the supervisor on the command lines of its workers.
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-fd", type=int, help=argparse.SUPPRESS)


def refusal(args: argparse.Namespace) -> str:
    """Why these options cannot run as `--workers N`, or "" if they can."""
    if args.workers > 1 and args.mode == "chat" and not args.broker:
        return (f"--workers {args.workers} in chat mode needs --broker redis://HOST:PORT: each worker "
                "is a process with a room of its own, and without a broker to share the room, users "
                "on different workers would not see each other (echo and upper modes need no broker)")
    if args.irc_port is not None and args.mode != "chat":  # as the server says; said once, not by each worker
        return "--irc-port needs --mode chat (IRC users join the chat room)"
    if args.dashboard:
        return "--dashboard shows one process's loop: run it without --workers"
    return ""


def worker_argv(argv: list[str], *, index: int, port: int, supervisor_fd: int,
                node_id: str | None, irc_port: int | None = None) -> list[str]:
    """A worker's options: the parent's, with the picked ports and the worker's identity after
    them (argparse keeps the last value given, however the parent's were spelled)."""
    extra = ["--port", str(port), "--worker-index", str(index), "--supervisor-fd", str(supervisor_fd)]
    if irc_port is not None:
        extra += ["--irc-port", str(irc_port)]
    if node_id:
        # Each node of a cluster needs its own id; without one given, the default is per process.
        extra += ["--node-id", f"{node_id}-{index}"]
    return [*without_broker(argv), *extra]


def without_broker(argv: list[str]) -> list[str]:
    """`argv` less its --broker URL: a worker gets it in its environment (SELCHAT_BROKER), since a
    URL may hold a password and anyone may read a process's command line."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--broker":
            skip = True
        elif not word.startswith("--broker="):
            kept.append(word)
    return kept


def restart_delay(deaths_in_a_row: int) -> float:
    """Seconds to wait before starting a worker again after its n-th death in a row."""
    return min(RESTART_DELAY_FIRST * 2 ** max(deaths_in_a_row - 1, 0), RESTART_DELAY_MAX)


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"


# --- the parent ------------------------------------------------------------------------------


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: it holds the port for the workers' listeners
    and receives no connections itself."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class Worker:
    """One worker slot: the process now in it and how it has fared."""

    index: int
    proc: subprocess.Popen | None = None
    channel: socket.socket | None = None  # the parent's end of the socketpair
    started: float = 0.0
    ready: bool = False
    deaths_in_a_row: int = 0
    restart: Timer | None = None
    inbox: bytearray = field(default_factory=bytearray)

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0


class Supervisor:
    """Starts `count` workers with `spawn(index, fd)`, keeps them running, drains them on a signal."""

    def __init__(self, loop: Loop, count: int, spawn: Callable[[int, int], subprocess.Popen],
                 address: str) -> None:
        self.loop = loop
        self.spawn = spawn
        self.address = address  # HOST:PORT, for the log
        self.workers = [Worker(index) for index in range(1, count + 1)]
        self.starting = True
        self.stopping = False
        self.exit_status = 0
        self._start_timer: Timer | None = None
        self._kill_timer: Timer | None = None

    def start(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self.drain)
        self.loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for worker in self.workers:
            self._start(worker)
        self._start_timer = self.loop.call_later(START_TIMEOUT, self._start_timed_out)

    def run(self) -> int:
        self.start()
        self.loop.run()
        return self.exit_status

    # --- starting and restarting ---------------------------------------------------------------

    def _start(self, worker: Worker) -> None:
        worker.restart = None
        ours, theirs = socket.socketpair()
        try:
            worker.proc = self.spawn(worker.index, theirs.fileno())
        except Exception as exc:  # out of processes or memory, say: never a worker fewer unsaid
            ours.close()
            if self.starting:
                log.error("cannot start worker %d: %s", worker.index, exc)
                self._fail(1)
            else:
                log.error("cannot start worker %d: %s; trying again in %.1f s", worker.index, exc,
                          self._restart_later(worker))
            return
        finally:
            theirs.close()  # the worker holds it now; its end-of-file must mean the worker is gone
        ours.setblocking(False)
        worker.channel = ours
        worker.started = self.loop.now
        worker.ready = False
        worker.inbox.clear()
        self.loop.register(ours, READ, lambda mask, worker=worker: self._heard(worker))
        log.debug("worker %d started (pid %d)", worker.index, worker.pid)

    def _heard(self, worker: Worker) -> None:
        data = read_channel(worker.channel)
        if data is None:
            return
        if not data:  # the worker has exited (SIGCHLD says how)
            self._close_channel(worker)
            return
        worker.inbox += data
        if not worker.ready and READY in worker.inbox:
            worker.ready = True
            self._ready(worker)
        del worker.inbox[:-len(READY)]  # only a ready line matters; keep what might be its start

    def _ready(self, worker: Worker) -> None:
        if self.stopping:
            return
        if not self.starting:
            log.info("worker %d is back (pid %d)", worker.index, worker.pid)
            return
        if all(w.ready for w in self.workers):
            self.starting = False
            self._start_timer.cancel()
            log.info("listening on %s with %d workers (pids %s)", self.address, len(self.workers),
                     " ".join(str(w.pid) for w in self.workers))

    def _start_timed_out(self) -> None:
        if self.starting and not self.stopping:
            late = [str(w.index) for w in self.workers if not w.ready]
            log.error("worker %s not ready after %.0f s: stopping", " ".join(late), START_TIMEOUT)
            self._fail(1)

    def _reap(self, signum: int | None = None) -> None:
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is not None:
                self._exited(worker)
        if self.stopping and not self._running():
            if self._kill_timer is not None:
                self._kill_timer.cancel()
            self.loop.stop()

    def _exited(self, worker: Worker) -> None:
        proc, worker.proc = worker.proc, None
        self._close_channel(worker)
        how = describe_exit(proc.returncode)
        if self.stopping:
            log.debug("worker %d (pid %d) %s", worker.index, proc.pid, how)
            return
        if self.starting:
            log.error("worker %d (pid %d) %s before it was ready: stopping", worker.index, proc.pid, how)
            self._fail(proc.returncode if proc.returncode > 0 else 1)
            return
        uptime = self.loop.now - worker.started
        if worker.ready and uptime >= STABLE_AFTER:
            worker.deaths_in_a_row = 0
        log.warning("worker %d (pid %d) %s after %.1f s; restarting it in %.1f s "
                    "(its users reconnect to the other workers)", worker.index, proc.pid, how, uptime,
                    self._restart_later(worker))

    def _restart_later(self, worker: Worker) -> float:
        """Start `worker` again after the back-off its deaths in a row call for; that delay."""
        worker.deaths_in_a_row += 1
        delay = restart_delay(worker.deaths_in_a_row)
        worker.restart = self.loop.call_later(delay, self._start, worker)
        return delay

    def _close_channel(self, worker: Worker) -> None:
        if worker.channel is not None:
            self.loop.unregister(worker.channel)
            worker.channel.close()
            worker.channel = None

    # --- stopping --------------------------------------------------------------------------------

    def _running(self) -> list[Worker]:
        return [w for w in self.workers if w.proc is not None]

    def drain(self, signum: int = signal.SIGTERM) -> None:
        """First signal: ask every worker to drain, and wait. Second: tell them to stop at once,
        and exit 130."""
        if self.stopping:
            log.warning("second interrupt: stopping the workers at once")
            self.exit_status = 130
        else:
            log.info("shutting down: draining %d workers", len(self._running()))
        self._stop_all()

    def _fail(self, status: int) -> None:
        self.exit_status = status
        self._stop_all()

    def _stop_all(self) -> None:
        """The first time, ask every worker to drain; after that, to stop at once."""
        first = not self.stopping
        self.stopping = True
        for worker in self.workers:
            if worker.restart is not None:
                worker.restart.cancel()
                worker.restart = None
            if worker.proc is None or worker.proc.poll() is not None:
                continue
            if worker.channel is not None:  # None: it has closed its end, it is exiting
                try:
                    worker.channel.send(DRAIN if first else STOP)
                except OSError:
                    pass  # it has just exited: SIGCHLD will say so
        if first:
            self._kill_timer = self.loop.call_later(DRAIN_TIMEOUT, self._kill_stragglers)
        self._reap()  # nothing running (say, every worker between restarts): stop now

    def _kill_stragglers(self) -> None:
        for worker in self._running():
            log.warning("worker %d (pid %d) still running %.0f s after it was asked to stop: killing it",
                        worker.index, worker.pid, DRAIN_TIMEOUT)
            worker.proc.kill()


def supervise(args: argparse.Namespace, argv: list[str]) -> int:
    """Run as the parent of `args.workers` workers until a signal; the process's exit status."""
    why = refusal(args)
    if why:
        log.error("%s", why)
        return 2
    reserved = []  # the client port's socket, then the IRC port's
    for what, wanted in (("", args.port), (" for IRC", args.irc_port)):
        if wanted is None:
            continue
        try:
            reserved.append(reserve_port(args.host, wanted))
        except OSError as exc:
            log.error("cannot listen%s on %s:%d: %s", what, args.host, wanted, exc.strerror)
            for sock in reserved:
                sock.close()
            return 1
    host, port = reserved[0].getsockname()[:2]
    irc_port = reserved[1].getsockname()[1] if len(reserved) > 1 else None

    def spawn(index: int, fd: int) -> subprocess.Popen:
        command = [sys.executable, "-m", "selchat.server",
                   *worker_argv(argv, index=index, port=port, supervisor_fd=fd, node_id=args.node_id,
                               irc_port=irc_port)]
        env = dict(os.environ)
        if args.broker:
            env["SELCHAT_BROKER"] = args.broker
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(fd,), env=env)

    log.info("starting %d workers on %s:%d%s (mode=%s)", args.workers, host, port,
             f", IRC on {irc_port}" if irc_port is not None else "", args.mode)
    try:
        status = Supervisor(Loop(), args.workers, spawn, f"{host}:{port}").run()
    finally:
        for sock in reserved:
            sock.close()
    if status == 0:
        log.info("stopped")
    return status
