"""Turning measurements into what people read: tables, ratios, PASS/FAIL target lines, a plot.

Everything here works on the median figures of `scenarios.median_figures`; nothing measures.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE = "asyncio-protocol"
CHUNK_REFERENCE = "uvloop-chunk"

# Issue 11's targets. "No worse than today" is today's figure from docs/benchmarks.md plus a
# margin: single runs on the 2-core VM vary by about +-20 %, so a 25 % margin (40 % for a latency,
# which a neighbour job moves most) keeps a target from failing on noise while still catching a
# real regression.
PER_LINE_LIMIT_US = 1.0  # echo and upper pipelined: server CPU per line
CHUNK_FACTOR = 1.5  # ... and at most this times uvloop's chunk echo, measured in the same run
FAIRNESS_P99_LIMIT_US = 5_000.0  # the ping-pong client's p99 while a flooder runs
TODAY_PINGPONG_P50_US = 109.0  # one active pair, 1 in flight, no idle connections
PINGPONG_P50_LIMIT_US = 150.0  # today's 109 us + ~40 %
TODAY_BROADCAST_US = 0.24  # server CPU per delivery, 10 senders -> 100 clients
BROADCAST_US_LIMIT = 0.30  # today's 0.24 us + 25 %
TODAY_BROADCAST_RATIO = 19.47  # deliveries/s vs asyncio Protocol (a floor: the load generator saturated)
BROADCAST_RATIO_FLOOR = 14.6  # today's 19.47x - 25 %
IDLE_BYTES_LIMIT = 1024  # per idle connection at 10,000 (today 935 B, the 1 KiB is the margin)


def _num(value, digits: int = 1, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    return f"{value * scale:,.{digits}f}"


def _ratio(value, base) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x"


def _failed_row(name: str, m: dict) -> str:
    """A table row for a server none of whose rounds worked: the first line of its first error."""
    return f"{name:17} failed: {(m.get('errors') or ['?'])[0].splitlines()[0][:90]}"


def throughput_table(title: str, medians: dict[str, dict], baseline: str = BASELINE) -> str:
    """Echo or broadcast results, one row per server, ratios against the baseline server."""
    base = medians.get(baseline, {})
    header = (f"{'server':17} {'deliv/s':>11} {'vs base':>8} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6} "
              f"{'reord':>6} {'srv us/msg':>10} {'vs base':>8} {'srv B/conn':>10} {'loadgen':>8}")
    lines = [title, header, "-" * len(header)]
    for name, m in medians.items():
        if not m.get("rounds"):
            lines.append(_failed_row(name, m))
            continue
        lines.append(
            f"{name:17} {_num(m['deliveries_per_second'], 0):>11} "
            f"{_ratio(m['deliveries_per_second'], base.get('deliveries_per_second')):>8} "
            f"{_num(m['latency_p50_us'], 2, 1e-3):>8} {_num(m['latency_p99_us'], 2, 1e-3):>8} "
            f"{m['lost']:>6} {m['reordered']:>6} {_num(m['server_cpu_us_per_delivery'], 2):>10} "
            f"{_ratio(m['server_cpu_us_per_delivery'], base.get('server_cpu_us_per_delivery')):>8} "
            f"{_num(m['server_bytes_per_connection'], 0):>10} "
            f"{_num(m['loadgen_busiest_core_share'], 0, 100):>7}%")
    notes = sorted({f"{name}: {note}" for name, m in medians.items() for note in m.get("notes", [])})
    lines += [f"  note: {n}" for n in notes]
    lines.append(f"  (medians of {max((m.get('rounds', 0) for m in medians.values()), default=0)} rounds; "
                 f"'vs base' = ratio to {baseline}; loadgen = busiest load generator process, % of a core)")
    return "\n".join(lines)


def growth_table(growth: dict[str, dict[int, dict]]) -> str:
    """Server CPU per message of the active pair, rows = idle connections, columns = servers."""
    servers = list(growth)
    idles = sorted({m for per in growth.values() for m in per})
    header = f"{'idle conns':>10} " + " ".join(f"{s:>17}" for s in servers)
    lines = ["cost growth: server CPU us per message of one active pair, as idle connections grow",
             header, "-" * len(header)]
    for idle in idles:
        cells = []
        for s in servers:
            m = growth[s].get(idle)
            cells.append(f"{'n/a' if m is None else _num(m.get('server_cpu_us_per_delivery'), 1):>17}")
        lines.append(f"{idle:>10} " + " ".join(cells))
    lines.append("  (n/a: select cannot watch descriptors past FD_SETSIZE = 1024)")
    memory = [(s, growth[s][max(growth[s])]) for s in servers if growth[s]]
    for s, m in memory:
        lines.append(f"  {s}: {_num(m.get('server_bytes_per_connection'), 0)} bytes of server RSS per connection "
                     f"at {max(growth[s])} idle connections")
    return "\n".join(lines)


def fairness_table(title: str, medians: dict[str, dict]) -> str:
    """The fairness scenario: the flooder's throughput and the ping-pong client's round trips."""
    header = (f"{'server':17} {'flood lines/s':>13} {'pings':>7} {'ping p50 ms':>11} {'ping p99 ms':>11} "
              f"{'lost':>6} {'reord':>6} {'srv us/msg':>10} {'loadgen':>8}")
    lines = [title, header, "-" * len(header)]
    for name, m in medians.items():
        if not m.get("rounds"):
            lines.append(_failed_row(name, m))
            continue
        lines.append(f"{name:17} {_num(m['sender_deliveries_per_second'], 0):>13} {m['probe_round_trips']:>7,.0f} "
                     f"{_num(m['probe_p50_us'], 2, 1e-3):>11} {_num(m['probe_p99_us'], 2, 1e-3):>11} "
                     f"{m['lost']:>6} {m['reordered']:>6} {_num(m['server_cpu_us_per_delivery'], 2):>10} "
                     f"{_num(m['loadgen_busiest_core_share'], 0, 100):>7}%")
    lines.append("  (pings = the ping-pong client's round trips in the window, one in flight; medians of rounds)")
    return "\n".join(lines)


def pingpong_line(figures: dict | None) -> str:
    figures = figures or {}
    return (f"ping-pong: one active pair, 1 in flight, no idle connections: p50 {_num(figures.get('latency_p50_us'), 0)} us, "
            f"p99 {_num(figures.get('latency_p99_us'), 0)} us, "
            f"server {_num(figures.get('server_cpu_us_per_delivery'), 1)} us CPU per message")


def join_table(medians: dict[str, dict]) -> str:
    header = f"{'server':17} {'clients':>8} {'joined':>8} {'join s':>8} {'usable s':>9} {'B/client':>9} {'srv B/conn':>10}"
    lines = ["join storm: clients connect at once; joined = greeted; usable = a message reaches all others",
             header, "-" * len(header)]
    for name, m in medians.items():
        if not m.get("rounds"):
            lines.append(_failed_row(name, m))
            continue
        lines.append(f"{name:17} {m['clients']:>8.0f} {m['joined']:>8.0f} {_num(m['join_seconds'], 2):>8} "
                     f"{_num(m['usable_seconds'], 3):>9} {_num(m['bytes_per_client'], 0):>9} "
                     f"{_num(m['server_bytes_per_connection'], 0):>10}")
    return "\n".join(lines)


@dataclass
class Verdict:
    """One target: whether it holds, and the measured figures that say so."""

    name: str
    passed: bool | None  # None: could not be measured
    detail: str

    def line(self) -> str:
        word = {True: "PASS", False: "FAIL", None: "SKIP"}[self.passed]
        return f"{word} {self.name}: {self.detail}"


def check_broadcast(medians: dict[str, dict], server: str, baseline: str = BASELINE) -> Verdict:
    name = "broadcast 10 senders -> 100 clients, >= 8x asyncio Protocol deliveries/s, zero loss and reorder"
    ours, base = medians.get(server, {}), medians.get(baseline, {})
    if not ours.get("rounds") or not base.get("rounds"):
        return Verdict(name, None, f"needs {server} and {baseline} results")
    ratio = ours["deliveries_per_second"] / base["deliveries_per_second"]
    clean = ours["lost"] == 0 and ours["reordered"] == 0 and ours["duplicated"] == 0
    detail = (f"{server} {ours['deliveries_per_second']:,.0f}/s vs {baseline} {base['deliveries_per_second']:,.0f}/s "
              f"= {ratio:.2f}x; lost {ours['lost']}, reordered {ours['reordered']}, duplicated {ours['duplicated']}")
    if ours.get("loadgen_saturated") or base.get("loadgen_saturated"):
        detail += " (load generator saturated: ratio is a floor)"
    return Verdict(name, ratio >= 8.0 and clean, detail)


def check_echo(medians: dict[str, dict], server: str) -> Verdict:
    reference = "uvloop-protocol" if medians.get("uvloop-protocol", {}).get("rounds") else BASELINE
    name = f"pipelined echo: server CPU per message <= {reference}'s"
    ours, ref = medians.get(server, {}), medians.get(reference, {})
    if not ours.get("rounds") or not ref.get("rounds"):
        return Verdict(name, None, f"needs {server} and {reference} results")
    a, b = ours["server_cpu_us_per_delivery"], ref["server_cpu_us_per_delivery"]
    return Verdict(name, a <= b, f"{server} {a:.2f} us/msg vs {reference} {b:.2f} us/msg ({a / b:.2f}x)")


def check_per_line(medians: dict[str, dict], server: str, scenario: str) -> Verdict:
    name = f"{scenario} pipelined: <= {PER_LINE_LIMIT_US:g} us of server CPU per line"
    ours = medians.get(server, {})
    if not ours.get("rounds") or ours.get("server_cpu_us_per_delivery") is None:
        return Verdict(name, None, f"needs a {scenario} run of {server} with its CPU time")
    a = ours["server_cpu_us_per_delivery"]
    clean = ours["lost"] == 0 and ours["reordered"] == 0 and ours["duplicated"] == 0
    detail = f"{server} {a:.2f} us/line; lost {ours['lost']}, reordered {ours['reordered']}"
    return Verdict(name, a <= PER_LINE_LIMIT_US and clean, detail)


def check_vs_chunk(medians: dict[str, dict], server: str, scenario: str,
                   reference: str = CHUNK_REFERENCE) -> Verdict:
    """Per-line CPU against the chunk-echo reference in the same mode and run; the moonshot is 1.0x."""
    name = f"{scenario} pipelined: <= {CHUNK_FACTOR:g}x {reference}'s server CPU per line (same run)"
    ours, ref = medians.get(server, {}), medians.get(reference, {})
    if not ours.get("rounds") or not ref.get("rounds"):
        return Verdict(name, None, f"needs {server} and {reference} results (uvloop: uv run --extra bench)")
    a, b = ours["server_cpu_us_per_delivery"], ref["server_cpu_us_per_delivery"]
    if a is None or b is None:
        return Verdict(name, None, "needs server CPU times (not available with --connect)")
    ratio = a / b
    moonshot = "met" if ratio <= 1.0 else "not yet"
    return Verdict(name, ratio <= CHUNK_FACTOR,
                   f"{server} {a:.2f} us/line vs {reference} {b:.2f} us/line = {ratio:.2f}x "
                   f"(moonshot, at or below {reference}: {moonshot})")


def check_fairness(figures: dict | None, server: str) -> Verdict:
    name = f"fairness: ping-pong p99 < {FAIRNESS_P99_LIMIT_US / 1000:g} ms while a flooder pipelines"
    if not figures or not figures.get("rounds") or figures.get("probe_p99_us") is None:
        return Verdict(name, None, f"needs a fairness run of {server}")
    p50, p99 = figures["probe_p50_us"], figures["probe_p99_us"]
    clean = figures["lost"] == 0 and figures["reordered"] == 0 and figures["duplicated"] == 0
    return Verdict(name, p99 < FAIRNESS_P99_LIMIT_US and clean,
                   f"{server} ping-pong p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms over "
                   f"{figures['probe_round_trips']:,.0f} round trips; flooder "
                   f"{figures['sender_deliveries_per_second']:,.0f} lines/s; lost {figures['lost']}")


def check_pingpong(figures: dict | None, server: str) -> Verdict:
    name = (f"ping-pong (one active pair, 1 in flight): p50 <= {PINGPONG_P50_LIMIT_US:g} us "
            f"(today {TODAY_PINGPONG_P50_US:g} us + margin)")
    if not figures or figures.get("latency_p50_us") is None:
        return Verdict(name, None, f"needs an idle run of {server} with no idle connections")
    p50 = figures["latency_p50_us"]
    return Verdict(name, p50 <= PINGPONG_P50_LIMIT_US and figures["lost"] == 0,
                   f"{server} p50 {p50:.0f} us, p99 {_num(figures.get('latency_p99_us'), 0)} us, "
                   f"{_num(figures.get('server_cpu_us_per_delivery'), 1)} us server CPU per message")


def check_broadcast_today(medians: dict[str, dict], server: str, baseline: str = BASELINE) -> Verdict:
    name = (f"broadcast no worse than today: <= {BROADCAST_US_LIMIT:g} us server CPU per delivery "
            f"(today {TODAY_BROADCAST_US:g}), >= {BROADCAST_RATIO_FLOOR:g}x {baseline} (today {TODAY_BROADCAST_RATIO:g}x)")
    ours, base = medians.get(server, {}), medians.get(baseline, {})
    if not ours.get("rounds") or not base.get("rounds") or ours.get("server_cpu_us_per_delivery") is None:
        return Verdict(name, None, f"needs {server} and {baseline} results with CPU times")
    us = ours["server_cpu_us_per_delivery"]
    ratio = ours["deliveries_per_second"] / base["deliveries_per_second"]
    return Verdict(name, us <= BROADCAST_US_LIMIT and ratio >= BROADCAST_RATIO_FLOOR,
                   f"{server} {us:.2f} us/delivery, {ours['deliveries_per_second']:,.0f}/s = {ratio:.2f}x {baseline}")


def check_idle_memory(figures: dict | None, server: str) -> Verdict:
    name = "10,000 idle connections on epoll: <= 1 KiB server memory per connection (today 935 B)"
    if not figures or figures.get("server_bytes_per_connection") is None:
        return Verdict(name, None, f"needs an idle run of {server} at 10,000 connections")
    per = figures["server_bytes_per_connection"]
    return Verdict(name, per <= IDLE_BYTES_LIMIT and figures["connections"] >= 10_000,
                   f"{server} {per:,.0f} bytes/connection over {figures['connections']:,.0f} connections")


def check_join(figures: dict | None, server: str) -> Verdict:
    name = "10,000 chat clients join within 10 s and the room stays usable"
    if not figures or not figures.get("rounds"):
        return Verdict(name, None, f"needs a join storm of {server}")
    joined_all = figures["joined"] >= figures["clients"] and figures.get("join_seconds") is not None
    usable = figures.get("usable_seconds") is not None
    seconds = figures.get("join_seconds")
    ok = joined_all and usable and seconds < 10
    return Verdict(name, ok, f"{server} joined {figures['joined']:,.0f}/{figures['clients']:,.0f} in "
                             f"{_num(seconds, 2)} s, message reached all in {_num(figures.get('usable_seconds'), 3)} s, "
                             f"{figures['bytes_per_client']:,.0f} bytes received per client")


def plot_growth(growth: dict[str, dict[int, dict]], path: str, machine: dict) -> str | None:
    """Write the cost-growth PNG; return None on success or why it was skipped."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (uv sync --extra bench): plot skipped"
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for server, per in growth.items():
        points = sorted((m, f["server_cpu_us_per_delivery"]) for m, f in per.items()
                        if f.get("server_cpu_us_per_delivery") is not None)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=server)
    ax.set_xscale("symlog", linthresh=100)
    ax.set_xlabel("idle connections (symlog scale)")
    ax.set_yscale("log")  # select and poll grow by orders of magnitude; epoll stays flat
    ax.set_ylabel("server CPU per message, µs (log scale)")
    ax.set_title("Cost of one active pair as idle connections grow")
    ax.axvline(1024, color="grey", linestyle=":", linewidth=1)
    ax.text(1024, ax.get_ylim()[1] * 0.95, " FD_SETSIZE", color="grey", va="top", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.01, f"{machine.get('nproc')} cores, Python {machine.get('python')}; "
             f"{machine.get('uname', '')[:90]}", fontsize=6, color="grey")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None
