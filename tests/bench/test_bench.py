"""The bench measures what it claims: every scenario runs at tiny size, and broken servers get caught.

No timing is asserted anywhere: only what the bench counts (deliveries, loss, reorder, joins).
"""

from __future__ import annotations

import json
import socket
from collections import Counter

import pytest

from requirements import require
from selchat.bench import report
from selchat.bench.cli import main
from selchat.bench.joinstorm import run_join_storm
from selchat.bench.loadgen import run_load, split_plan
from selchat.bench.loadplan import LoadPlan, LoadResult
from selchat.bench.scenarios import Settings, measure
from selchat.bench.servers import ServerSpec, start_server
from selchat.bench.wire import DeliveryCheck, format_messages, line_pattern, percentile, sender_prefix

TINY = dict(duration=0.3, warmup=0.05, drain_timeout=3.0, settle_timeout=10.0)


def tiny_settings() -> Settings:
    return Settings(connections=3, window=4, senders=2, receivers=5, idle=5, join_clients=30, flood_window=64,
                    duration=0.3, warmup=0.05, rounds=1, pin=False, quiet=True)


def runnable(name: str) -> ServerSpec:
    spec = ServerSpec(name)
    reason = spec.unavailable_reason()
    if reason:
        require(name, reason)
    return spec


# -- the sequence-number bookkeeping, without a network ------------------------------------------

def lines(marker: bytes, sender: int, seqs: list[int]) -> bytes:
    prefix = sender_prefix(marker, sender)
    return b"".join(b"<guest1> " + format_messages(prefix, seq, 1, 1_000) for seq in seqs)


@pytest.mark.parametrize("seqs, lost, reordered, duplicated", [
    ([0, 1, 2, 3, 4], 0, 0, 0),
    ([0, 1, 3, 4], 1, 0, 0),        # 2 never came
    ([0, 2, 1, 3, 4], 0, 1, 0),     # 1 came late
    ([0, 1, 1, 2, 3, 4], 0, 0, 1),  # 1 came twice
    ([0, 1, 2], 2, 0, 0),           # the tail never came
    ([4, 3, 2, 1, 0], 0, 4, 0),
])
def test_delivery_check_counts_loss_reorder_and_duplicates(seqs, lost, reordered, duplicated):
    marker = b"qtest"
    check = DeliveryCheck()
    noise = b"*** guest9 has joined\n<guest2> hello S0 #3 5\n"
    latencies: Counter = Counter()
    check.feed(noise + lines(marker, 0, seqs) + noise, line_pattern(marker), 2_000_000, latencies)
    assert check.lost({0: 5}) == lost
    assert check.reordered == reordered
    assert check.duplicated == duplicated
    assert check.received == len(seqs)
    assert sum(latencies.values()) == len(seqs)


def test_senders_are_checked_separately():
    marker = b"qtest"
    check = DeliveryCheck()
    data = lines(marker, 0, [0, 1]) + lines(marker, 1, [0]) + lines(marker, 0, [2]) + lines(marker, 1, [1])
    check.feed(data, line_pattern(marker), 0, None)
    assert check.lost({0: 3, 1: 2}) == 0 and check.reordered == 0
    assert check.lost({0: 3, 1: 3}) == 1


def test_probe_latencies_are_kept_apart_from_the_senders():
    result = LoadResult(LoadPlan("echo", senders=1, probes=1), window_seconds=2.0, window_deliveries=1_010,
                        probe_window_deliveries=10, latency_us=Counter({5_000: 1_000}),
                        probe_latency_us=Counter({100: 9, 7_000: 1}))
    f = result.summary()
    assert (f["probe_p50_us"], f["probe_p99_us"], f["probe_round_trips"]) == (100, 7_000, 10)
    assert f["latency_p50_us"] == 5_000
    assert f["sender_deliveries_per_second"] == 500 and f["deliveries_per_second"] == 505


