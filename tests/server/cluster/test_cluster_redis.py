"""ClusterNodes against a real redis-server, driven by a small select loop (redis_fixture.NodeLoop)."""

import random
import signal
import socket
import time

from redis_fixture import BlockingRedis

from selchat.server.cluster import outputs as out
from selchat.server.cluster.node import ClusterNode, NodeConfig
from selchat.server.cluster.resp import parse_broker_url
from selchat.server.cluster.room_log import RoomKeys, parse_sid

KEYS = RoomKeys("lobby")


def make_node(loop, server, node_id, **config):
    config.setdefault("room", "lobby")
    node = ClusterNode(NodeConfig(parse_broker_url(server.url), node_id=node_id, **config),
                       time.monotonic(), rng=random.Random(1))
    loop.add(node)
    loop.run_until(lambda: node.ready)
    return node


def delivered(loop, node, kind=None):
    return [o.event for o in loop.of(node, out.Delivered) if kind is None or o.event.kind == kind]


def join(loop, node, nick, session):
    handle = object()
    node.claim(handle, nick, time.monotonic(), session=session)
    loop.run_until(lambda: any(c.handle is handle for c in loop.of(node, out.ClaimDone)))
    return next(c.status for c in loop.of(node, out.ClaimDone) if c.handle is handle)


