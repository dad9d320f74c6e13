"""`selchat-server`: parse options, build the loop and the room, run until a signal."""

from __future__ import annotations

import argparse
import logging
import math
import os
import resource
import signal
import socket
import ssl
import sys

from . import __version__
from . import supervised, workers
from .chat import Mode, Room
from .events import Error
from .protocol import DEFAULT_MAX_LINE, encode_text
from .loop import BACKENDS, FD_SETSIZE, backend_name
from .network import Reactor
from .service import Service

log = logging.getLogger("selchat.server")

# Descriptors the process keeps for itself: listener, waker pair, stdio, logging, imports.
RESERVED_FDS = 32


def refusal_line(reason: str) -> bytes:
    """How a refused connection is told why: the text dialect's error line, which `nc` shows as
    is and the client recognises (a refused peer has not said which dialect it speaks)."""
    return encode_text(Error("refused", reason))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selchat-server",
        description="A chat / echo / upper-case line server on one selectors loop. "
                    "Talk to it with `selchat`, `nc HOST PORT` or telnet.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 or :: for every interface) (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8081, help="TCP port; 0 picks a free one and logs it (default: %(default)s)")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default="chat",
                        help="chat: lines go to everyone; echo: each line comes back; upper: comes back upper-cased (default: %(default)s)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="auto",
                        help="selectors backend; auto picks the best this platform has (default: %(default)s)")
    parser.add_argument("--max-clients", type=int, default=10_000,
                        help="connections served at once; more are told 'server full' (lowered to what "
                             "`ulimit -n`, and FD_SETSIZE for select, allow) (default: %(default)s)")
    parser.add_argument("--max-line", type=int, default=DEFAULT_MAX_LINE,
                        help="longest accepted line in bytes; longer lines are refused with an error (default: %(default)s)")
    parser.add_argument("--max-sendq", type=int, default=1 << 20,
                        help="bytes a client may leave unread (queued after a send) for 2 s, or 4x this in one "
                             "turn, before it is dropped as too slow (default: %(default)s)")
    parser.add_argument("--irc-port", type=int, metavar="PORT",
                        help="also serve IRC clients (irssi, WeeChat...) on this port, the room as #selchat; "
                             "0 picks a free one (chat mode only; default: off)")
    parser.add_argument("--history", type=int, default=50, help="chat lines replayed to each newcomer (default: %(default)s)")
    cluster = parser.add_argument_group("cluster (docs/cluster.md; needs selchat[cluster])")
    cluster.add_argument("--broker", metavar="URL", default=os.environ.get("SELCHAT_BROKER") or None,
                         help="share the room with every node on this Redis: redis://[[user]:password@]HOST"
                              "[:PORT][/DB], rediss:// for TLS (chat mode only; default: $SELCHAT_BROKER, "
                              "which keeps a password out of the process list, else off: one process)")
    cluster.add_argument("--room", help="the room's name in Redis, so one Redis can hold several "
                                        "(default: selchat)")
    cluster.add_argument("--node-id", metavar="ID",
                         help="this node's name in the cluster (default: host-pid-random, unique per process)")
    limits = parser.add_argument_group("abuse limits (0 turns a limit off)")
    limits.add_argument("--rate", type=float, default=None,
                        help="lines a second one connection may send on average; faster lines are "
                             "delayed, not dropped, and the sender is told (default: 10 in chat mode, "
                             "0 = off in echo and upper, where a flooder only gets its own replies)")
    limits.add_argument("--burst", type=float, default=None,
                        help="lines one connection may send at once before --rate applies (default: 30)")
    limits.add_argument("--idle-timeout", type=float, default=900.0,
                        help="seconds a connection may go without sending a complete line before it is "
                             "closed; JSON clients are pinged halfway (default: %(default)s)")
    limits.add_argument("--max-per-ip", type=int, default=None,
                        help="connections from one address at once (default: 64 for remote addresses, "
                             "loopback not counted; a value given explicitly holds for loopback too)")
    access = parser.add_argument_group("access")
    access.add_argument("--password-file", metavar="PATH",
                        help="require the password on this file's first line (text: /pass, JSON: in the hello)")
    access.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    access.add_argument("--tls-key", metavar="PEM", help="the certificate's private key (if not in --tls-cert)")
    parser.add_argument("--trace", action="store_true",
                        help="log every loop turn's ready descriptors (and nicks): the multiplexing, visible")
    parser.add_argument("--dashboard", action="store_true",
                        help="show a live view of connections and loop turns (needs Textual, which the "
                             "selchat client installs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every connect and disconnect")
    parser.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    workers.add_arguments(parser)
    parser.add_argument("--version", action="version", version=f"selchat-server {__version__}")
    return parser