def test_probes_get_a_worker_of_their_own():
    # In a sender's worker a probe's reply would wait behind the sender's refills.
    shares = split_plan(LoadPlan("echo", senders=3, probes=1, procs=2))
    assert [share.sender_ids for share in shares] == [[0, 2], [1], [3]]
    assert len(split_plan(LoadPlan("echo", senders=3, procs=2))) == 2


def test_percentile():
    assert percentile(Counter({10: 50, 20: 49, 1000: 1}), 0.5) == 10
    assert percentile(Counter({10: 50, 20: 49, 1000: 1}), 0.99) == 20
    assert percentile(Counter(), 0.5) is None


# -- each scenario once, tiny, against a reference server and selchat-server ---------------------

SERVERS = [ServerSpec("asyncio-protocol"), ServerSpec("asyncio-streams"), ServerSpec("selchat-epoll")]


@pytest.mark.parametrize("spec, scenario", [
    *[(spec, scenario) for spec in SERVERS for scenario in ("echo", "upper", "broadcast", "idle")],
    *[(ServerSpec(name), scenario) for name in ("asyncio-chunk", "uvloop-chunk") for scenario in ("echo", "upper")],
], ids=lambda x: getattr(x, "name", x))
def test_scenario_on_a_correct_server_reports_no_loss(spec, scenario):
    spec = runnable(spec.name)
    m = measure(spec, scenario, tiny_settings())
    assert m.error is None, m.error
    f = m.figures
    assert f["deliveries"] > 0
    assert f["deliveries"] == f["expected_deliveries"]
    assert (f["lost"], f["reordered"], f["duplicated"]) == (0, 0, 0)
    assert f["closed_by_server"] == 0 and f["connect_failures"] == 0
    assert f["server_cpu_us_per_delivery"] is not None
    assert f["server_bytes_per_connection"] is not None
    assert f["latency_p50_us"] is not None
    if scenario == "broadcast":
        # every message reached every one of the 5 clients
        assert f["expected_deliveries"] == f["sent"] * 5


@pytest.mark.parametrize("spec", SERVERS, ids=lambda s: s.name)
def test_join_storm_joins_everyone_and_the_room_works(spec):
    m = measure(spec, "join", tiny_settings())
    assert m.error is None, m.error
    f = m.figures
    assert f["joined"] == 30 and f["reached"] == 29
    assert f["join_seconds"] is not None and f["usable_seconds"] is not None


@pytest.mark.parametrize("name", ["asyncio-chunk", "uvloop-chunk"])
def test_chunk_servers_write_back_each_chunk_as_it_came(name):
    spec = runnable(name)
    with start_server(spec, "echo") as server, socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"no newline yet")  # a line server would wait for the rest of the line
        assert recv_exactly(sock, 14) == b"no newline yet"
        raw = "straße\r\n".encode() + b"\xff\n"  # as it came: no decoding, no framing
        sock.sendall(raw)
        assert recv_exactly(sock, len(raw)) == raw


@pytest.mark.parametrize("name", ["asyncio-chunk", "uvloop-chunk"])
def test_chunk_servers_upper_case_a_character_split_between_chunks(name):
    spec = runnable(name)
    with start_server(spec, "upper") as server, socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall("straß".encode()[:-1])  # ß is 2 bytes: its first one ends this chunk
        assert recv_exactly(sock, 4) == b"STRA"
        sock.sendall("ße\n".encode()[1:])
        assert recv_exactly(sock, 4) == b"SSE\n"


def test_chunk_servers_refuse_chat_mode_and_the_cli_skips_them(capsys):
    spec = ServerSpec("asyncio-chunk")
    assert spec.modes == ("echo", "upper")
    with pytest.raises(RuntimeError, match="echo and upper only"):
        start_server(spec, "chat", timeout=5)
    code = main(["broadcast", "--server", "asyncio-chunk", "--rounds", "1", "--no-pin"])
    assert code == 0
    assert "skipping asyncio-chunk for broadcast" in capsys.readouterr().err


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = sock.recv(size - len(data))
        assert part, f"connection closed after {data!r}"
        data += part
    return data


