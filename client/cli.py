"""`selchat`: the command line of the terminal client."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081


def default_nick() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers; the server picks a guest nick
        return ""


def port_number(text: str) -> int:
    """argparse type: a TCP port, with an error message a person can act on."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="selchat",
        description="Chat in a selchat room from the terminal. Reconnects by itself and never "
                    "drops what you typed.",
        epilog="Keys: Enter send, Up/Down history, Tab complete nick, PgUp/PgDn scroll, "
               "Ctrl+P command palette, Ctrl+Q quit. Type /help inside for commands.",
    )
    parser.add_argument("--host", default=env.get("SELCHAT_HOST", DEFAULT_HOST),
                        help="server host (env SELCHAT_HOST, default %(default)s)")
    parser.add_argument("--port", type=port_number,
                        default=env.get("SELCHAT_PORT", str(DEFAULT_PORT)),
                        help="server port (env SELCHAT_PORT, default %(default)s)")
    parser.add_argument("--nick", default=env.get("SELCHAT_NICK") or default_nick(),
                        help="nick to ask for (env SELCHAT_NICK, default your login name: "
                             "%(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the app; returns the exit status."""
    args = build_parser().parse_args(argv)
    # Imported late so that `selchat --help` and argument errors stay instant.
    from .app import SelchatApp

    SelchatApp(args.host, args.port, args.nick).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
