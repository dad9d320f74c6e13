"""`selchat-bench cluster` measures what it claims, at tiny size, against real nodes and a real Redis.

Nothing here asserts a speed: only what the bench counts (deliveries, loss, order, Redis commands,
sends against turns) and that every figure the report and the targets need is there.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from requirements import require
from selchat.bench import cluster_report
from selchat.bench.cluster import BATCHING, CROSSNODE, SINGLE, run_cluster
from selchat.bench.redis import RedisProcess, redis_server_path
from selchat.bench.redisstats import RedisCost, RedisSnapshot
from selchat.bench.scenarios import Settings, median_figures
from selchat.bench.wire import DeliveryCheck, format_messages, line_pattern, sender_prefix

MARKER = b"qtest"


def lines(sender: int, seqs: list[int]) -> bytes:
    return b"".join(b"<guest1> " + format_messages(sender_prefix(MARKER, sender), seq, 1, 1_000) for seq in seqs)


def heard(*chunks: bytes) -> DeliveryCheck:
    check = DeliveryCheck()
    for chunk in chunks:
        check.feed(chunk, line_pattern(MARKER), 2_000_000, None)
    return check


def test_receivers_that_heard_one_order_have_one_digest_however_the_bytes_were_cut():
    whole = lines(0, [0, 1]) + lines(1, [0]) + lines(0, [2])
    cut = len(lines(0, [0]))
    assert heard(whole).order_digest() == heard(whole[:cut], whole[cut:]).order_digest()


def test_another_interleaving_of_the_senders_is_another_order_though_nothing_is_reordered():
    one = heard(lines(0, [0, 1]) + lines(1, [0, 1]))
    other = heard(lines(0, [0]) + lines(1, [0]) + lines(0, [1]) + lines(1, [1]))
    assert one.reordered == other.reordered == 0 and one.lost({0: 2, 1: 2}) == other.lost({0: 2, 1: 2}) == 0
    assert one.order_digest() != other.order_digest()


def test_redis_cost_counts_lines_by_xadd_and_posts_net_of_heartbeats():
    before = RedisSnapshot(calls={"evalsha": 10, "xadd": 8, "zadd": 1, "xread": 3, "info": 5}, cpu_seconds=1.0,
                           link_segments={"selchat:n1:cmd": 4, "selchat:n1:feed": 2})
    after = RedisSnapshot(calls={"evalsha": 112, "xadd": 108, "zadd": 3, "xread": 13, "info": 9, "hset": 50},
                          cpu_seconds=1.002, link_segments={"selchat:n1:cmd": 24, "selchat:n1:feed": 12})
    figures = RedisCost.between(before, after).summary()
    assert figures["redis_lines"] == 100
    assert figures["redis_posts_per_line"] == pytest.approx(1.0)  # 102 scripts, 2 of them heartbeats
    assert figures["redis_xreads_per_line"] == pytest.approx(0.1)
    assert figures["redis_commands_per_line"] == pytest.approx(1.12)  # 102 scripts + 10 XREADs, no INFO
    assert figures["redis_cpu_us_per_line"] == pytest.approx(20.0)
    assert figures["redis_lines_per_cmd_send"] == pytest.approx(5.0)
    assert "info" not in figures["redis_calls"]


def test_verdicts_fail_on_a_second_command_per_line_or_a_lost_line_and_skip_without_figures():
    good = {"rounds": 1, "lost": 0, "reordered": 0, "duplicated": 0, "order_mismatches": 0}
    two = dict(good, deliveries_per_second=600.0, redis_posts_per_line=1.0, redis_commands_per_line=1.05,
               redis_xreads_per_line=0.05, redis_calls_per_line=5.0)
    medians = {SINGLE: dict(good, deliveries_per_second=1000.0), "2 nodes": two}
    assert cluster_report.check_two_nodes(medians).passed is True
    assert cluster_report.check_commands_per_line(medians).passed is True
    assert cluster_report.check_two_nodes({**medians, "2 nodes": dict(two, order_mismatches=1)}).passed is False
    assert cluster_report.check_commands_per_line({**medians, "2 nodes": dict(two, redis_posts_per_line=2.0)}).passed is False
    assert all(v.passed is None for v in cluster_report.cluster_verdicts({}))


def require_cluster() -> None:
    if redis_server_path() is None:
        require("redis-server", "apt-get install redis-server")
    try:
        import hiredis  # noqa: F401
    except ImportError:
        require("hiredis", "uv sync (it is in the dev group; selchat[cluster] for users)")


@pytest.fixture(scope="module")
def redis():
    require_cluster()
    with RedisProcess().start() as server:
        yield server


def test_two_nodes_on_one_redis_deliver_every_line_once_in_one_order_and_report_redis_side(redis):
    settings = Settings(senders=2, receivers=6, window=4, duration=0.3, warmup=0.05, rounds=1, pin=False, quiet=True)
    measurements = run_cluster(settings, node_counts=(2,), redis=redis)
    assert [m.error for m in measurements] == [None] * len(measurements)
    medians = {m.server: median_figures([m]) for m in measurements}
    assert set(medians) == {SINGLE, "2 nodes", CROSSNODE, BATCHING}

    two = medians["2 nodes"]
    assert two["connections"] == 6 and two["deliveries"] == two["expected_deliveries"] > 0
    assert (two["lost"], two["reordered"], two["duplicated"], two["order_mismatches"]) == (0, 0, 0, 0)
    assert two["redis_lines"] > 0 and 0 < two["redis_posts_per_line"] <= 1  # a turn's lines: one call
    assert two["redis_xreads_per_line"] > 0 and two["redis_cpu_us_per_line"] is not None

    cross = medians[CROSSNODE]
    assert cross["listener_p50_us"] is not None and cross["listener_p99_us"] is not None and cross["lost"] == 0

    batching = medians[BATCHING]
    links, turns = batching["redis_links_lifetime"], batching["node_turns"]
    assert set(links) == {"selchat:n1:cmd", "selchat:n1:feed", "selchat:n2:cmd", "selchat:n2:feed"}
    assert cluster_report.check_sends_per_turn(batching).passed is True, (links, turns)

    table = cluster_report.cluster_table("cluster", medians)
    assert "2 nodes" in table and "node 1 -> Redis -> node 2" in table
    assert [v.passed is not None for v in cluster_report.cluster_verdicts(medians)] == [True] * 4


def test_without_redis_server_the_bench_says_how_to_install_it(tmp_path):
    env = dict(os.environ, SELCHAT_REDIS_SERVER=str(tmp_path / "no-redis-server"))
    done = subprocess.run([sys.executable, "-m", "selchat.bench", "cluster", "--rounds", "1", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert "redis-server is not installed" in done.stderr and "apt install redis-server" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_of_one_server_on_one_port_count_like_separate_nodes(redis):
    settings = Settings(senders=2, receivers=6, window=4, duration=0.3, warmup=0.05, rounds=1, pin=False, quiet=True)
    measurements = run_cluster(settings, node_counts=(), redis=redis, worker_counts=(2,))
    two = median_figures([m for m in measurements if m.server == "2 workers"])
    assert two["rounds"] == 1, two["errors"]
    assert two["connections"] == 6 and two["deliveries"] == two["expected_deliveries"] > 0
    assert (two["lost"], two["reordered"], two["order_mismatches"]) == (0, 0, 0)
    assert 0 < two["redis_posts_per_line"] <= 1


def test_a_redis_server_that_never_says_it_is_ready_is_given_up_on(tmp_path):
    from selchat.bench.redis import RedisProcess

    hung = tmp_path / "redis-server"
    hung.write_text("#!/bin/sh\nexec sleep 60\n")
    hung.chmod(0o755)
    server = RedisProcess(str(hung), start_timeout=0.5)
    with pytest.raises(RuntimeError, match="not ready within 0.5 s"):
        server.start()
    assert server.process.poll() is not None  # killed, not left behind
