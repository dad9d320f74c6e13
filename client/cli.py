"""`selchat`: the command line of the terminal client."""

from __future__ import annotations

import argparse
import getpass
import os
import ssl
import sys
from dataclasses import dataclass

from .failover import ServerAddress, parse_server, parse_server_list

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


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


def server_address(text: str) -> ServerAddress:
    """argparse type: `HOST:PORT`, `HOST` or `[IPv6]:PORT`."""
    try:
        return parse_server(text, DEFAULT_PORT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def resolve_servers(args: argparse.Namespace, parser: argparse.ArgumentParser,
                    env: dict[str, str] | None = None) -> list[ServerAddress]:
    """The servers to use, in order: `--server`s; else `--host`/`--port` if given; else
    `SELCHAT_SERVERS`; else `SELCHAT_HOST`/`SELCHAT_PORT` and the defaults.  Options win over the
    environment; `--server` with `--host` or `--port` is a usage error (which would be meant?)."""
    env = os.environ if env is None else env
    if args.server:
        if args.host is not None or args.port is not None:
            parser.error("--server replaces --host and --port: give HOST:PORT to --server")
        return list(args.server)
    if args.host is None and args.port is None and env.get("SELCHAT_SERVERS", "").strip():
        try:
            return parse_server_list(env["SELCHAT_SERVERS"], DEFAULT_PORT)
        except ValueError as exc:
            parser.error(f"SELCHAT_SERVERS: {exc}")
    host = args.host or env.get("SELCHAT_HOST") or DEFAULT_HOST
    port = args.port
    if port is None:
        try:
            port = port_number(env.get("SELCHAT_PORT") or str(DEFAULT_PORT))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"SELCHAT_PORT: {exc}")
    return [ServerAddress(host, port)]


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="selchat",
        description="Chat in a selchat room from the terminal. Reconnects by itself and never "
                    "drops what you typed.",
        epilog="Keys: Enter send, Up/Down history, Tab complete nick, PgUp/PgDn scroll, "
               "Ctrl+P command palette, Ctrl+Q quit. Type /help inside for commands.",
    )
    parser.add_argument("--server", metavar="HOST:PORT", action="append", type=server_address,
                        help="a server of the room; give it several times to fail over between "
                             "them, in order ([::1]:8081 for IPv6; env SELCHAT_SERVERS, "
                             "comma-separated; default --host and --port)")
    # The defaults are filled in by `resolve_servers`: it must know whether these were given.
    parser.add_argument("--host", default=None,
                        help=f"server host (env SELCHAT_HOST, default {DEFAULT_HOST})")
    parser.add_argument("--port", type=port_number, default=None,
                        help=f"server port (env SELCHAT_PORT, default {DEFAULT_PORT})")
    parser.add_argument("--nick", default=env.get("SELCHAT_NICK") or default_nick(),
                        help="nick to ask for (env SELCHAT_NICK, default your login name: "
                             "%(default)s)")
    parser.add_argument("--log-file", metavar="PATH",
                        help="append the conversation to this file as plain text lines, each "
                             "after the date and time it was shown")
    secure = parser.add_argument_group("TLS and password")
    secure.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None,
                        help="connect with TLS, trusting the system's certificate authorities "
                             "(env SELCHAT_TLS=1); --no-tls overrides the environment")
    secure.add_argument("--tls-ca", metavar="PEM",
                        help="trust only the certificates in this file (a private CA or the "
                             "server's self-signed certificate); implies --tls (env SELCHAT_TLS_CA)")
    secure.add_argument("--password-file", metavar="PATH",
                        help="send the server password on this file's first line (env "
                             "SELCHAT_PASSWORD holds the password itself); without one, selchat "
                             "asks when the server wants it")
    return parser


@dataclass
class Security:
    """What `--tls`, `--tls-ca` and the password came to."""

    tls: ssl.SSLContext | None = None
    password: str | None = None


def read_password(path: str) -> str:
    """The password is the file's first line, so it stays out of `ps` and shell history."""
    with open(path, encoding="utf-8") as file:
        password = file.readline().rstrip("\r\n")
    if not password:
        raise ValueError("the first line is empty")
    return password


def resolve_security(args: argparse.Namespace, parser: argparse.ArgumentParser,
                     env: dict[str, str] | None = None) -> Security:
    """Combine options and environment (options win); `parser.error` on anything unusable."""
    env = os.environ if env is None else env
    ca = args.tls_ca
    if args.tls is False:
        if ca:
            parser.error("--no-tls contradicts --tls-ca")
        use_tls = False
    else:
        ca = ca or env.get("SELCHAT_TLS_CA") or None
        switch = env.get("SELCHAT_TLS", "").strip().lower()
        if switch not in TRUE_WORDS | FALSE_WORDS:
            parser.error(f"SELCHAT_TLS={switch!r}: use 1 or 0")
        use_tls = args.tls is True or bool(ca) or switch in TRUE_WORDS
    security = Security()
    if use_tls:
        from .net import tls_context  # net imports asyncio: keep --help instant

        try:
            security.tls = tls_context(ca)
        except ssl.SSLError as exc:  # before OSError, which it is
            parser.error(f"--tls-ca {ca}: {(exc.reason or str(exc)).replace('_', ' ').lower()}")
        except OSError as exc:
            parser.error(f"--tls-ca {ca}: {exc.strerror or exc}")
    if args.password_file:
        try:
            security.password = read_password(args.password_file)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            parser.error(f"--password-file {args.password_file}: "
                         f"{getattr(exc, 'strerror', None) or exc}")
    elif env.get("SELCHAT_PASSWORD"):
        security.password = env["SELCHAT_PASSWORD"]
    return security


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the app; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    security = resolve_security(args, parser)
    servers = resolve_servers(args, parser)
    if args.log_file:
        try:  # fail now, with a usage message, not after the screen is up
            with open(args.log_file, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            parser.error(f"--log-file {args.log_file}: {exc.strerror or exc}")
    # Imported late so that `selchat --help` and argument errors stay instant.
    from .app import SelchatApp

    app = SelchatApp(servers[0].host, servers[0].port, args.nick, tls=security.tls,
                     password=security.password, log_file=args.log_file,
                     servers=servers if len(servers) > 1 else None)
    app.run()
    # Textual sets 1 when the app died of an exception: a crash must not look like a clean quit.
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
