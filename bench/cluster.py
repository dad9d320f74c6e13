"""The cluster scenario: 1, 2 and 3 selchat-server nodes on one throwaway Redis, beside one plain server.

Per round, interleaved like the other scenarios:

  single     selchat-epoll without a broker: the broadcast scenario as `selchat-bench broadcast`
             runs it, the reference the cluster figures are compared with.
  N nodes    N nodes (`--broker redis://... --room bench --node-id nK`) on one Redis; the load
             generator's connections are dealt out over the nodes in turn (sender 0 on node 1,
             sender 1 on node 2, ...; listeners likewise), so most lines cross nodes. Every
             receiver must get every line once, in order per sender, and all receivers the same
             sequence (a digest of the order each heard is compared).
  N workers  with --workers N: one `selchat-server --workers N --broker ...` (N processes on one
             port, SO_REUSEPORT), the same load; the kernel deals the connections out.
  crossnode  light load for the cross-node latency: 2 nodes, one sender on node 1 with one line in
             flight, one listener on node 2; the listener's latencies are node 1 -> Redis -> node 2.

Redis's side is read from INFO before and after each run (`redisstats`): commands by name per
line posted, Redis CPU per line, and the TCP segments each node link carried into Redis (the
node's send() calls, without strace). One extra run per invocation ("batching", 2 nodes under
the broadcast load, with --trace) also counts each node's loop turns from its trace, to set the
sends per Redis link beside the turns.

CPU placement: the load generator gets the CPUs `Settings.cpu_split` gives it, and every server
process (the nodes, Redis, the single server) shares the rest, so the cluster gets the same
cores as the single server it is compared with. On a 2-core machine that is one core for all of
them, which is why more nodes cannot add throughput there (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from . import redisstats
from .loadgen import run_load
from .loadplan import LoadPlan
from .redis import RedisClient, RedisProcess
from .scenarios import CPUS_AT_START, Measurement, Settings, measure, print_progress
from .servers import RunningServer, ServerSpec, start_server

NODE_SPEC = ServerSpec("selchat-epoll")
ROOM = "bench"
NODE_COUNTS = (1, 2, 3)
REGISTER_TIMEOUT = 20.0
TURN = re.compile(rb"turn (\d+):")
WORKERS_LINE = re.compile(r"listening on \S+ with \d+ workers \(pids ([\d ]+)\)")

SINGLE = "single"
CROSSNODE = "crossnode"
BATCHING = "batching"


def nodes_name(count: int) -> str:
    return f"{count} node" + ("s" if count > 1 else "")


def server_cpus(settings: Settings) -> set[int] | None:
    """The CPUs every server process shares: all but the load generator's (None: no pinning)."""
    _, loadgen = settings.cpu_split()
    if loadgen is None:
        return None
    return set(CPUS_AT_START) - set(loadgen)


def _pin(pid: int, cpus: set[int] | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass


def room_key(suffix: str, room: str = ROOM) -> str:
    """A room's Redis key (docs/cluster.md, "Data model")."""
    return f"selchat:{{{room}}}:{suffix}"


def start_nodes(redis: RedisProcess, count: int, cpus: set[int] | None, max_clients: int,
                trace: bool = False) -> list[RunningServer]:
    """`count` nodes on `redis`, each listening on its own free port; returns once all are registered."""
    nodes: list[RunningServer] = []
    try:
        for index in range(1, count + 1):
            extra = ["--broker", redis.url, "--room", ROOM, "--node-id", f"n{index}"]
            if trace:
                extra.append("--trace")
            node = start_server(NODE_SPEC, "chat", max_clients=max_clients, extra_args=extra)
            nodes.append(node)
            _pin(node.pid, cpus)
        wait_registered(redis.port, nodes)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def wait_registered(port: int, nodes: list[RunningServer], timeout: float = REGISTER_TIMEOUT,
                    count: int | None = None) -> None:
    """Until `count` nodes (default: one per process) have their heartbeat in the room's `nodes`
    set: their links are up."""
    deadline = time.monotonic() + timeout
    with RedisClient(port) as client:
        while client.call("ZCARD", room_key("nodes")) < (count or len(nodes)):
            for node in nodes:
                if node.proc.poll() is not None:
                    raise RuntimeError(f"node exited with status {node.proc.returncode}:\n{node.log_tail(10)}")
            if time.monotonic() > deadline:
                tails = "\n".join(node.log_tail(5) for node in nodes)
                raise RuntimeError(f"{len(nodes)} nodes did not all register in Redis within {timeout:.0f} s:\n{tails}")
            time.sleep(0.05)  # polling Redis against a deadline


def supports_workers() -> bool:
    """Whether this selchat-server has `--workers` (N processes on one port, SO_REUSEPORT)."""
    done = subprocess.run(NODE_SPEC.command("chat")[:3] + ["--help"], capture_output=True, text=True, timeout=30)
    return "--workers" in done.stdout


def start_workers(redis: RedisProcess, count: int, cpus: set[int] | None,
                  max_clients: int) -> tuple[RunningServer, list[int]]:
    """`selchat-server --workers count` on one port; returns the parent and its workers' pids once
    every worker is registered in Redis (as node w-1, w-2, ...)."""
    extra = ["--workers", str(count), "--broker", redis.url, "--room", ROOM, "--node-id", "w"]
    parent = start_server(NODE_SPEC, "chat", max_clients=max_clients, extra_args=extra)
    try:
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while not (match := WORKERS_LINE.search(parent.log_tail(200))):
            if parent.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"selchat-server --workers {count} did not start:\n{parent.log_tail(10)}")
            time.sleep(0.05)  # polling the log against a deadline
        pids = [int(pid) for pid in match.group(1).split()]
        for pid in pids:
            _pin(pid, cpus)
        wait_registered(redis.port, [parent], count=count)
    except BaseException:
        parent.stop()
        raise
    return parent, pids


