"""The scenarios, and running them side by side: each server started fresh, servers interleaved by round.

Interleaving (A B C, A B C, ...) rather than A A A, B B B means a machine that gets slower or faster
during the run (another job, thermal throttling, a neighbour VM) shifts every server alike; the
report then takes medians over rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import dataclass, field
from typing import Callable

from .joinstorm import JoinResult, run_join_storm
from .loadgen import run_load
from .loadplan import LoadPlan, LoadResult
from .servers import ServerSpec, start_server

SERVER_MODE = {"echo": "echo", "upper": "upper", "fairness": "echo", "broadcast": "chat", "idle": "echo",
               "join": "chat"}
# The CPUs this process may use, read once: `measure` narrows our own affinity to the load
# generator's share, so asking again later would find the server's core gone.
CPUS_AT_START: tuple[int, ...] = tuple(sorted(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else ()


@dataclass
class Settings:
    """Knobs shared by all scenarios. Defaults are the sizes the issue's targets name."""

    connections: int = 10  # echo and upper: connections
    window: int = 16  # echo, upper and broadcast: messages in flight per sender
    flood_window: int = 4096  # fairness: the flooder's messages in flight (a 64 KiB read's worth and more)
    senders: int = 10  # broadcast
    receivers: int = 100  # broadcast: clients that receive, senders included
    idle: int = 0  # idle: idle connections besides the active pair
    join_clients: int = 10_000
    duration: float = 2.0
    warmup: float = 0.3
    rounds: int = 3
    procs: int = 1
    pin: bool = True
    connect: tuple[str, int] | None = None  # an external server: no CPU or memory figures
    quiet: bool = False

    def cpu_split(self) -> tuple[int | None, frozenset[int] | None]:
        """(server CPU, load generator CPUs): the last core for the server, the rest for us."""
        cpus = CPUS_AT_START
        if not self.pin or len(cpus) < 2:
            return None, None
        return cpus[-1], frozenset(cpus[:-1])


@dataclass
class Measurement:
    """One scenario run against one server in one round."""

    server: str
    scenario: str
    params: dict
    figures: dict = field(default_factory=dict)
    error: str | None = None


def plan_for(scenario: str, settings: Settings, idle: int | None = None) -> LoadPlan:
    """The load generator plan a scenario needs."""
    _, cpus = settings.cpu_split()
    common = dict(duration=settings.duration, warmup=settings.warmup, procs=settings.procs, cpus=cpus)
    if scenario in ("echo", "upper"):
        return LoadPlan(scenario, senders=settings.connections, window=settings.window, **common)
    if scenario == "fairness":
        # One flooder pipelining as fast as its window lets it, and one ping-pong client (a probe:
        # one message in flight) whose round trips say how long the flooder holds the loop.
        return LoadPlan("echo", senders=1, probes=1, window=settings.flood_window, **common)
    if scenario == "broadcast":
        listeners = max(0, settings.receivers - settings.senders)
        return LoadPlan("chat", senders=settings.senders, listeners=listeners, window=settings.window, **common)
    if scenario == "idle":
        # The active pair: two connections, each with one message in flight, so nearly every
        # message costs the server one loop turn, and one turn costs what the backend charges
        # for watching all the idle descriptors.
        return LoadPlan("echo", senders=2, idle=settings.idle if idle is None else idle, window=1, **common)
    raise ValueError(scenario)


def params_for(scenario: str, settings: Settings, idle: int | None = None) -> dict:
    if scenario in ("echo", "upper"):
        return {"connections": settings.connections, "window": settings.window}
    if scenario == "fairness":
        return {"flood_window": settings.flood_window, "ping_pong": 1}
    if scenario == "broadcast":
        return {"senders": settings.senders, "receivers": settings.receivers, "window": settings.window}
    if scenario == "idle":
        return {"idle": settings.idle if idle is None else idle, "active": 2, "window": 1}
    return {"clients": settings.join_clients}


