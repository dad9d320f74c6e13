"""What runs in which pane of the demo, and how the panes are laid out.

    ┌──────────────────────────┬───────────────┐
    │ selchat-server --trace   │ what to try   │
    ├──────────────────────────┴┬──────────────┤
    │ selchat --nick alice      │ selchat ...bob│   (one column per --clients)
    ├───────────────────────────┴──────────────┤
    │ raw client (nc): carol   │ irssi: ivan   │   (irssi with --irc, when installed)
    └──────────────────────────┴───────────────┘

Every pane runs `sys.executable -m ...` given as an argv list, which tmux executes directly with
no shell in between: it works under `uv run` or in a virtualenv without relying on PATH, and the
server pane's process is the server itself.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from pathlib import Path
from dataclasses import dataclass

from .tmux import Tmux, TmuxError

WINDOW_NAME = "selchat"
TUI_NICKS = ("alice", "bob", "dave", "erin", "frank", "grace")
RAW_NICK = "carol"
IRC_NICK = "ivan"
# irssi's own pacing (one command per 2.2 s after a burst) is turned down: a demo types fast.
IRSSI_CONFIG = """\
settings = {
  core = { user_name = "ivan"; real_name = "selchat demo"; };
  "irc/core" = { cmd_queue_speed = "10msec"; cmds_max_at_once = "50"; };
};
"""
MAX_CLIENTS = len(TUI_NICKS)
SERVER_START_TIMEOUT = 20.0
# Marks tmux's pane options with a role so tests and scripts can find each pane.
ROLE_OPTION = "@selchat-role"


@dataclass
class DemoOptions:
    """Everything that decides what the demo runs."""

    session: str = "selchat-demo"
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free one
    mode: str = "chat"
    backend: str = "auto"
    clients: int = 2
    dashboard: bool = False
    raw_client: str = "auto"  # "nc", "python" or "auto" (nc when installed)
    irc: bool = False  # serve IRC too (--irc-port), with an irssi pane when irssi is installed
    irc_port: int = 0

    @property
    def irssi(self) -> str | None:
        """irssi's path, when the demo should run it."""
        return shutil.which("irssi") if self.irc and self.mode == "chat" else None

    @property
    def nicks(self) -> list[str]:
        return list(TUI_NICKS[: self.clients])

    @property
    def server_view(self) -> str:
        """'dashboard' or 'trace': what the server pane shows (and the server's option for it)."""
        return "dashboard" if self.dashboard else "trace"

    @property
    def raw_nick(self) -> str:
        """The raw client's nick; in echo and upper modes there is no /nick, so a guest nick."""
        return RAW_NICK if self.mode == "chat" else "guest1"

    def raw_program(self) -> str:
        """'nc' or 'python': which raw client the demo will run."""
        if self.raw_client == "auto":
            return "nc" if shutil.which("nc") else "python"
        return self.raw_client


class DemoStartError(Exception):
    """The demo could not start; the message says why (the server's own output, if it failed)."""


