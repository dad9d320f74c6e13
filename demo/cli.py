"""`selchat-demo`: the several-terminals demo in one command.

It opens a tmux session with a tracing server, selchat clients, a raw `nc`-style client and a
note of what to try (see `layout`), attaches to it, and removes the session, and so the server,
when you detach or close the terminal.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys

from selchat.server.chat import Mode
from selchat.server.loop import BACKENDS

from .cluster import start_cluster_demo
from .layout import MAX_CLIENTS, DemoOptions, DemoStartError, pick_free_port, start_demo
from selchat.bench.redis import INSTALL_HINT as REDIS_INSTALL_HINT, redis_server_path

from .tmux import INSTALL_HINT, Tmux, TmuxError, find_tmux

# The session's size before a terminal attaches (with --detach there may never be one):
# roomy enough for two selchat clients side by side.
DETACHED_SIZE = (160, 48)


def client_count(text: str) -> int:
    """argparse type: how many selchat clients, within what the layout has nicks for."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= count <= MAX_CLIENTS:
        raise argparse.ArgumentTypeError(f"{count}: choose 1 to {MAX_CLIENTS} clients")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selchat-demo",
        description="Open a tmux session with a selchat server that traces its loop, selchat "
                    "clients and a raw nc-style client, and watch one process serve them all.",
        epilog="Inside: Ctrl+B then an arrow moves between panes, Ctrl+B d ends the demo.",
    )
    parser.add_argument("--mode", choices=[m.value for m in Mode], default="chat",
                        help="the server's mode (default: %(default)s)")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="auto",
                        help="the server's selectors backend (default: %(default)s)")
    parser.add_argument("--clients", type=client_count, default=2, metavar="N",
                        help=f"how many selchat TUI clients, 1-{MAX_CLIENTS} (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, metavar="N", help="server port (default: a free one)")
    parser.add_argument("--dashboard", action="store_true",
                        help="show the server's live dashboard instead of its --trace log")
    parser.add_argument("--raw-client", choices=["auto", "nc", "python"], default="auto",
                        help="the raw client: nc, our Python one, or nc when installed (default: %(default)s)")
    parser.add_argument("--irc", action="store_true",
                        help="serve IRC too (the room as #selchat), with an irssi pane when irssi is installed")
    parser.add_argument("--cluster", action="store_true",
                        help="two nodes on one Redis (started for you; needs redis-server and hiredis), "
                             "clients dealt over them, and a pane showing the room in Redis")
    parser.add_argument("--session", default="selchat-demo", metavar="NAME", help="tmux session name (default: %(default)s)")
    parser.add_argument("--detach", action="store_true",
                        help="start the session without attaching to it (for scripts and tests)")
    parser.add_argument("--stop", action="store_true", help="stop a running demo session and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    executable = find_tmux()
    if executable is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    tmux = Tmux(executable)
    try:
        if args.stop:
            return stop(tmux, args.session)
        return run(tmux, args)
    except TmuxError as exc:
        print(f"selchat-demo: tmux failed: {exc}", file=sys.stderr)
        return 1


def stop(tmux: Tmux, session: str) -> int:
    if tmux.kill_session(session):
        print(f"stopped the demo (tmux session {session})")
    else:
        print(f"no demo running (no tmux session {session})")
    return 0


def run(tmux: Tmux, args: argparse.Namespace) -> int:
    if tmux.has_session(args.session):
        print(f"selchat-demo: a tmux session {args.session} is already running.\n"
              f"  look at it:  tmux attach -t {args.session}\n"
              f"  stop it:     selchat-demo --stop --session {args.session}", file=sys.stderr)
        return 1
    options = DemoOptions(session=args.session, mode=args.mode, backend=args.backend, clients=args.clients,
                          dashboard=args.dashboard, raw_client=args.raw_client, irc=args.irc)
    if args.raw_client == "nc" and shutil.which("nc") is None:
        print("selchat-demo: --raw-client nc, but nc is not installed", file=sys.stderr)
        return 1
    if args.cluster:
        return run_cluster(tmux, args, options)
    options.port = args.port or pick_free_port(options.host)
    if args.irc:
        if args.mode != "chat":
            print("selchat-demo: --irc needs --mode chat (IRC users join the chat room)", file=sys.stderr)
            return 1
        options.irc_port = pick_free_port(options.host)
        if options.irssi is None:
            print(f"selchat-demo: irssi is not installed (apt-get install irssi), so there is no IRC pane;\n"
                  f"  any IRC client can join: irssi -c {options.host} -p {options.irc_port}")
    width, height = DETACHED_SIZE if args.detach else shutil.get_terminal_size(DETACHED_SIZE)
    try:
        start_demo(tmux, options, width, height)
    except DemoStartError as exc:
        print(f"selchat-demo: {exc}", file=sys.stderr)
        return 1
    if args.detach:
        irc = f", IRC on {options.irc_port}" if options.irc else ""
        print(f"The demo runs in tmux session {args.session} (server on {options.host}:{options.port}{irc}).\n"
              f"  watch it:  tmux attach -t {args.session}\n"
              f"  stop it:   selchat-demo --stop" + (f" --session {args.session}" if args.session != "selchat-demo" else ""))
        return 0
    return attach_until_done(tmux, args.session)


def run_cluster(tmux: Tmux, args: argparse.Namespace, options: DemoOptions) -> int:
    """The --cluster demo: refuse what it cannot do before opening anything, then lay it out."""
    if args.mode != "chat" or args.irc or args.port:
        print("selchat-demo: --cluster runs two chat nodes on ports of its own; it takes no --mode, --irc "
              "or --port", file=sys.stderr)
        return 1
    if args.clients < 2:
        print("selchat-demo: --cluster needs --clients 2 or more (a client on each node)", file=sys.stderr)
        return 1
    if redis_server_path() is None:
        print(f"selchat-demo: {REDIS_INSTALL_HINT}", file=sys.stderr)
        return 1
    if importlib.util.find_spec("hiredis") is None:
        print("selchat-demo: cluster mode needs hiredis: install selchat[cluster] (uv sync --extra cluster)",
              file=sys.stderr)
        return 1
    width, height = DETACHED_SIZE if args.detach else shutil.get_terminal_size(DETACHED_SIZE)
    try:
        ports = start_cluster_demo(tmux, options, width, height)
    except DemoStartError as exc:
        print(f"selchat-demo: {exc}", file=sys.stderr)
        return 1
    if args.detach:
        print(f"The cluster demo runs in tmux session {args.session} (Redis on {options.host}:{ports['redis']}, "
              f"nodes on {ports['n1']} and {ports['n2']}).\n"
              f"  watch it:  tmux attach -t {args.session}\n"
              f"  stop it:   selchat-demo --stop" + (f" --session {args.session}" if args.session != "selchat-demo" else ""))
        return 0
    return attach_until_done(tmux, args.session)


def attach_until_done(tmux: Tmux, session: str) -> int:
    """Show the session; remove it when the user leaves, however they leave."""
    # Detaching, or the terminal closing under tmux (which detaches its client), ends the demo even
    # if this process is gone by then.
    tmux.run("set-hook", "-t", f"={session}:", "client-detached", f"kill-session -t ={session}")
    if os.environ.get("TMUX"):
        # Already inside tmux: attaching would nest one tmux in another; show it in this client.
        try:
            tmux.switch_to(session)
        except TmuxError as exc:  # e.g. this tmux is another server (tmux -L) than the demo's
            print(f"selchat-demo: the demo runs in tmux session {session}, but this tmux client "
                  f"cannot switch to it ({exc}).\n  look at it:  tmux switch-client -t {session}\n"
                  f"  stop it:     selchat-demo --stop --session {session}", file=sys.stderr)
            return 0
        # The detach hook may not fire for a client that switched here: say how to end it.
        print(f"switched to tmux session {session}; `selchat-demo --stop` ends it")
        return 0
    tmux.attach(session)
    tmux.kill_session(session)
    print("demo over: the server and clients are stopped")
    return 0
