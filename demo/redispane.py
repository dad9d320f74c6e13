"""The cluster demo's Redis pane: `python -m selchat.demo.redispane --port P --room R`.

It starts the demo's redis-server itself (on 127.0.0.1:P, nothing kept on disk) and redraws,
twice a second, what the nodes keep in it (docs/cluster.md, "Data model"): the room stream's
length and last entries, each node's heartbeat and members, and who owns which nick. So the
audience sees a line enter the one stream that both nodes read, and a node's users go when the
node goes.

Redis runs as this program's child and dies with it: redis-server ignores SIGHUP, so when tmux
closes the pane (the demo ends) this program, not the hang-up, stops it.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time

from selchat.bench.redis import RedisClient, RedisMissing, RedisProcess, RedisReplyError

REFRESH = 0.5
CLEAR = "\x1b[H\x1b[2J"
HIDE_CURSOR = "\x1b[?25l"
READY = "redis-server ready on"
ENTRY_FIELDS = {"k": "kind", "n": "nick", "t": "text", "o": "node", "old": "old", "r": "reason"}


def key(room: str, suffix: str) -> str:
    return f"selchat:{{{room}}}:{suffix}"


def pairs(flat: list) -> list[tuple]:
    return list(zip(flat[::2], flat[1::2]))


def describe_entry(fields: dict[str, str]) -> str:
    """One stream entry as a person reads it: `message alice@n1: hello`."""
    kind, nick, node = fields.get("k", "?"), fields.get("n", ""), fields.get("o", "")
    where = f"{nick}@{node}" if node else nick
    if kind in ("message", "action"):
        return f"{kind} {where}: {fields.get('t', '')}"
    if kind == "nick":
        return f"nick {fields.get('old', '')} -> {where}"
    if kind == "leave" and fields.get("r"):
        return f"leave {where} ({fields['r']})"
    return f"{kind} {where}".strip()


def room_view(client: RedisClient, room: str, width: int = 80) -> list[str]:
    """The screen's lines: the stream and its last entries, the nodes with their members, the nicks."""
    seconds, micros = client.call("TIME")
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    length = client.call("XLEN", key(room, "log"))
    lines = [f"stream {key(room, 'log')}: XLEN {length}"]
    for entry_id, flat in reversed(client.call("XREVRANGE", key(room, "log"), "+", "-", "COUNT", 3) or []):
        lines.append(f"  {entry_id:>15}  {describe_entry(dict(pairs(flat)))}")
    nodes = pairs(client.call("ZRANGE", key(room, "nodes"), 0, -1, "WITHSCORES"))
    lines += ["", f"nodes {key(room, 'nodes')}: {len(nodes)}, with members {key(room, 'node:<id>')}"]
    for node, expiry in nodes:
        left = (float(expiry) - now_ms) / 1000
        state = f"heartbeat expires in {left:.1f} s" if left > 0 else f"expired {-left:.1f} s ago"
        members = sorted(nick for _, nick in pairs(client.call("HGETALL", key(room, f"node:{node}"))))
        lines.append(f"  {node}: members: {', '.join(members) or '-'}  ({state})")
    owners = sorted(pairs(client.call("HGETALL", key(room, "nicks"))))
    lines += ["", f"nicks {key(room, 'nicks')}: "
              + (", ".join(f"{nick} -> {owner.split(' ', 1)[0]}" for nick, owner in owners) or "-")]
    return [line[:width] for line in lines]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selchat.demo.redispane", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--room", default="lobby")
    args = parser.parse_args(argv)
    # tmux closing the pane hangs it up: stop Redis on the way out, not only on Ctrl+C.
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(0))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        redis = RedisProcess().start(args.port)
    except RedisMissing as missing:
        print(missing, flush=True)
        return 1
    try:
        header = f"{READY} 127.0.0.1:{args.port} (pid {redis.pid}), room {args.room}"
        print(header, flush=True)
        with RedisClient(args.port) as client:
            while True:
                size = shutil.get_terminal_size()
                body = "\n".join(room_view(client, args.room, size.columns)[: max(1, size.lines - 3)])
                sys.stdout.write(CLEAR + HIDE_CURSOR + header + "\n\n" + body + "\n")
                sys.stdout.flush()
                time.sleep(REFRESH)  # a screen refresh, like watch(1)
    except KeyboardInterrupt:
        return 0
    except (OSError, RedisReplyError) as error:  # Redis killed under us (or a reply we cannot read)
        print(f"\nredis-server is gone ({error}); the nodes are paused. "
              "Ctrl+B : respawn-pane (Enter) starts an empty one.", flush=True)
        signal.pause()
        return 1
    finally:
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