def pick_free_port(host: str) -> int:
    """A port nobody listens on now. The server binds it a moment later; the race is harmless
    for a demo, and unlike `--port 0` it lets the clients be told the port up front."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def server_command(options: DemoOptions) -> list[str]:
    # No idle timeout: the raw client sends nothing while a presenter talks, and must not be
    # closed in the middle of a talk.
    irc = ["--irc-port", str(options.irc_port)] if options.irc and options.mode == "chat" else []
    return _python("selchat.server", "--host", options.host, "--port", str(options.port),
                   "--mode", options.mode, "--backend", options.backend, "--idle-timeout", "0",
                   *irc, f"--{options.server_view}")


def irssi_command(options: DemoOptions, irssi: str) -> list[str]:
    """irssi on a throwaway home (the user's ~/.irssi is never read or written)."""
    home = Path(tempfile.mkdtemp(prefix="selchat-demo-irssi-"))
    (home / "config").write_text(IRSSI_CONFIG)
    return [irssi, f"--home={home}", "-c", options.host, "-p", str(options.irc_port), "-n", IRC_NICK]


def client_command(options: DemoOptions, nick: str) -> list[str]:
    return _python("selchat.client", "--host", options.host, "--port", str(options.port), "--nick", nick)


def raw_client_command(options: DemoOptions) -> list[str]:
    if options.raw_program() == "nc":
        return ["nc", options.host, str(options.port)]
    return _python("selchat.demo.rawclient", options.host, str(options.port))


def tips_command(options: DemoOptions, prefix: str) -> list[str]:
    return _python("selchat.demo.tips", "--mode", options.mode, "--nicks", ",".join(options.nicks),
                   "--raw-nick", options.raw_nick, "--server-view", options.server_view,
                   "--prefix", prefix)


def server_ready_marker(options: DemoOptions) -> str:
    """Text the server pane shows once the server accepts connections."""
    return "selchat-server dashboard" if options.dashboard else "listening on"


def start_demo(tmux: Tmux, options: DemoOptions, width: int, height: int) -> None:
    """Create the session and its panes; return once every program has been started.

    Each pane's role is in its `ROLE_OPTION`, for whoever needs to find it.

    The clients start only after the server listens, so none of them begins with an error. If
    the server fails, its output becomes the `DemoStartError` message and the session is removed.
    """
    prefix = tmux.prefix_key()
    # The "what to try" pane comes first: it never exits, so the session survives a server that
    # fails at once, and the window's options are set before anything can die.
    tips = tmux.new_session(options.session, width, height, WINDOW_NAME, tips_command(options, prefix))
    try:
        _style_session(tmux, options.session, tips, prefix)
        server = _add_pane(tmux, tips, server_command(options), "left", 62, "server", _server_title(options))
        if not tmux.wait_for_text(server, server_ready_marker(options), SERVER_START_TIMEOUT):
            output = tmux.capture(server).strip()
            raise DemoStartError("the server did not start:\n" + (output or "(no output)"))
        clients: list[str] = []
        for index, nick in enumerate(options.nicks):
            command = client_command(options, nick)
            if index == 0:
                pane = _add_pane(tmux, server, command, "below", 60, "client", f"selchat --nick {nick}", full=True)
            else:
                # Split the last column so that every column ends up the same width.
                percent = round(100 * (options.clients - index) / (options.clients - index + 1))
                pane = _add_pane(tmux, clients[-1], command, "right", percent, "client",
                                 f"selchat --nick {nick}")
            clients.append(pane)
        raw_command = raw_client_command(options)
        raw_name = "nc" if raw_command[0] == "nc" else "python -m selchat.demo.rawclient"
        raw = _add_pane(tmux, clients[0] if clients else server, raw_command, "below", 25, "raw",
                        f"raw client ({raw_name}): the text dialect", full=True)
        irc = None
        if options.irssi:
            irc = _add_pane(tmux, raw, irssi_command(options, options.irssi), "right", 50, "irc",
                            f"irssi -c {options.host} -p {options.irc_port}: #selchat over IRC")
        # Splitting in percent of a pane compounds; settle the rows' heights in percent of the window.
        tmux.run("resize-pane", "-t", server, "-y", "35%")
        tmux.run("resize-pane", "-t", raw, "-y", "22%")
        if irc is not None and tmux.wait_for_text(irc, "[Act: 2", SERVER_START_TIMEOUT):
            # The server puts irssi in #selchat unasked; irssi opens that window (its activity shows in
            # the status bar) without focusing it.
            tmux.send_line(irc, "/window 2")
        _mark_pane(tmux, tips, "tips", "what to try")
        if options.mode == "chat":
            # A raw client has no --nick: it types the command, which also shows people how.
            tmux.send_line(raw, f"/nick {RAW_NICK}")
        tmux.run("select-pane", "-t", raw)
    except (TmuxError, DemoStartError):
        tmux.kill_session(options.session)
        raise


def _server_title(options: DemoOptions) -> str:
    return (f"selchat-server --{options.server_view} --mode {options.mode} --backend {options.backend} "
            f"(port {options.port})")


def _add_pane(tmux: Tmux, beside: str, command: list[str], side: str, percent: int, role: str,
              title: str, full: bool = False) -> str:
    pane = tmux.split(beside, command, side=side, percent=percent, full=full)
    _mark_pane(tmux, pane, role, title)
    return pane


def _mark_pane(tmux: Tmux, pane: str, role: str, title: str) -> None:
    """Title the pane's border and record its role in `ROLE_OPTION`."""
    tmux.run("select-pane", "-t", pane, "-T", title)
    tmux.run("set-option", "-p", "-t", pane, ROLE_OPTION, role)


def _style_session(tmux: Tmux, session: str, pane: str, prefix: str) -> None:
    """Titles on pane borders, a status line with the keys, mouse support; this session only."""
    target = f"={session}:"  # the colon: set-option resolves "=NAME" alone as a window
    # A COLUMNS or LINES exported where tmux's server started (pytest sets both) would reach every
    # pane and override its real size: a TUI then draws for 80x24 in a pane of another size.
    for variable in ("COLUMNS", "LINES"):
        tmux.run("set-environment", "-t", target, "-r", variable)
    for option, value in (
        ("status-left", " selchat demo "),
        ("status-left-length", "20"),
        ("status-right", f" {prefix} ←↑↓→ pane · {prefix} z zoom · {prefix} d end demo "),
        ("status-right-length", "80"),
        ("mouse", "on"),
    ):
        tmux.run("set-option", "-t", target, option, value)
    for option, value in (
        # A program that exits (the server after Ctrl+C) leaves its last screen, not a hole.
        ("remain-on-exit", "on"),
        ("pane-border-status", "top"),
        ("pane-border-format", " #{pane_title} "),
    ):
        tmux.run("set-option", "-w", "-t", pane, option, value)
