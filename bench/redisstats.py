"""What Redis did during a run: commands by name, CPU seconds, and TCP segments per client link.

A `RedisSnapshot` is taken at each edge of a run's measured window; `RedisCost` is the difference,
per line stored. The bench's own INFO and CLIENT calls are left out of the command counts.

Segments per link stand in for `send()` calls without strace: on loopback a `send()` of less
than an MSS (~64 KiB) leaves as one TCP segment unless it queues behind data not yet sent, when
the kernel merges them. So the data segments a node's link carried *into* Redis (`data_segs_in` of
Redis's end of it, from `ss -ti`) are at most the node's sends on that link, and close to them; a
count far below the lines posted shows each send carrying many commands.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field

from .redis import RedisClient

# Commands the bench itself sends while probing, not the nodes.
PROBE_COMMANDS = {"info", "client|list", "client", "ping", "flushall", "script|flush", "config|resetstat"}
SCRIPT_CALLS = ("evalsha", "eval")  # every change is one Lua script call (docs/cluster.md)
# What else a node sends itself (never run inside a script): its feed's reads, link handshakes.
NODE_SENT_COMMANDS = ("xread", "hello", "select", "script|load")
SEGMENTS = re.compile(r"\bdata_segs_in:(\d+)")


@dataclass
class RedisSnapshot:
    """Cumulative Redis counters at one moment."""

    calls: dict[str, int] = field(default_factory=dict)  # command -> calls since start
    cpu_seconds: float = 0.0  # used_cpu_sys + used_cpu_user
    reads_processed: int = 0  # read events Redis handled (INFO stats total_reads_processed)
    link_segments: dict[str, int] = field(default_factory=dict)  # client name -> data segments in


def command_calls(client: RedisClient) -> dict[str, int]:
    calls = {}
    for key, value in client.info("commandstats").items():
        if key.startswith("cmdstat_"):
            stats = dict(part.split("=", 1) for part in value.split(","))
            calls[key.removeprefix("cmdstat_")] = int(stats["calls"])
    return calls


def link_segments(client: RedisClient, port: int) -> dict[str, int]:
    """Segments each named client sent into Redis: CLIENT LIST gives names and ports, `ss` the counts."""
    ss = shutil.which("ss")
    if ss is None:
        return {}
    names = {}
    for line in client.call("CLIENT", "LIST").splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("name"):
            names[fields["addr"]] = fields["name"]
    listing = subprocess.run([ss, "-tinH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    segments: dict[str, int] = {}
    peer = None
    for line in listing.splitlines():
        if not line.startswith((" ", "\t")):
            parts = line.split()
            peer = parts[-1] if len(parts) >= 4 else None  # Recv-Q Send-Q Local Peer
            continue
        match = SEGMENTS.search(line)
        if peer in names:
            segments[names[peer]] = int(match.group(1)) if match else 0
    return segments


def snapshot(port: int, with_links: bool = True) -> RedisSnapshot:
    with RedisClient(port) as client:
        cpu = client.info("cpu")
        stats = client.info("stats")
        return RedisSnapshot(
            calls=command_calls(client),
            cpu_seconds=float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
            reads_processed=int(stats.get("total_reads_processed", 0)),
            link_segments=link_segments(client, port) if with_links else {},
        )


@dataclass
class RedisCost:
    """What Redis did between two snapshots (the edges of a run's measured window).

    INFO commandstats counts the commands a Lua script runs as well as the script call itself,
    so the figures are worked out from what only one kind of caller sends:

    * lines stored = XADD calls: every line, join or leave is one XADD inside a script, and in the
      window there are no joins or leaves (every client connected before it, and leaves after).
    * post scripts = EVALSHA + EVAL calls minus ZADDs: the only ZADD is the heartbeat tick's
      (one tick script per node every 2 s), and claims and releases happen outside the window.
    * commands sent = EVALSHA + EVAL + XREAD + the links' handshakes: what the nodes put on the
      wire; XREAD (blocking) never runs inside a script.
    """

    calls: dict[str, int]
    cpu_seconds: float
    reads_processed: int
    link_segments: dict[str, int]

    @classmethod
    def between(cls, before: RedisSnapshot, after: RedisSnapshot) -> "RedisCost":
        calls = {name: n - before.calls.get(name, 0) for name, n in after.calls.items()
                 if name not in PROBE_COMMANDS and n - before.calls.get(name, 0)}
        links = {name: n - before.link_segments.get(name, 0) for name, n in after.link_segments.items()}
        return cls(calls, after.cpu_seconds - before.cpu_seconds,
                   after.reads_processed - before.reads_processed, links)

    @property
    def lines(self) -> int:
        return self.calls.get("xadd", 0)

    def per_line(self, count: float) -> float | None:
        return count / self.lines if self.lines else None

    def summary(self) -> dict:
        calls = self.calls
        scripts = sum(calls.get(name, 0) for name in SCRIPT_CALLS)
        posts = scripts - calls.get("zadd", 0)
        sent = scripts + sum(calls.get(name, 0) for name in NODE_SENT_COMMANDS)
        cmd_sends = sum(n for name, n in self.link_segments.items() if name.endswith(":cmd"))
        feed_sends = sum(n for name, n in self.link_segments.items() if name.endswith(":feed"))
        return {
            "redis_lines": self.lines,
            "redis_commands_sent": sent,
            "redis_commands_per_line": self.per_line(sent),
            "redis_posts_per_line": self.per_line(posts),
            "redis_xreads_per_line": self.per_line(calls.get("xread", 0)),
            "redis_calls_per_line": self.per_line(sum(calls.values())),  # scripts' inner commands included
            "redis_calls": dict(sorted(calls.items())),
            "redis_cpu_seconds": round(self.cpu_seconds, 4),
            "redis_cpu_us_per_line": None if not self.lines else self.cpu_seconds / self.lines * 1e6,
            "redis_reads_processed": self.reads_processed,
            "redis_cmd_link_sends": cmd_sends,
            "redis_feed_link_sends": feed_sends,
            "redis_lines_per_cmd_send": (self.lines / cmd_sends) if cmd_sends else None,
            "redis_links": dict(sorted(self.link_segments.items())),
        }
