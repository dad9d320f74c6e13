"""Turning measurements into what people read: tables, ratios, PASS/FAIL target lines, a plot.

Everything here works on the median figures of `scenarios.median_figures`; nothing measures.
"""

from __future__ import annotations

from dataclasses import dataclass

BASELINE = "asyncio-protocol"


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


def check_idle_memory(figures: dict | None, server: str) -> Verdict:
    name = "10,000 idle connections on epoll: < 1 KiB server memory per connection"
    if not figures or figures.get("server_bytes_per_connection") is None:
        return Verdict(name, None, f"needs an idle run of {server} at 10,000 connections")
    per = figures["server_bytes_per_connection"]
    return Verdict(name, per < 1024 and figures["connections"] >= 10_000,
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
