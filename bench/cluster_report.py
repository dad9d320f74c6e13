"""The cluster scenario's table and its targets (issue 15), from the median figures of `bench/cluster.py`."""

from __future__ import annotations

from .cluster import BATCHING, CROSSNODE, SINGLE
from .report import Verdict, _failed_row, _num

CROSSNODE_P50_LIMIT_US = 1_000.0
CROSSNODE_P99_LIMIT_US = 5_000.0
TWO_NODES_SHARE = 0.5  # 2 nodes' deliveries/s against the single server's, same run
COMMANDS_PER_LINE_LIMIT = 1.0


def _clean(m: dict) -> bool:
    return (m.get("lost") == 0 and m.get("reordered") == 0 and m.get("duplicated") == 0
            and m.get("order_mismatches") == 0)


def cluster_table(title: str, medians: dict[str, dict]) -> str:
    """One row per configuration: the single server, then 1, 2, 3 nodes, then the light-load run."""
    base = medians.get(SINGLE, {}).get("deliveries_per_second")
    header = (f"{'config':11} {'deliv/s':>9} {'vs single':>9} {'p50 ms':>7} {'p99 ms':>7} {'lost':>5} "
              f"{'reord':>5} {'order≠':>6} {'srv us/dl':>9} {'cmds/line':>9} {'posts/l':>7} {'xread/l':>7} "
              f"{'redis us/l':>10} {'lines/send':>10} {'loadgen':>7}")
    lines = [title, header, "-" * len(header)]
    for name, m in medians.items():
        if name == BATCHING:
            continue
        if not m.get("rounds"):
            lines.append(_failed_row(name, m))
            continue
        # The light-load run's deliveries/s is one line at a time, not a throughput to compare.
        ratio = f"{m['deliveries_per_second'] / base:.2f}x" if base and name != CROSSNODE else "-"
        lines.append(
            f"{name:11} {_num(m['deliveries_per_second'], 0):>9} {ratio:>9} "
            f"{_num(m.get('latency_p50_us'), 2, 1e-3):>7} {_num(m.get('latency_p99_us'), 2, 1e-3):>7} "
            f"{m['lost']:>5} {m['reordered']:>5} {m.get('order_mismatches', 0):>6} "
            f"{_num(m.get('server_cpu_us_per_delivery'), 2):>9} {_num(m.get('redis_commands_per_line'), 3):>9} "
            f"{_num(m.get('redis_posts_per_line'), 3):>7} {_num(m.get('redis_xreads_per_line'), 3):>7} "
            f"{_num(m.get('redis_cpu_us_per_line'), 1):>10} {_num(m.get('redis_lines_per_cmd_send'), 1):>10} "
            f"{_num(m.get('loadgen_busiest_core_share'), 0, 100):>6}%")
    cross = medians.get(CROSSNODE, {})
    if cross.get("rounds"):
        lines.append(f"  {CROSSNODE}: 1 sender on node 1, 1 listener on node 2, 1 line in flight: node 1 -> Redis -> "
                     f"node 2 p50 {_num(cross.get('listener_p50_us'), 2, 1e-3)} ms, p99 "
                     f"{_num(cross.get('listener_p99_us'), 2, 1e-3)} ms "
                     f"({cross['deliveries_per_second'] / 2:,.0f} lines/s)")
    batching = medians.get(BATCHING, {})
    if batching.get("rounds"):
        lines.append("  " + batching_line(batching))
    notes = sorted({f"{name}: {note}" for name, m in medians.items() for note in m.get("notes", [])})
    lines += [f"  note: {n}" for n in notes]
    lines.append("  (in the measured window: srv us/dl = all nodes' CPU per delivery; cmds/line = commands the "
                 "nodes sent to Redis per line stored; posts/l = post scripts per line; xread/l = the feeds' reads; "
                 "redis us/l = Redis CPU per line; lines/send = lines per TCP segment into Redis on the nodes' "
                 "cmd links; medians of rounds)")
    return "\n".join(lines)


def batching_line(m: dict) -> str:
    links = m.get("redis_links_lifetime") or {}
    turns = m.get("node_turns") or {}
    parts = []
    for node, count in sorted(turns.items()):
        cmd = links.get(f"selchat:{node}:cmd")
        feed = links.get(f"selchat:{node}:feed")
        parts.append(f"{node}: {count} turns, cmd {cmd} sends, feed {feed} sends")
    return (f"{BATCHING} (2 nodes with --trace, same load; counts over each node's life): " + "; ".join(parts))


