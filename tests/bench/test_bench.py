"""The bench measures what it claims: every scenario runs at tiny size, and broken servers get caught.

No timing is asserted anywhere: only what the bench counts (deliveries, loss, reorder, joins).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from selchat.bench import report
from selchat.bench.cli import main
from selchat.bench.joinstorm import run_join_storm
from selchat.bench.loadgen import LoadPlan, run_load
from selchat.bench.scenarios import Settings, measure
from selchat.bench.servers import ServerSpec, start_server
from selchat.bench.wire import DeliveryCheck, format_messages, line_pattern, percentile, sender_prefix

TINY = dict(duration=0.3, warmup=0.05, drain_timeout=3.0, settle_timeout=10.0)


def tiny_settings() -> Settings:
    return Settings(connections=3, window=4, senders=2, receivers=5, idle=5, join_clients=30,
                    duration=0.3, warmup=0.05, rounds=1, pin=False, quiet=True)


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


def test_percentile():
    assert percentile(Counter({10: 50, 20: 49, 1000: 1}), 0.5) == 10
    assert percentile(Counter({10: 50, 20: 49, 1000: 1}), 0.99) == 20
    assert percentile(Counter(), 0.5) is None


# -- each scenario once, tiny, against a reference server and selchat-server ---------------------

SERVERS = [ServerSpec("asyncio-protocol"), ServerSpec("asyncio-streams"), ServerSpec("selchat-epoll")]


@pytest.mark.parametrize("spec", SERVERS, ids=lambda s: s.name)
@pytest.mark.parametrize("scenario", ["echo", "broadcast", "idle"])
def test_scenario_on_a_correct_server_reports_no_loss(spec, scenario):
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


# -- a broken server must be reported as broken ----------------------------------------------------

@pytest.mark.parametrize("mode, plan", [
    ("echo", LoadPlan("echo", senders=2, window=4, **TINY)),
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
    for word in ("echo", "broadcast", "idle", "join", "growth", "targets"):
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