def node_turns(node: RunningServer) -> int | None:
    """The highest loop turn number in a --trace node's log: a floor on the turns it ran."""
    try:
        with open(node.log_path, "rb") as f:
            numbers = TURN.findall(f.read())
    except OSError:
        return None
    return max(map(int, numbers)) if numbers else None


def broadcast_plan(settings: Settings) -> LoadPlan:
    _, cpus = settings.cpu_split()
    return LoadPlan("chat", senders=settings.senders, listeners=max(0, settings.receivers - settings.senders),
                    window=settings.window, duration=settings.duration, warmup=settings.warmup,
                    procs=settings.procs, cpus=cpus)


def crossnode_plan(settings: Settings) -> LoadPlan:
    """One sender (connection 0: node 1) and one listener (connection 1: node 2), one line in flight."""
    _, cpus = settings.cpu_split()
    return LoadPlan("chat", senders=1, listeners=1, window=1, duration=settings.duration,
                    warmup=settings.warmup, procs=1, cpus=cpus)


def measure_nodes(redis: RedisProcess, name: str, count: int, plan: LoadPlan, settings: Settings,
                  trace: bool = False, workers: bool = False) -> Measurement:
    """Start `count` fresh nodes on an emptied Redis, run `plan` over them, read Redis's side.

    With `workers`, the nodes are the workers of one `selchat-server --workers count` on one port,
    and the kernel, not the load generator, deals the connections out (SO_REUSEPORT).
    """
    measurement = Measurement(name, "cluster", {"nodes": count, "workers": workers, "senders": plan.senders,
                                                "receivers": plan.senders + plan.listeners, "window": plan.window})
    nodes: list[RunningServer] = []
    try:
        with RedisClient(redis.port) as client:
            client.call("FLUSHALL")
        if workers:
            parent, pids = start_workers(redis, count, server_cpus(settings), plan.connections + 100)
            nodes = [parent]
        else:
            nodes = start_nodes(redis, count, server_cpus(settings), plan.connections + 100, trace)
            pids = [node.pid for node in nodes]
        edges: dict[str, redisstats.RedisSnapshot] = {}
        outcome = run_load(plan, [node.address for node in nodes], pids,
                           on_window_edge=lambda edge: edges.__setitem__(edge, redisstats.snapshot(redis.port)))
        figures = outcome.summary()
        figures.update(redisstats.RedisCost.between(edges["start"], edges["end"]).summary())
        figures["nodes"] = count
        if trace:
            # Both counts run from each node's start: its turns, and the segments its links sent.
            figures["node_turns"] = {f"n{i}": node_turns(node) for i, node in enumerate(nodes, 1)}
            figures["redis_links_lifetime"] = redisstats.snapshot(redis.port).link_segments
        measurement.figures = figures
        dead = [node for node in nodes if node.proc.poll() is not None]
        if dead:
            measurement.error = f"a node exited with status {dead[0].proc.returncode}: {dead[0].log_tail(5)}"
    except Exception as exc:  # one broken run must not end the comparison
        measurement.error = f"{type(exc).__name__}: {exc}"
    finally:
        for node in nodes:
            node.stop()
    if not settings.quiet:
        _progress(measurement)
    return measurement


def _progress(m: Measurement) -> None:
    print_progress(m, f"cluster   {m.server:17}", _figures_text)


def _figures_text(m: Measurement) -> str:
    f = m.figures
    if m.server == CROSSNODE:
        return (f"cross-node p50 {_us(f.get('listener_p50_us'))} p99 {_us(f.get('listener_p99_us'))}, "
                f"{f['redis_commands_per_line'] or 0:.2f} Redis commands/line")
    else:
        return (f"{f['deliveries_per_second']:,.0f} deliveries/s, lost {f['lost']}, reordered {f['reordered']}, "
                f"order mismatches {f['order_mismatches']}, {f['redis_commands_per_line'] or 0:.3f} Redis "
                f"commands/line, {f['redis_lines_per_cmd_send'] or 0:.1f} lines per cmd send")


def _us(value) -> str:
    return "-" if value is None else f"{value / 1000:.2f} ms"


def workers_name(count: int) -> str:
    return f"{count} worker" + ("s" if count > 1 else "")


def run_cluster(settings: Settings, node_counts=NODE_COUNTS, redis: RedisProcess | None = None,
                worker_counts=()) -> list[Measurement]:
    """Every configuration once per round, interleaved, then the traced batching run; one Redis for all.

    `worker_counts` adds `selchat-server --workers N` configurations (one port) beside the
    separate nodes. Raises `RedisMissing` (with how to install it) when there is no redis-server.
    """
    owned = redis is None
    redis = redis or RedisProcess().start()
    _pin(redis.pid, server_cpus(settings))
    results: list[Measurement] = []
    try:
        for _ in range(settings.rounds):
            single = measure(NODE_SPEC, "broadcast", settings)
            single.server, single.scenario = SINGLE, "cluster"
            results.append(single)
            for count in node_counts:
                results.append(measure_nodes(redis, nodes_name(count), count, broadcast_plan(settings), settings))
            for count in worker_counts:
                results.append(measure_nodes(redis, workers_name(count), count, broadcast_plan(settings), settings,
                                             workers=True))
            results.append(measure_nodes(redis, CROSSNODE, 2, crossnode_plan(settings), settings))
        results.append(measure_nodes(redis, BATCHING, 2, broadcast_plan(settings), settings, trace=True))
    finally:
        if owned:
            redis.stop()
    return results