def test_every_node_reads_every_line_in_one_order_its_own_included(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    for n in range(50):
        a.post(("a", n), "message", "al", f"a{n}", time.monotonic())
        b.post(("b", n), "message", "bo", f"b{n}", time.monotonic())
        if n % 7 == 0:
            node_loop.turn(0)
    node_loop.run_until(lambda: len(delivered(node_loop, a)) == 100 == len(delivered(node_loop, b)))
    seen_a = [(e.sid, e.text) for e in delivered(node_loop, a)]
    assert seen_a == [(e.sid, e.text) for e in delivered(node_loop, b)]
    assert [t for _, t in seen_a if t[0] == "a"] == [f"a{n}" for n in range(50)]
    ids = [parse_sid(s) for s, _ in seen_a]
    assert ids == sorted(ids)  # stream order = id order
    # each line was acknowledged to its sender with the sid every node delivered it under
    sids = {p.handle: p.sid for p in node_loop.of(a, out.Posted)}
    by_text = {t: s for s, t in seen_a}
    assert all(sids[("a", n)] == by_text[f"a{n}"] for n in range(50))


def test_the_lines_of_one_turn_go_out_as_one_script_call_per_batch_in_one_send(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    before = a.commands_sent
    for n in range(200):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    batch = a.data_to_send("cmd")
    assert a.commands_sent - before == 2 == batch.count(b"EVALSHA")  # POST_BATCH lines, then the rest
    assert a.data_to_send("cmd") == b""
    node_loop.sockets[(id(a), "cmd")].sendall(batch)
    node_loop.run_until(lambda: len(delivered(node_loop, a)) == 200)
    assert [e.text for e in delivered(node_loop, a)] == [f"line {n}" for n in range(200)]
    acknowledged = {p.handle: p.sid for p in node_loop.of(a, out.Posted)}
    assert [acknowledged[n] for n in range(200)] == [e.sid for e in delivered(node_loop, a)]


def test_a_line_sent_twice_in_one_batch_is_stored_once(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    a.post("first", "message", "al", "hello", time.monotonic(), session="s1", request_id="r1")
    a.post("again", "message", "al", "hello", time.monotonic(), session="s1", request_id="r1")
    a.post("next", "message", "al", "bye", time.monotonic(), session="s1", request_id="r2")
    assert a.data_to_send("cmd").count(b"EVALSHA") == 1
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 3)
    posted = {p.handle: p for p in node_loop.of(a, out.Posted)}
    assert (posted["first"].repeated, posted["again"].repeated, posted["next"].repeated) == (False, True, False)
    assert posted["first"].sid == posted["again"].sid
    node_loop.run_until(lambda: len(delivered(node_loop, a, "message")) == 2)
    assert [e.text for e in delivered(node_loop, a, "message")] == ["hello", "bye"]


def _run_elsewhere(port, commands: bytes):
    """Run raw commands on a connection of their own: a copy of a node's call that ran late."""
    import hiredis

    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(commands)
        reader = hiredis.Reader()
        reply = False
        while reply is False:
            reader.feed(raw.recv(65536))
            reply = reader.gets()
        return reply


def test_lines_without_a_request_id_are_deduplicated_by_one_key_per_node_process(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    for n in range(5):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    batch = a.data_to_send("cmd")
    _run_elsewhere(fresh_redis.port, batch)  # the same call ran once already (a hung link's)
    node_loop.sockets[(id(a), "cmd")].sendall(batch)
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 5)
    assert all(p.repeated for p in node_loop.of(a, out.Posted))
    for n in range(5, 305):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 305)
    assert not any(p.repeated for p in node_loop.of(a, out.Posted)[5:])
    assert fresh_redis.command("XLEN", KEYS.log) == 306  # the epoch entry and each line once
    assert fresh_redis.command("KEYS", KEYS.prefix + "posted:*") == []  # no key per line
    assert len(fresh_redis.command("KEYS", KEYS.prefix + "local:*")) == 1


def test_a_line_carries_its_session_only_with_a_request_id(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    a.post(0, "message", "al", "typed in nc", time.monotonic(), session="s1")
    a.post(1, "message", "al", "sent by a program", time.monotonic(), session="s1", request_id="r1")
    node_loop.run_until(lambda: len(delivered(node_loop, a, "message")) == 2)
    entries = fresh_redis.command("XRANGE", KEYS.log, "-", "+")
    names = [fields[0::2] for _, fields in entries[1:]]  # after the epoch entry
    assert b"s" not in names[0] and b"s" in names[1] and b"i" in names[1]


def test_a_leave_queued_after_a_line_is_stored_after_it(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    assert join(node_loop, a, "al", "s1") == "claimed"
    a.post("last", "message", "al", "last words", time.monotonic(), session="s1", request_id="r9")
    a.release("al", time.monotonic(), session="s1", reason="quit")
    node_loop.run_until(lambda: delivered(node_loop, a, "leave"))
    kinds = [e.kind for e in delivered(node_loop, a)]
    assert kinds[-2:] == ["message", "leave"]


def test_history_survives_a_restart_of_every_node(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    assert join(node_loop, a, "al", "s1") == "claimed"
    for n in range(30):
        a.post(n, "action" if n % 5 == 0 else "message", "al", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(delivered(node_loop, a)) == 31)
    node_loop.remove(a)  # every node gone; Redis keeps the room
    again = make_node(node_loop, fresh_redis, "A2", history=10)
    snapshot = node_loop.of(again, out.Snapshot)[0]
    assert [e.text for e in snapshot.history] == [f"line {n}" for n in range(20, 30)]
    assert snapshot.history[0].kind == "action" and snapshot.sid == snapshot.history[-1].sid
    assert ("al", "A") in snapshot.members


def test_the_stream_is_trimmed_to_about_maxlen(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", maxlen=100)
    for n in range(1000):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 1000)
    length = fresh_redis.command("XLEN", KEYS.log)
    assert 100 <= length <= 200  # MAXLEN ~ drops whole radix nodes of 100 entries


def test_a_resent_line_is_stored_once(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    a.post("first", "message", "al", "hello", time.monotonic(), session="s1", request_id="r1")
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 1)
    # the client lost its connection before the echo, reconnected to B and sent the line again
    b.post("again", "message", "al", "hello", time.monotonic(), session="s1", request_id="r1")
    node_loop.run_until(lambda: len(node_loop.of(b, out.Posted)) == 1)
    first, again = node_loop.of(a, out.Posted)[0], node_loop.of(b, out.Posted)[0]
    assert (first.repeated, again.repeated) == (False, True) and first.sid == again.sid
    b.post("other", "message", "al", "hello", time.monotonic(), session="s2", request_id="r1")
    node_loop.run_until(lambda: len(delivered(node_loop, b, "message")) == 2)
    assert [e.session for e in delivered(node_loop, b, "message")] == ["s1", "s2"]


def test_concurrent_nick_claims_never_give_one_nick_to_two_sessions(node_loop, fresh_redis):
    nodes = [make_node(node_loop, fresh_redis, f"N{i}") for i in range(3)]
    rng = random.Random(7)
    claims = [(f"nick{rng.randrange(100)}", f"session{n}") for n in range(1000)]
    for n, (nick, session) in enumerate(claims):  # all queued first, then one send per node
        nodes[n % 3].claim(n, nick, time.monotonic(), session=session)
    node_loop.run_until(lambda: sum(len(node_loop.of(x, out.ClaimDone)) for x in nodes) == 1000)
    results = [c for x in nodes for c in node_loop.of(x, out.ClaimDone)]
    winners: dict[str, list[int]] = {}
    for c in results:
        assert c.status in ("claimed", "taken")
        if c.status == "claimed":
            winners.setdefault(c.nick, []).append(c.handle)
    assert all(len(w) == 1 for w in winners.values())
    assert set(winners) == {nick for nick, _ in claims}
    owners = fresh_redis.command("HGETALL", KEYS.nicks)
    owner_of = dict(zip(owners[0::2], owners[1::2]))
    for nick, (handle,) in winners.items():
        assert owner_of[nick.encode()] == f"N{handle % 3} {claims[handle][1]}".encode()


def test_the_same_session_takes_its_nick_back_without_a_leave_or_join(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    assert join(node_loop, a, "al", "s1") == "claimed"
    assert join(node_loop, b, "al", "s2") == "taken"
    assert join(node_loop, b, "al", "s1") == "reclaimed"  # al reconnected to B
    a.release("al", time.monotonic(), session="s1", reason="connection lost")  # A notices late
    b.post("x", "message", "al", "still here", time.monotonic())
    node_loop.run_until(lambda: delivered(node_loop, a, "message"))
    assert [e.kind for e in delivered(node_loop, a)] == ["join", "message"]


def test_a_session_that_comes_back_with_its_nick_in_another_case_is_shown_renamed(node_loop,
                                                                                  fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    assert join(node_loop, a, "al", "s1") == "claimed"
    assert join(node_loop, b, "Al", "s1") == "reclaimed"  # reconnected to B as "Al"
    node_loop.run_until(lambda: delivered(node_loop, a, "nick"))
    event = delivered(node_loop, a, "nick")[0]
    assert (event.nick, event.old_nick) == ("Al", "al")  # no leave/join, but the new case shown
    assert join(node_loop, b, "Al", "s1") == "reclaimed"  # the same case again: nothing written
    b.post("x", "message", "Al", "marker", time.monotonic())
    node_loop.run_until(lambda: delivered(node_loop, a, "message"))
    assert [e.kind for e in delivered(node_loop, a)] == ["join", "nick", "message"]


def test_renames_move_the_claim(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    assert join(node_loop, a, "al", "s1") == "claimed"
    a.claim("rename", "alice", time.monotonic(), session="s1", old_nick="al")
    node_loop.run_until(lambda: delivered(node_loop, a, "nick"))
    event = delivered(node_loop, a, "nick")[0]
    assert (event.nick, event.old_nick) == ("alice", "al")
    assert fresh_redis.command("HKEYS", KEYS.nicks) == [b"alice"]
    assert join(node_loop, a, "al", "s9") == "claimed"  # the old nick is free again


def test_private_messages_reach_a_user_on_another_node_only(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    join(node_loop, b, "bo", "s2")
    a.private("p1", "al", "Bo", "psst", time.monotonic())
    a.private("p2", "al", "nobody", "hello?", time.monotonic())
    node_loop.run_until(lambda: node_loop.of(b, out.PrivateDelivered)
                        and len(node_loop.of(a, out.PrivateDone)) == 2)
    event = node_loop.of(b, out.PrivateDelivered)[0].event
    assert (event.nick, event.to, event.text) == ("al", "Bo", "psst")
    assert [d.status for d in node_loop.of(a, out.PrivateDone)] == ["sent", "nosuch"]
    assert not node_loop.of(a, out.PrivateDelivered)
    assert not [e for e in delivered(node_loop, a) if e.text == "psst"]  # never in the room log


def test_a_dead_nodes_users_leave_and_a_moved_user_does_not_flap(node_loop, fresh_redis):
    fast = dict(heartbeat=0.1, heartbeat_ttl=0.5)
    a = make_node(node_loop, fresh_redis, "A", **fast)
    b = make_node(node_loop, fresh_redis, "B", **fast)
    for nick in ("bo", "cy", "di"):
        join(node_loop, b, nick, f"s-{nick}")
    assert join(node_loop, a, "di", "s-di") == "reclaimed"  # di already reconnected to A
    node_loop.remove(b)  # SIGKILL: no release, no more heartbeats
    started = time.monotonic()
    node_loop.run_until(lambda: len(delivered(node_loop, a, "leave")) >= 2, timeout=5)
    swept_after = time.monotonic() - started
    node_loop.turn(0.2)  # a later sweep must not add anything
    leaves = delivered(node_loop, a, "leave")
    assert sorted(e.nick for e in leaves) == ["bo", "cy"]
    assert all(e.reason == "node lost" and e.node == "B" for e in leaves)
    assert fresh_redis.command("HKEYS", KEYS.nicks) == [b"di"]
    assert fresh_redis.command("ZRANGE", KEYS.nodes, 0, -1) == [b"A"]
    assert swept_after < 5


def test_a_frozen_node_that_was_reaped_brings_its_users_back(node_loop, fresh_redis):
    fast = dict(heartbeat=0.1, heartbeat_ttl=0.5, block_ms=200, reply_margin=5.0)
    a = make_node(node_loop, fresh_redis, "A", **fast)
    b = make_node(node_loop, fresh_redis, "B", **fast)
    join(node_loop, b, "bo", "s-bo")
    node_loop.frozen.add(id(b))  # B stops (SIGSTOP): no heartbeat, its sockets stay open
    node_loop.run_until(lambda: delivered(node_loop, a, "leave"))
    node_loop.frozen.clear()
    node_loop.run_until(lambda: len(delivered(node_loop, a, "join")) == 2)
    assert [e.kind for e in delivered(node_loop, a)] == ["join", "leave", "join"]
    assert _owners(fresh_redis) == {"bo": "B s-bo"}


def test_a_hung_redis_pauses_the_node_and_the_held_line_goes_out_once_after(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", block_ms=200, reply_margin=0.3, backoff_max=0.1)
    fresh_redis.process.send_signal(signal.SIGSTOP)
    try:
        a.post("during", "message", "al", "sent into a hung Redis", time.monotonic(),
               session="s1", request_id="r1")
        node_loop.run_until(lambda: node_loop.of(a, out.Paused))
        assert any(c.name == "cmd" for c in node_loop.of(a, out.CloseLink))
    finally:
        fresh_redis.process.send_signal(signal.SIGCONT)
    node_loop.run_until(lambda: node_loop.of(a, out.Resumed) and delivered(node_loop, a, "message"))
    node_loop.run_until(lambda: node_loop.of(a, out.Posted))
    node_loop.turn(0.1)
    # whether or not Redis ran the first copy when it woke up, the re-sent one is stored once
    assert not node_loop.of(a, out.EpochChanged)
    assert [e.text for e in delivered(node_loop, a, "message")] == ["sent into a hung Redis"]
    assert fresh_redis.command("XLEN", KEYS.log) == 2


def test_a_feed_that_reconnects_after_its_position_was_trimmed_gets_a_gap_snapshot(node_loop,
                                                                                   fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", maxlen=100, history=5, backoff_min=1.0,
                  backoff_max=1.0)
    b = make_node(node_loop, fresh_redis, "B", maxlen=100)
    node_loop.drop(a, "feed")  # A's feed is gone for 0.5-1 s (its backoff) ...
    for n in range(500):  # ... while B posts five times MAXLEN
        b.post(n, "message", "bo", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(node_loop.of(a, out.Snapshot)) == 2)
    snapshot = node_loop.of(a, out.Snapshot)[1]
    assert snapshot.gap and not node_loop.of(a, out.EpochChanged)
    assert [e.text for e in snapshot.history] == [f"line {n}" for n in range(495, 500)]
    assert not delivered(node_loop, a, "message")  # nothing half-delivered before the gap


def test_a_feed_that_reconnects_in_time_reads_on_without_a_snapshot(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    node_loop.drop(a, "feed")
    for n in range(50):
        b.post(n, "message", "bo", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(delivered(node_loop, a, "message")) == 50)
    assert len(node_loop.of(a, out.Snapshot)) == 1
    assert [e.text for e in delivered(node_loop, a, "message")] == [f"line {n}" for n in range(50)]


def test_flushall_is_a_new_epoch_and_presence_is_rebuilt(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", heartbeat=0.1, heartbeat_ttl=0.5)
    b = make_node(node_loop, fresh_redis, "B", heartbeat=0.1, heartbeat_ttl=0.5)
    join(node_loop, a, "al", "s1")
    join(node_loop, b, "bo", "s2")
    old = a.epoch
    fresh_redis.command("FLUSHALL")
    node_loop.run_until(lambda: node_loop.of(a, out.EpochChanged) and node_loop.of(b, out.EpochChanged))
    assert a.epoch == b.epoch != old
    assert node_loop.of(a, out.EpochChanged)[0] == out.EpochChanged(old, a.epoch)
    owners = {}
    node_loop.run_until(lambda: owners.update(_owners(fresh_redis)) or len(owners) == 2)
    assert owners == {"al": "A s1", "bo": "B s2"}
    # the joins of the rebuild come after the epoch change at every node, in the same order
    def rejoins(node):
        items = node_loop.of(node)
        cut = next(i for i, o in enumerate(items) if isinstance(o, out.EpochChanged))
        return [o.event.nick for o in items[cut:] if isinstance(o, out.Delivered)]
    node_loop.run_until(lambda: len(rejoins(a)) == 2 == len(rejoins(b)))
    assert rejoins(a) == rejoins(b) and sorted(rejoins(a)) == ["al", "bo"]


def _owners(server):
    flat = server.command("HGETALL", KEYS.nicks)
    return {k.decode(): v.decode() for k, v in zip(flat[0::2], flat[1::2])}


def test_an_empty_restart_pauses_then_resumes_with_a_new_epoch(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", backoff_max=0.2)
    join(node_loop, a, "al", "s1")
    old = a.epoch
    fresh_redis.stop()
    node_loop.run_until(lambda: node_loop.of(a, out.Paused))
    a.post("held", "message", "al", "typed while Redis was down", time.monotonic(),
           session="s1", request_id="r1")
    fresh_redis.start(fresh_redis.port)
    node_loop.run_until(lambda: node_loop.of(a, out.Resumed) and node_loop.of(a, out.EpochChanged))
    assert [type(o).__name__ for o in node_loop.of(a) if isinstance(o, (out.Paused, out.Resumed))] == [
        "Paused", "Resumed"]
    assert a.epoch != old and node_loop.of(a, out.EpochChanged)[0].old == old
    # the held line went out first and may have started the new stream: it is then in the
    # new epoch's snapshot, else delivered live; either way once
    def seen():
        after = node_loop.of(a, out.Snapshot)[-1].history if len(node_loop.of(a, out.Snapshot)) > 1 else ()
        return [e.text for e in (*after, *delivered(node_loop, a)) if e.kind == "message"]
    node_loop.run_until(lambda: seen())
    node_loop.turn(0.05)
    assert seen() == ["typed while Redis was down"]
    node_loop.run_until(lambda: _owners(fresh_redis) == {"al": "A s1"})


def test_a_line_held_past_the_grace_is_refused_to_its_sender(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", grace=0.3, backoff_max=0.1)
    fresh_redis.stop()
    node_loop.run_until(lambda: node_loop.of(a, out.Paused))
    a.post("late", "message", "al", "nobody will see this", time.monotonic())
    node_loop.run_until(lambda: node_loop.of(a, out.Refused))
    assert node_loop.of(a, out.Refused)[0].handle == "late"
    fresh_redis.start(fresh_redis.port)
    node_loop.run_until(lambda: node_loop.of(a, out.Resumed))
    node_loop.turn(0.1)
    assert not delivered(node_loop, a, "message")


def test_a_link_that_goes_away_mid_burst_loses_nothing_and_stores_nothing_twice(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A")
    for n in range(100):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    node_loop.turn(0)  # some went out, their replies may not have come back
    BlockingRedis(fresh_redis.port).call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 100, timeout=10)
    node_loop.run_until(lambda: len(delivered(node_loop, a, "message")) == 100)
    assert [e.text for e in delivered(node_loop, a, "message")] == [f"line {n}" for n in range(100)]
    assert fresh_redis.command("XLEN", KEYS.log) == 101  # the epoch entry and each line once


def test_one_line_at_a_time_reaches_the_other_node_under_its_acknowledged_sid(node_loop, fresh_redis,
                                                                               capsys):
    """Also prints the loopback post -> other node's delivery time (a figure, not a threshold)."""
    a = make_node(node_loop, fresh_redis, "A")
    b = make_node(node_loop, fresh_redis, "B")
    samples = []
    for n in range(200):
        start = time.perf_counter()
        a.post(n, "message", "al", f"ping {n}", time.monotonic())
        node_loop.run_until(lambda: len(delivered(node_loop, b, "message")) == n + 1)
        samples.append(time.perf_counter() - start)
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 200)
    assert [e.sid for e in delivered(node_loop, b, "message")] == [p.sid for p in node_loop.of(a, out.Posted)]
    samples.sort()
    with capsys.disabled():
        print(f"\npost on A -> delivered on B: p50 {samples[100] * 1e6:.0f} us, "
              f"p99 {samples[198] * 1e6:.0f} us over 200 lines")


def replay(loop, node, epoch, sid, **kw):
    handle = object()
    node.replay_after(handle, epoch, sid, time.monotonic(), **kw)
    loop.run_until(lambda: any(r.handle is handle for r in loop.of(node, out.Replay)))
    return next(r for r in loop.of(node, out.Replay) if r.handle is handle)


def test_a_client_resumes_on_another_node_with_exactly_what_it_missed(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", history=5)
    b = make_node(node_loop, fresh_redis, "B", history=5)
    for n in range(20):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    node_loop.run_until(lambda: len(delivered(node_loop, a)) == 20 == len(delivered(node_loop, b)))
    seen_up_to = delivered(node_loop, a)[11].sid  # the client saw lines 0..11 on A, then A died
    got = replay(node_loop, b, a.epoch, seen_up_to)
    assert got.status == "ok" and [e.text for e in got.events] == [f"line {n}" for n in range(12, 20)]
    assert replay(node_loop, b, a.epoch, delivered(node_loop, a)[-1].sid).events == ()
    too_many = replay(node_loop, b, a.epoch, seen_up_to, limit=3)
    assert too_many.status == "gap" and [e.text for e in too_many.events][-1] == "line 19"
    reset = replay(node_loop, b, "an-older-epoch", seen_up_to)
    assert reset.status == "reset" and [e.text for e in reset.events] == [f"line {n}" for n in range(15, 20)]


def test_a_resume_from_a_trimmed_position_is_a_gap_never_a_silent_hole(node_loop, fresh_redis):
    a = make_node(node_loop, fresh_redis, "A", maxlen=100, history=5)
    a.post("old", "message", "al", "long ago", time.monotonic())
    node_loop.run_until(lambda: delivered(node_loop, a))
    old_sid = delivered(node_loop, a)[0].sid
    for n in range(500):
        a.post(n, "message", "al", f"line {n}", time.monotonic())
    # (wait for the acknowledgements: a reader this far behind a MAXLEN of 100 would miss lines)
    node_loop.run_until(lambda: len(node_loop.of(a, out.Posted)) == 501)
    got = replay(node_loop, a, a.epoch, old_sid)
    assert got.status == "gap" and [e.text for e in got.events] == [f"line {n}" for n in range(495, 500)]


def test_a_tick_after_its_own_lease_ran_out_spares_the_nodes_alive_then_and_reaps_the_long_dead(fresh_redis):
    # A was hung (its lease ran out): B's lease ran out during that hang too, so B gets one more
    # lifetime; C's ran out long before A's last tick, so C is dead whatever A went through.
    from selchat.server.cluster.scripts import TICK

    ttl = 6000
    seconds, micros = fresh_redis.command("TIME")
    now = int(seconds) * 1000 + int(micros) // 1000
    fresh_redis.command("ZADD", KEYS.nodes, now - 1000, "A", now - 500, "B", now - 3 * ttl, "C")
    fresh_redis.command("HSET", KEYS.prefix + "node:C", "cx", "cx")
    fresh_redis.command("HSET", KEYS.nicks, "cx", "C s-cx")
    epoch, _, reaped = fresh_redis.command("EVAL", TICK.source, 0, KEYS.prefix, "seed", 1000, "A", ttl)
    assert reaped == 1
    assert fresh_redis.command("ZRANGE", KEYS.nodes, 0, -1) == [b"A", b"B"]
    assert fresh_redis.command("HKEYS", KEYS.nicks) == []