def apply_mode_defaults(args: argparse.Namespace) -> None:
    """Limits left unset get the default that fits the mode: flood control is a chat policy, and
    the per-address limit is against remote hogs, not local demos and benchmarks."""
    if args.rate is None:
        args.rate = 10.0 if args.mode == "chat" else 0.0
    if args.burst is None:
        args.burst = 30.0
    # Explicit --max-per-ip: the user asked for that limit, so it holds for every address.
    args.count_loopback = args.max_per_ip is not None
    if args.max_per_ip is None:
        args.max_per_ip = 64


def allowed_clients(wanted: int, backend: str) -> int:
    """Raise the descriptor limit as far as allowed and cap `wanted` to what fits in it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, wanted + RESERVED_FDS)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    allowed = min(wanted, soft - RESERVED_FDS)
    limits = [f"ulimit -n is {soft}"]
    if backend == "select":
        allowed = min(allowed, FD_SETSIZE - RESERVED_FDS)
        limits.append(f"select() watches fds below {FD_SETSIZE}")
    if allowed < wanted:
        log.warning("--max-clients %d lowered to %d (%s)", wanted, allowed, "; ".join(limits))
    return max(allowed, 1)


def read_password(path: str) -> str:
    """The password is the file's first line, so it stays out of `ps` and shell history.

    Read as `/pass` reads its argument: without a byte-order mark (editors on Windows add one)
    and without surrounding whitespace, so a stray space or CRLF cannot lock text users out.
    """
    with open(path, encoding="utf-8-sig") as file:
        password = file.readline().strip()
    if not password:
        raise ValueError(f"--password-file {path}: the first line is empty")
    return password


def tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def open_listener(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # A deep backlog: a join storm of thousands must queue in the kernel, not be refused (the seed's
    # listen(5) refused the sixth).
    return socket.create_server((host, port), family=family, backlog=4096, reuse_port=reuse_port)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    apply_mode_defaults(args)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr,
    )
    if args.supervisor_fd is not None:  # a worker of `--workers N` (server/workers.py)
        supervised.label_log(args.worker_index)
    if args.max_line < 16 or args.max_sendq < args.max_line or args.history < 0:
        log.error("need --max-line >= 16, --max-sendq >= --max-line and --history >= 0")
        return 2
    if min(args.rate, args.burst, args.idle_timeout, args.max_per_ip) < 0:
        log.error("limits cannot be negative (0 turns one off)")
        return 2
    for option in ("rate", "burst", "idle_timeout"):
        if not math.isfinite(getattr(args, option)):
            # nan gets past `< 0` and stops every timer; inf means "no limit", which 0 already says.
            log.error("--%s must be a finite number of %s, not %s (0 turns the limit off)",
                      option.replace("_", "-"), "seconds" if option == "idle_timeout" else "lines",
                      getattr(args, option))
            return 2
    if args.tls_key and not args.tls_cert:
        log.error("--tls-key needs --tls-cert")
        return 2
    try:
        password = read_password(args.password_file) if args.password_file else None
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (OSError, ValueError, ssl.SSLError) as exc:
        log.error("%s", exc)
        return 2
    cluster = None
    if args.broker is None and (args.room is not None or args.node_id is not None):
        log.error("--room and --node-id are for cluster mode: give --broker redis://HOST:PORT too")
        return 2
    args.room = args.room or "selchat"
    if args.broker is not None:
        from .cluster.serve import ClusterSetupError, cluster_settings
        try:
            cluster = cluster_settings(args.broker, args.room, args.node_id, args.mode, args.history)
        except ClusterSetupError as exc:
            log.error("%s", exc)
            return 2
    if args.workers is not None and args.supervisor_fd is None:
        return workers.supervise(args, argv)
    selector = BACKENDS[args.backend]()
    reactor = Reactor(selector, max_sendq=args.max_sendq, max_per_peer=args.max_per_ip,
                      count_loopback=args.count_loopback, trace=args.trace,
                      max_connections=allowed_clients(args.max_clients, backend_name(selector)),
                      refusal=refusal_line)
    try:
        listener = open_listener(args.host, args.port, reuse_port=args.supervisor_fd is not None)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.host, args.port, exc.strerror)
        return 1
    if cluster is None:
        room = Room(Mode(args.mode), history=args.history, max_line=args.max_line,
                    server_name=f"selchat {__version__}", password=password)
    else:
        from .cluster.room import ClusterRoom
        room = ClusterRoom(history=args.history, max_line=args.max_line,
                           server_name=f"selchat {__version__}", password=password)
    service = Service(reactor, room, rate=args.rate, burst=args.burst, idle_timeout=args.idle_timeout)
    if cluster is not None:
        from .cluster import serve
        serve.start(cluster, reactor, service)
        log.info("cluster: room %s on %s as node %s", args.room, cluster.config.url,
                 cluster.config.node_id)
    reactor.listen(listener, service.make_session, tls)
    if args.irc_port is not None:  # IRC (server/irc/): the same room on its own port, logged first
        if room.mode is not Mode.CHAT:
            log.error("--irc-port needs --mode chat (IRC users join the chat room as #selchat)")
            return 2
        from .irc.gateway import IrcGateway
        from .irc.registration import ServerInfo
        try:
            irc_listener = open_listener(args.host, args.irc_port, reuse_port=args.supervisor_fd is not None)
        except OSError as exc:
            log.error("cannot listen for IRC on %s:%d: %s", args.host, args.irc_port, exc.strerror)
            return 1
        channel = f"#{args.room}" if cluster is not None else "#selchat"
        gateway = IrcGateway(service, ServerInfo(version=f"selchat-{__version__}", channel=channel,
                                                 motd=(f"one room: /join {channel}",)))
        reactor.listen(irc_listener, gateway.make_session, tls, refusal=gateway.refusal)
        irc_host, irc_port = irc_listener.getsockname()[:2]
        log.info("irc on %s:%d (%s%s%s)", irc_host, irc_port, channel, ", tls" if tls else "",
                 ", password" if password else "")
    for signum in (signal.SIGINT, signal.SIGTERM):
        reactor.add_signal_handler(signum, service.shutdown)
    host, port = listener.getsockname()[:2]
    log.info("listening on %s:%d (mode=%s, backend=%s%s%s)", host, port, args.mode, reactor.backend,
             ", tls" if tls else "", ", password" if password else "")
    if args.host in ("0.0.0.0", "::", ""):
        log.warning("listening on every interface: anyone who can reach this machine can join")
    if args.dashboard:
        try:
            from .dashboard import run_dashboard
        except ImportError as exc:
            log.error("--dashboard needs Textual (%s); the plain server runs without it", exc)
            return 2
        return run_dashboard(reactor, service)
    if args.supervisor_fd is not None:
        supervised.report_to_supervisor(reactor, args.supervisor_fd, service)
    reactor.run()
    log.info("stopped")
    return 130 if service.forced else 0


if __name__ == "__main__":
    sys.exit(main())