def check_crossnode(m: dict | None) -> Verdict:
    name = (f"cluster: cross-node latency at light load p50 <= {CROSSNODE_P50_LIMIT_US / 1000:g} ms, "
            f"p99 <= {CROSSNODE_P99_LIMIT_US / 1000:g} ms")
    if not m or not m.get("rounds") or m.get("listener_p50_us") is None:
        return Verdict(name, None, "needs a crossnode run (redis-server and hiredis)")
    p50, p99 = m["listener_p50_us"], m["listener_p99_us"]
    return Verdict(name, p50 <= CROSSNODE_P50_LIMIT_US and p99 <= CROSSNODE_P99_LIMIT_US and _clean(m),
                   f"node 1 -> node 2 p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms; lost {m['lost']}")


def check_two_nodes(medians: dict[str, dict]) -> Verdict:
    name = (f"cluster: 2 nodes >= {TWO_NODES_SHARE:.0%} of the single server's broadcast deliveries/s "
            f"(same run), 0 lost, 0 reordered, one order at every receiver")
    two, single = medians.get("2 nodes", {}), medians.get(SINGLE, {})
    if not two.get("rounds") or not single.get("rounds"):
        return Verdict(name, None, "needs the single-server and 2-node runs (redis-server and hiredis)")
    share = two["deliveries_per_second"] / single["deliveries_per_second"]
    return Verdict(name, share >= TWO_NODES_SHARE and _clean(two),
                   f"2 nodes {two['deliveries_per_second']:,.0f}/s vs single {single['deliveries_per_second']:,.0f}/s "
                   f"= {share:.0%}; lost {two['lost']}, reordered {two['reordered']}, duplicated {two['duplicated']}, "
                   f"order mismatches {two['order_mismatches']}")


def check_commands_per_line(medians: dict[str, dict]) -> Verdict:
    name = (f"cluster: <= {COMMANDS_PER_LINE_LIMIT:g} Redis command to post a line (2 nodes under load; "
            f"reads are per batch)")
    two = medians.get("2 nodes", {})
    if not two.get("rounds") or two.get("redis_posts_per_line") is None:
        return Verdict(name, None, "needs a 2-node run (redis-server and hiredis)")
    posts = two["redis_posts_per_line"]
    return Verdict(name, posts <= COMMANDS_PER_LINE_LIMIT,
                   f"{posts:.4f} post script calls per line stored (one call carries a turn's lines); with the feeds' reads "
                   f"{two['redis_commands_per_line']:.3f} commands sent per line "
                   f"({two['redis_xreads_per_line']:.4f} XREADs); {two['redis_calls_per_line']:.2f} Redis "
                   f"calls per line counting those inside the scripts")


def check_sends_per_turn(m: dict | None) -> Verdict:
    name = "cluster: at most one send() per loop turn per Redis link (TCP segments into Redis vs traced turns)"
    if not m or not m.get("rounds") or not m.get("node_turns"):
        return Verdict(name, None, "needs the traced batching run (redis-server and hiredis)")
    links = m.get("redis_links_lifetime") or {}
    if not links:
        return Verdict(name, None, "needs `ss` (iproute2) to count segments per link")
    worst = []
    ok = True
    for node, turns in sorted(m["node_turns"].items()):
        for link in ("cmd", "feed"):
            sends = links.get(f"selchat:{node}:{link}")
            if sends is None or turns is None:
                ok = False
                worst.append(f"{node} {link}: not measured")
                continue
            ok = ok and sends <= turns
            worst.append(f"{node} {link} {sends}/{turns}")
    return Verdict(name, ok, "sends/turns " + ", ".join(worst)
                   + f"; {_num(m.get('redis_lines_per_cmd_send'), 1)} lines per cmd send")


def cluster_verdicts(medians: dict[str, dict]) -> list[Verdict]:
    return [check_crossnode(medians.get(CROSSNODE)), check_two_nodes(medians),
            check_commands_per_line(medians), check_sends_per_turn(medians.get(BATCHING))]