def measure(spec: ServerSpec | None, scenario: str, settings: Settings, idle: int | None = None) -> Measurement:
    """Start `spec` fresh (or use settings.connect), run one scenario, stop the server."""
    name = spec.name if spec else "external"
    measurement = Measurement(name, scenario, params_for(scenario, settings, idle))
    server_cpu, loadgen_cpus = settings.cpu_split()
    if loadgen_cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, loadgen_cpus)  # the join storm runs in this process
    server = None
    try:
        plan = None if scenario == "join" else plan_for(scenario, settings, idle)
        if spec is None:
            address, pid = settings.connect, None
        else:
            total = settings.join_clients if plan is None else plan.connections
            server = start_server(spec, SERVER_MODE[scenario], max_clients=total + 100, cpu=server_cpu)
            address, pid = server.address, server.pid
        if plan is None:
            outcome: LoadResult | JoinResult = run_join_storm(address, settings.join_clients, pid)
        else:
            outcome = run_load(plan, address, pid)
        measurement.figures = outcome.summary()
        if server is not None and server.proc.poll() is not None:
            measurement.error = f"server exited with status {server.proc.returncode}: {server.log_tail(5)}"
    except Exception as exc:  # one broken server must not end a long comparison
        measurement.error = f"{type(exc).__name__}: {exc}"
    finally:
        if server is not None:
            server.stop()
    if not settings.quiet:
        _progress(measurement)
    return measurement


def print_progress(m: Measurement, label: str, describe: Callable[[Measurement], str]) -> None:
    """One progress line on stderr: `label`, then the error's first line or `describe(m)` of a run that worked."""
    text = f"error: {m.error.splitlines()[0]}" if m.error else describe(m)
    print(f"  {label} {text}", file=sys.stderr, flush=True)


def _progress(m: Measurement) -> None:
    print_progress(m, f"{m.scenario:9} {m.server:17} {_describe(m.params):28}", _figures_text)


def _figures_text(m: Measurement) -> str:
    f = m.figures
    if m.scenario == "join":
        return f"joined {f['joined']}/{f['clients']} in {f['join_seconds']}, usable after {f['usable_seconds']}"
    elif m.scenario == "fairness":
        return (f"flooder {f['sender_deliveries_per_second']:,.0f} lines/s, ping-pong p50 {_fmt(f['probe_p50_us'])} us "
                f"p99 {_fmt(f['probe_p99_us'])} us, lost {f['lost']}, reordered {f['reordered']}")
    else:
        return (f"{f['deliveries_per_second']:,.0f} deliveries/s, lost {f['lost']}, reordered {f['reordered']}, "
                f"server {_fmt(f['server_cpu_us_per_delivery'])} us/delivery")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _describe(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def interleaved(specs: list[ServerSpec | None], scenario: str, settings: Settings,
                idle: int | None = None) -> list[Measurement]:
    """Every server once per round, in the same order each round."""
    results = []
    for _ in range(settings.rounds):
        for spec in specs:
            results.append(measure(spec, scenario, settings, idle))
    return results


def median_figures(measurements: list[Measurement]) -> dict:
    """Median of each numeric figure over the rounds that worked; loss and reorder summed, not medianed."""
    good = [m.figures for m in measurements if not m.error and m.figures]
    merged: dict = {"rounds": len(good), "errors": [m.error for m in measurements if m.error]}
    if not good:
        return merged
    for key, value in good[0].items():
        values = [g[key] for g in good if isinstance(g.get(key), (int, float)) and not isinstance(g.get(key), bool)]
        if key in ("lost", "reordered", "duplicated", "order_mismatches", "closed_by_server", "connect_failures"):
            merged[key] = sum(values)
        elif values:
            merged[key] = statistics.median(values)
        elif isinstance(value, dict):
            merged[key] = value  # per-command or per-link counts: the first round's, as measured
        elif isinstance(value, bool):
            merged[key] = any(g.get(key) for g in good)
        else:
            merged[key] = None
    merged["notes"] = sorted({note for g in good for note in g.get("notes", [])})
    return merged