def test_selchat_runs_with_default_flags_except_what_the_bench_must_set():
    for mode in ("echo", "upper", "chat"):
        cmd = ServerSpec("selchat-epoll").command(mode)
        flags = cmd[cmd.index("selchat.server") + 1:]
        assert flags == ["--host", "127.0.0.1", "--port", "0", "--mode", mode, "--backend", "epoll"] + (
            ["--rate", "0"] if mode == "chat" else [])
    assert ServerSpec("selchat-epoll").command("chat", max_clients=10_100)[-2:] == ["--max-clients", "10100"]
    assert "--max-clients" not in ServerSpec("selchat-epoll").command("echo", max_clients=200)


# -- a broken server must be reported as broken ----------------------------------------------------

def test_replies_that_are_not_upper_cased_count_as_lost():
    with start_server(ServerSpec("asyncio-protocol"), "echo") as server:
        result = run_load(LoadPlan("upper", senders=2, window=4, **dict(TINY, drain_timeout=0.5)),
                          server.address, server.pid)
    assert result.sent > 0 and result.deliveries == 0
    assert result.lost == result.sent


@pytest.mark.parametrize("mode, plan", [
    ("echo", LoadPlan("echo", senders=2, window=4, **TINY)),
    ("upper", LoadPlan("upper", senders=2, window=4, **TINY)),
    ("chat", LoadPlan("chat", senders=2, listeners=2, window=4, **TINY)),
])
@pytest.mark.parametrize("fault, figure", [("--drop-every", "lost"), ("--swap-every", "reordered")])
def test_a_server_that_drops_or_reorders_is_caught(mode, plan, fault, figure):
    with start_server(ServerSpec("asyncio-protocol"), mode, extra_args=[fault, "7"]) as server:
        result = run_load(plan, server.address, server.pid)
    figures = result.summary()
    assert figures[figure] > 0, figures
    assert result.deliveries > 0


def test_a_server_that_is_gone_is_reported_not_hung():
    with start_server(ServerSpec("asyncio-protocol"), "chat") as server:
        address = server.address
    result = run_join_storm(address, 5, timeout=2.0)
    assert result.joined == 0 and result.connect_failures == 5


# -- the command line ----------------------------------------------------------------------------

def test_help_explains_the_scenarios(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("echo", "upper", "fairness", "broadcast", "idle", "join", "growth", "targets",
                 "asyncio-chunk", "uvloop-chunk"):
        assert word in text


def test_cli_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["broadcast", "--server", "asyncio-protocol", "--rounds", "1", "--duration", "0.3",
                 "--senders", "2", "--receivers", "4", "--no-pin", "--quiet", "--json", str(out)])
    assert code == 0
    assert "asyncio-protocol" in capsys.readouterr().out
    data = json.loads(out.read_text())
    figures = data["results"]["broadcast"]["asyncio-protocol"]
    assert figures["lost"] == 0 and figures["deliveries"] > 0
    assert data["machine"]["nproc"] >= 1


def test_fairness_reports_the_ping_pong_round_trips_beside_the_flooder(tmp_path, capsys):
    out = tmp_path / "fairness.json"
    code = main(["fairness", "--server", "asyncio-protocol", "--rounds", "1", "--duration", "0.3",
                 "--warmup", "0.05", "--flood-window", "64", "--no-pin", "--quiet", "--json", str(out)])
    assert code == 0
    assert "ping p99 ms" in capsys.readouterr().out
    f = json.loads(out.read_text())["results"]["fairness"]["asyncio-protocol"]
    assert f["probe_round_trips"] > 0 and f["sender_deliveries_per_second"] > 0
    assert 0 < f["probe_p50_us"] <= f["probe_p99_us"]
    assert (f["lost"], f["reordered"], f["duplicated"]) == (0, 0, 0)
    assert f["connections"] == 2


