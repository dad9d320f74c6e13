"""selchat-bench: measure selchat-server against the asyncio servers a user would otherwise write.

Scenarios (each server is started fresh for each run, on 127.0.0.1):

  echo       N connections (--connections), each keeping W messages in flight (--window), echo mode.
  upper      the same in upper mode: every reply must come back upper-cased.
  fairness   one flooder pipelining (--flood-window in flight) and one ping-pong client (1 in flight),
             echo mode: the ping-pong round trip p50/p99 while the flooder runs, and its throughput.
  broadcast  S senders (--senders) and R receivers in all (--receivers, senders included), chat
             mode; every receiver must get every message once, in order per sender.
  idle       M idle connections (--idle) plus one active pair (2 connections, 1 message in
             flight each), echo mode: what watching idle descriptors costs per message.
  join       a join storm: --clients chat clients connect at once; time until all are greeted
             and a message from one reaches all the others.
  cluster    1, 2 and 3 selchat-server nodes on one Redis (started by the bench, needs redis-server
             and hiredis) beside one plain server: broadcast deliveries/s, one order at every
             receiver, cross-node latency, Redis commands and CPU per line, sends per Redis link.
  growth     the idle scenario for select, poll and epoll as M grows (0 ... 10,000); --plot PATH.
  targets    the targets of issues 4, 11 and 15, as PASS/FAIL lines with the figures.
  all        everything above (what docs/benchmarks.md shows); --json and --plot to keep it.
  plot       redraw the cost-growth plot from a --json file of an earlier run (no measuring).

Every message carries a sender id and sequence number, so loss, reordering and duplicates are
counted. For servers it started, the bench reads the server's CPU time and memory from /proc:
server CPU per delivered message and RSS growth per connection. The load generator reports its
own CPU use; at ~100 % of a core, deliveries/s is a floor set by the bench, not the server.

Servers: selchat-select, selchat-poll, selchat-epoll; the line-by-line references
asyncio-protocol, asyncio-streams, uvloop-protocol, uvloop-streams; the chunk-echo references
asyncio-chunk, uvloop-chunk (write back each received chunk; echo and upper only); or the groups
selchat, reference, all. uvloop needs the bench extra (uv run --extra bench selchat-bench ...), as
does the plot (matplotlib).

Reproduce docs/benchmarks.md:
  uv run --extra bench selchat-bench all --json docs/benchmarks.json --plot docs/images/cost_growth.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import cluster_report, report
from .cluster import NODE_COUNTS, run_cluster, supports_workers
from .redis import RedisMissing
from .procstat import machine_info, raise_open_file_limit
from .scenarios import SERVER_MODE, Settings, interleaved, median_figures
from .servers import ServerSpec, expand_server_names

DEFAULT_SERVERS = ["selchat-epoll", "asyncio-protocol", "asyncio-streams", "uvloop-protocol"]
CHUNK_SERVERS = ["asyncio-chunk", "uvloop-chunk"]
ECHO_SERVERS = DEFAULT_SERVERS + CHUNK_SERVERS
UPPER_SERVERS = ["selchat-epoll", "asyncio-protocol", "uvloop-protocol"] + CHUNK_SERVERS
FAIRNESS_SERVERS = ["selchat-epoll", "asyncio-protocol", "uvloop-protocol", "uvloop-chunk"]
GROWTH_SERVERS = ["selchat-select", "selchat-poll", "selchat-epoll"]
GROWTH_IDLE = [0, 100, 500, 900, 2000, 5000, 10_000]
TARGET_SERVER = "selchat-epoll"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


def _int_list(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selchat-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="SCENARIO")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", action="append", default=None, metavar="NAME[,NAME]",
                        help="servers to compare (repeatable; default depends on the scenario)")
    common.add_argument("--connect", type=_address, metavar="HOST:PORT",
                        help="measure an already running server instead (no CPU or memory figures)")
    common.add_argument("--rounds", type=int, default=3, help="rounds per server, interleaved (default 3)")
    common.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default 2)")
    common.add_argument("--warmup", type=float, default=0.3, help="seconds of load before measuring (default 0.3)")
    common.add_argument("--procs", type=int, default=1, help="load generator processes (default 1)")
    common.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the server to the last CPU and the load generator to the others")
    common.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-' for stdout)")
    common.add_argument("--quiet", action="store_true", help="no per-run progress lines on stderr")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, description=help_text)

    p = add("echo", "N connections, W messages in flight each, echo mode")
    p.add_argument("--connections", type=int, default=10, help="default 10")
    p.add_argument("--window", type=int, default=16, help="messages in flight per connection (default 16)")

    p = add("upper", "N connections, W messages in flight each, upper mode; replies must be upper-cased")
    p.add_argument("--connections", type=int, default=10, help="default 10")
    p.add_argument("--window", type=int, default=16, help="messages in flight per connection (default 16)")

    p = add("fairness", "one flooder and one ping-pong client in echo mode: the ping-pong round trips")
    p.add_argument("--flood-window", type=int, default=4096,
                   help="the flooder's messages in flight (default 4096, more than one 64 KiB read)")

    p = add("broadcast", "S senders to R receivers in chat mode; loss and reorder checked")
    p.add_argument("--senders", type=int, default=10, help="default 10")
    p.add_argument("--receivers", type=int, default=100, help="all receiving clients, senders included (default 100)")
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender (default 16)")

    p = add("idle", "M idle connections plus one active pair, echo mode")
    p.add_argument("--idle", type=_int_list, default=[1000], metavar="M[,M...]", help="default 1000")

    p = add("join", "a join storm of chat clients")
    p.add_argument("--clients", type=int, default=10_000, help="default 10000")

    p = add("cluster", "1, 2, 3 nodes on one Redis beside one plain server: broadcast, order, cross-node latency")
    p.add_argument("--senders", type=int, default=10, help="default 10")
    p.add_argument("--receivers", type=int, default=100, help="all receiving clients, senders included (default 100)")
    p.add_argument("--window", type=int, default=16, help="messages in flight per sender (default 16)")
    p.add_argument("--nodes", type=_int_list, default=list(NODE_COUNTS), metavar="N[,N...]", help="default 1,2,3")
    p.add_argument("--workers", type=_int_list, default=[], metavar="N[,N...]",
                   help="also run `selchat-server --workers N` (N processes on one port) for each N "
                        "(needs a selchat-server with --workers)")

    p = add("growth", "cost per message as idle connections grow, select vs poll vs epoll")
    p.add_argument("--idle", type=_int_list, default=GROWTH_IDLE, metavar="M[,M...]",
                   help="default 0,100,500,900,2000,5000,10000")
    p.add_argument("--plot", metavar="PNG", help="write the plot here (needs matplotlib)")

    p = add("targets", "check the targets of issues 4, 11 and 15; exit status 1 if one fails")
    p.add_argument("--clients", type=int, default=10_000, help="join storm size (default 10000)")

    p = add("all", "every scenario and the targets: the tables of docs/benchmarks.md")
    p.add_argument("--idle", type=_int_list, default=GROWTH_IDLE, metavar="M[,M...]")
    p.add_argument("--clients", type=int, default=10_000, help="join storm size (default 10000)")
    p.add_argument("--plot", metavar="PNG", help="write the cost-growth plot here (needs matplotlib)")

    # Listed for --help only: main() hands `tui ...` to bench/tui.py, which has its own options.
    sub.add_parser("tui", add_help=False, help="the selchat TUI in tmux under a 100,000-line burst")

    p = sub.add_parser("plot", help="redraw the cost-growth plot from a JSON result file")
    p.add_argument("json_file", metavar="JSON", help="a file written by --json")
    p.add_argument("--plot", metavar="PNG", required=True, help="where to write the plot")
    return parser


def replot(json_file: str, png: str) -> int:
    """Draw the cost-growth plot of an earlier run without measuring anything."""
    with open(json_file) as f:
        data = json.load(f)
    growth = {server: {int(m): figures for m, figures in per.items()} for server, per in data["growth"].items()}
    skipped = report.plot_growth(growth, png, data["machine"])
    print(skipped or f"plot written to {png}")
    return 1 if skipped else 0


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings(duration=args.duration, warmup=args.warmup, rounds=args.rounds, procs=args.procs,
                        pin=args.pin, connect=args.connect, quiet=args.quiet)
    for name in ("connections", "window", "senders", "receivers", "flood_window"):
        if hasattr(args, name):
            setattr(settings, name, getattr(args, name))
    if hasattr(args, "clients"):
        settings.join_clients = args.clients
    return settings


def _servers(args: argparse.Namespace, default: list[str], scenario: str) -> list[ServerSpec | None]:
    """The servers to run `scenario` on, minus those that cannot run it here (said on stderr)."""
    if args.connect:
        return [None]
    specs = []
    mode = SERVER_MODE[scenario]
    for spec in expand_server_names(args.server or default):
        reason = spec.unavailable_reason()
        if mode not in spec.modes:
            if not args.quiet:
                print(f"skipping {spec.name} for {scenario}: it serves {' and '.join(spec.modes)} only",
                      file=sys.stderr)
        elif reason:
            print(f"skipping {spec.name}: {reason}", file=sys.stderr)
        else:
            specs.append(spec)
    return specs


def _by_server(measurements) -> dict[str, dict]:
    names = list(dict.fromkeys(m.server for m in measurements))
    return {name: median_figures([m for m in measurements if m.server == name]) for name in names}


class Run:
    """Collects what one invocation measured, for the tables and the JSON file."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.settings = _settings(args)
        self.machine = machine_info()
        self.raw: list = []
        self.results: dict[str, dict] = {}
        self.growth: dict[str, dict[int, dict]] = {}
        self.verdicts: list[report.Verdict] = []
        self.notes: list[str] = []

    def compare(self, scenario: str, specs) -> dict[str, dict]:
        measurements = interleaved(specs, scenario, self.settings)
        self.raw += measurements
        medians = _by_server(measurements)
        self.results[scenario] = medians
        return medians

    def run_cluster(self, node_counts, worker_counts=()) -> dict[str, dict] | None:
        """The cluster scenario; None (and a note) when there is no redis-server to start."""
        if worker_counts and not supports_workers():
            note = "this selchat-server has no --workers: the workers configurations are left out"
            print(f"skipping --workers: {note}", file=sys.stderr)
            self.notes.append(note)
            worker_counts = ()
        try:
            measurements = run_cluster(self.settings, node_counts, worker_counts=worker_counts)
        except RedisMissing as missing:
            self.notes.append(str(missing))
            return None
        self.raw += measurements
        medians = _by_server(measurements)
        self.results["cluster"] = medians
        return medians

    def run_growth(self, specs, idles: list[int]) -> dict[str, dict[int, dict]]:
        growth: dict[str, dict[int, dict]] = {spec.name: {} for spec in specs if spec}
        for idle in idles:
            able = [s for s in specs if s and (s.max_connections is None or idle + 2 <= s.max_connections)]
            measurements = interleaved(able, "idle", self.settings, idle=idle)
            self.raw += measurements
            for name, medians in _by_server(measurements).items():
                growth.setdefault(name, {})[idle] = medians  # "external" with --connect
        self.growth = growth
        return growth

    def to_json(self) -> dict:
        return {
            "machine": self.machine,
            "settings": {k: v for k, v in vars(self.settings).items() if k != "connect"},
            "results": self.results,
            "growth": {s: {str(m): f for m, f in per.items()} for s, per in self.growth.items()},
            "targets": [{"target": v.name, "passed": v.passed, "detail": v.detail} for v in self.verdicts],
            "notes": self.notes,
            "runs": [vars(m) for m in self.raw],
        }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `selchat-bench` and `python -m selchat.bench`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tui"]:
        from . import tui
        return tui.main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "plot":
        return replot(args.json_file, args.plot)
    raise_open_file_limit()
    run = Run(args)
    settings = run.settings
    out: list[str] = []
    started = time.monotonic()
    m = run.machine
    out.append(f"machine: {m['uname']}\n         {m['nproc']} CPUs, Python {m['python']}, "
               f"open file limit {m['open_file_limit']}"
               + (", server pinned to the last CPU, load generator to the others" if settings.cpu_split()[0] is not None else ""))

    command = args.command
    targets = command == "targets"
    for scenario, default, for_targets in (
            ("echo", ECHO_SERVERS, [TARGET_SERVER, "asyncio-protocol", "uvloop-protocol", "uvloop-chunk"]),
            ("upper", UPPER_SERVERS, [TARGET_SERVER, "uvloop-chunk"])):
        if command in (scenario, "all", "targets"):
            medians = run.compare(scenario, _servers(args, for_targets if targets else default, scenario))
            out.append(report.throughput_table(
                f"{scenario}: {settings.connections} connections x {settings.window} in flight, "
                f"{settings.duration:g} s per run", medians))
    if command in ("fairness", "all", "targets"):
        medians = run.compare("fairness", _servers(args, [TARGET_SERVER] if targets else FAIRNESS_SERVERS, "fairness"))
        out.append(report.fairness_table(
            f"fairness: one flooder ({settings.flood_window} in flight) beside one ping-pong client, echo mode, "
            f"{settings.duration:g} s per run", medians))
    if command in ("broadcast", "all", "targets"):
        default = DEFAULT_SERVERS if command != "targets" else [TARGET_SERVER, "asyncio-protocol"]
        medians = run.compare("broadcast", _servers(args, default, "broadcast"))
        out.append(report.throughput_table(
            f"broadcast: {settings.senders} senders -> {settings.receivers} clients, {settings.window} in flight "
            f"per sender, {settings.duration:g} s per run", medians))
    if command == "idle":
        run.run_growth(_servers(args, [TARGET_SERVER, "asyncio-protocol"], "idle"), args.idle)
        out.append(report.growth_table(run.growth))
    if command in ("growth", "all"):
        run.run_growth(_servers(args, GROWTH_SERVERS + (["asyncio-protocol"] if command == "all" else []), "idle"),
                       args.idle)
        out.append(report.growth_table(run.growth))
    if command in ("cluster", "all", "targets"):
        cluster = run.run_cluster(getattr(args, "nodes", list(NODE_COUNTS)), getattr(args, "workers", []))
        if cluster is None:
            out.append(f"cluster: skipped.\n{run.notes[-1]}")
            if command == "cluster":
                print(run.notes[-1], file=sys.stderr)
                return 1
        else:
            out.append(cluster_report.cluster_table(
                f"cluster: {settings.senders} senders -> {settings.receivers} clients dealt over the nodes, "
                f"{settings.window} in flight per sender, {settings.duration:g} s per run, one Redis", cluster))
    if command == "targets":
        # No idle connections: the ping-pong target; 10,000: the memory target.
        growth = run.run_growth(_servers(args, [TARGET_SERVER], "idle"), [0, 10_000])
        out.append(report.pingpong_line(growth.get(TARGET_SERVER if not args.connect else "external", {}).get(0)))
    if command in ("join", "all", "targets"):
        default = [TARGET_SERVER, "asyncio-protocol"] if command != "targets" else [TARGET_SERVER]
        medians = run.compare("join", _servers(args, default, "join"))
        out.append(report.join_table(medians))

    if command in ("all", "targets"):
        target = TARGET_SERVER if not args.connect else "external"
        results, idle = run.results, run.growth.get(target, {})
        run.verdicts = [
            # issue 4
            report.check_broadcast(results.get("broadcast", {}), target),
            report.check_echo(results.get("echo", {}), target),
            report.check_idle_memory(idle.get(10_000), target),
            report.check_join(results.get("join", {}).get(target), target),
            # issue 11
            report.check_per_line(results.get("echo", {}), target, "echo"),
            report.check_vs_chunk(results.get("echo", {}), target, "echo"),
            report.check_per_line(results.get("upper", {}), target, "upper"),
            report.check_vs_chunk(results.get("upper", {}), target, "upper"),
            report.check_fairness(results.get("fairness", {}).get(target), target),
            report.check_pingpong(idle.get(0), target),
            report.check_broadcast_today(results.get("broadcast", {}), target),
            # issue 15
            *cluster_report.cluster_verdicts(results.get("cluster", {})),
        ]
        out.append("targets (issues 4, 11 and 15):\n" + "\n".join("  " + v.line() for v in run.verdicts))

    plot_path = getattr(args, "plot", None)
    if plot_path:
        said = report.plot_growth(run.growth, plot_path, run.machine) or f"plot written to {plot_path}"
        run.notes.append(said)
        out.append(said)
    out.append(f"({time.monotonic() - started:.0f} s in all)")
    print("\n\n".join(out))
    if args.json:
        text = json.dumps(run.to_json(), indent=1, default=str)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    if command == "targets" and any(v.passed is False for v in run.verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
