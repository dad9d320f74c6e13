"""The demo's "what to try" pane: `python -m selchat.demo.tips [options]` prints a note and waits.

The note depends on the demo's options (mode, nicks, which server view), so the pane runs this
program rather than a fixed text.
"""

from __future__ import annotations

import argparse
import signal
import sys

HIDE_CURSOR = "\x1b[?25l"


def tips_text(mode: str, nicks: list[str], raw_nick: str, server_view: str, prefix: str) -> str:
    """The note: at most 13 lines of at most 58 columns, to fit its pane in a roomy terminal.

    The status line shows the tmux keys too; the last line is for those who miss it.
    """
    tui = " or ".join(f"{nick}'s" for nick in nicks) + " pane" if len(nicks) <= 2 else "any selchat pane"
    lines = ["What to try"]
    if mode == "chat":
        lines += [f" • Type a line in the raw client ({raw_nick}, at the",
                  f"   bottom) or in {tui}: it shows up in all."]
    else:
        how = "unchanged" if mode == "echo" else "upper-cased"
        lines += [f" • {mode} mode: a line you type comes back {how},",
                  "   to its sender only; the others see nothing."]
    if server_view == "dashboard":
        lines += [" • Watch the server: its connections, loop turns per",
                  "   second, and the ready sets of recent turns: one",
                  "   select() loop serves every client."]
    else:
        lines += [" • Watch the server: one line per busy loop turn,",
                  f"     turn 42: read [7:{raw_nick}] write [-]",
                  "   read: sockets select() found with data waiting;",
                  "   write: output the kernel had no room for (rare)."]
    if mode == "chat":
        other = nicks[0] if nicks else "alice"
        lines += [f" • /nick NAME  /me waves  /msg {other} psst  /who"]
    lines += [" • Ctrl+C in the server pane: a graceful shutdown;",
              f"   {prefix} : respawn-pane (Enter) starts it again,",
              "   and the selchat clients reconnect by themselves.",
              f"Keys: {prefix} then an arrow moves, {prefix} d ends the demo."]
    return "\n".join(lines)


def cluster_tips_text(placement: dict[str, str], server_view: str, prefix: str) -> str:
    """The cluster demo's note (same size limits as `tips_text`); `placement` is nick -> node."""
    nicks = list(placement)
    first, second = (nicks + ["alice", "bob"])[:2]
    lines = ["What to try (two nodes, one room, one Redis)",
             f" • Type in {first}'s pane (on {placement.get(first, 'n1')}): {second} on "
             f"{placement.get(second, 'n2')} sees it,",
             "   through Redis: XLEN grows by one, and the Redis",
             "   pane shows the entry both nodes read."]
    if server_view == "trace":
        lines += [" • Each node's trace: its two Redis links (cmd, feed)",
                  "   are sockets in the same select() as its clients."]
    lines += [" • Ctrl+C in n2's pane: its users leave at once;",
              f"   kill -9 it (or {prefix} : kill-pane) and n1 reaps",
              "   them as `node lost` when the heartbeat runs out.",
              f" • {prefix} : respawn-pane (Enter) starts a node again.",
              f"Keys: {prefix} then an arrow moves, {prefix} d ends the demo."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selchat.demo.tips", description=__doc__)
    parser.add_argument("--mode", default="chat")
    parser.add_argument("--nicks", default="alice,bob", help="the selchat clients' nicks, comma-separated")
    parser.add_argument("--raw-nick", default="carol")
    parser.add_argument("--server-view", choices=["trace", "dashboard"], default="trace")
    parser.add_argument("--prefix", default="Ctrl+B", help="the tmux prefix key, as shown to people")
    parser.add_argument("--cluster", metavar="NICK@NODE[,...]", help="the cluster demo's note, with where each client is")
    args = parser.parse_args(argv)
    nicks = [nick for nick in args.nicks.split(",") if nick]
    if args.cluster:
        where = dict(item.split("@", 1) for item in args.cluster.split(",") if "@" in item)
        text = cluster_tips_text(where, args.server_view, args.prefix)
    else:
        text = tips_text(args.mode, nicks, args.raw_nick, args.server_view, args.prefix)
    sys.stdout.write(HIDE_CURSOR + text)
    sys.stdout.flush()
    try:
        while True:
            signal.pause()  # the note stays until tmux closes the pane
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