def test_issue_11_target_verdicts_follow_the_figures():
    line = {"rounds": 1, "lost": 0, "reordered": 0, "duplicated": 0, "server_cpu_us_per_delivery": 0.9}
    chunk = dict(line, server_cpu_us_per_delivery=0.6)
    assert report.check_per_line({"a": line}, "a", "echo").passed is True
    assert report.check_per_line({"a": dict(line, server_cpu_us_per_delivery=4.9)}, "a", "upper").passed is False
    assert report.check_per_line({"a": dict(line, lost=1)}, "a", "echo").passed is False
    assert report.check_per_line({}, "a", "echo").passed is None
    verdict = report.check_vs_chunk({"a": line, "uvloop-chunk": chunk}, "a", "echo")
    assert verdict.passed is True and "1.50x" in verdict.detail and "moonshot, at or below uvloop-chunk: not yet" in verdict.detail
    assert report.check_vs_chunk({"a": dict(line, server_cpu_us_per_delivery=0.95),
                                  "uvloop-chunk": chunk}, "a", "echo").passed is False
    assert "moonshot, at or below uvloop-chunk: met" in report.check_vs_chunk(
        {"a": chunk, "uvloop-chunk": chunk}, "a", "upper").detail
    assert report.check_vs_chunk({"a": line}, "a", "echo").passed is None  # no uvloop

    fair = {"rounds": 1, "lost": 0, "reordered": 0, "duplicated": 0, "probe_p50_us": 200.0, "probe_p99_us": 4_900.0,
            "probe_round_trips": 900, "sender_deliveries_per_second": 1e6}
    assert report.check_fairness(fair, "a").passed is True
    assert report.check_fairness(dict(fair, probe_p99_us=5_000.0), "a").passed is False
    assert report.check_fairness(None, "a").passed is None

    pair = {"lost": 0, "latency_p50_us": report.PINGPONG_P50_LIMIT_US, "latency_p99_us": 400.0,
            "server_cpu_us_per_delivery": 30.0}
    assert report.check_pingpong(pair, "a").passed is True
    assert report.check_pingpong(dict(pair, latency_p50_us=report.PINGPONG_P50_LIMIT_US + 1), "a").passed is False

    base = {"rounds": 1, "deliveries_per_second": 200_000.0}
    today = {"rounds": 1, "deliveries_per_second": 4_000_000.0, "server_cpu_us_per_delivery": 0.24}
    assert report.check_broadcast_today({"a": today, "asyncio-protocol": base}, "a").passed is True
    assert report.check_broadcast_today({"a": dict(today, server_cpu_us_per_delivery=0.31),
                                         "asyncio-protocol": base}, "a").passed is False
    assert report.check_broadcast_today({"a": dict(today, deliveries_per_second=2_000_000.0),
                                         "asyncio-protocol": base}, "a").passed is False
    assert report.check_idle_memory({"server_bytes_per_connection": 1024, "connections": 10_002}, "a").passed
    assert not report.check_idle_memory({"server_bytes_per_connection": 1025, "connections": 10_002}, "a").passed


def test_target_verdicts_follow_the_figures():
    base = {"rounds": 1, "deliveries_per_second": 100.0, "server_cpu_us_per_delivery": 2.0}
    fast = {"rounds": 1, "deliveries_per_second": 900.0, "lost": 0, "reordered": 0, "duplicated": 0,
            "server_cpu_us_per_delivery": 1.0}
    assert report.check_broadcast({"a": fast, "asyncio-protocol": base}, "a").passed is True
    assert report.check_broadcast({"a": dict(fast, lost=1), "asyncio-protocol": base}, "a").passed is False
    assert report.check_broadcast({"a": dict(fast, deliveries_per_second=700.0),
                                   "asyncio-protocol": base}, "a").passed is False
    assert report.check_echo({"a": fast, "asyncio-protocol": base}, "a").passed is True
    assert report.check_echo({"a": dict(fast, server_cpu_us_per_delivery=3.0),
                              "asyncio-protocol": base}, "a").passed is False
    assert report.check_idle_memory({"server_bytes_per_connection": 900, "connections": 10_002}, "a").passed
    assert not report.check_idle_memory({"server_bytes_per_connection": 2900, "connections": 10_002}, "a").passed
    assert report.check_join(None, "a").passed is None
