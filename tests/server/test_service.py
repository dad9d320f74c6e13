"""`Service` and `Session` on a fake clock: flood control, password penalties, pings, idle,
slowloris, the presence tick, delivery and shutdown, with no sockets and no waiting.

The rules here used to be checked only against a real server, waiting on the real clock
(about 12 s of the suite). tests/fakeloop.py runs the timers in loop turns as a test moves its
clock; the wire-level checks that remain are in test_limits.py, test_abuse.py and
test_hostile_session.py.
"""

from __future__ import annotations

import json

import pytest

from fakeloop import World
from selchat.server import service as service_module
from selchat.server.chat import Mode
from selchat.server.gate import PASSWORD_PENALTY
from selchat.server.room import LARGE_ROOM
from selchat.server.service import PRESENCE_INTERVAL, SHUTDOWN_DRAIN

PASSWORD = "open sesame"


def arrivals(world: World, reader, prefix: str, seconds: float, step: float = 0.01) -> list[tuple[float, str]]:
    """Each line starting with `prefix` that `reader` gets over the next `seconds`, with the
    fake time it arrived."""
    got = []
    start = world.reactor.now
    while world.reactor.now < start + seconds:
        got += [(world.reactor.now, line) for line in reader.take() if line.startswith(prefix)]
        world.reactor.advance(step)
    return got + [(world.reactor.now, line) for line in reader.take() if line.startswith(prefix)]


# --- flood control -------------------------------------------------------------------------

def test_a_flooder_is_slowed_to_the_rate_with_one_notice_loses_nothing_and_delays_no_one_else():
    world = World(rate=5.0, burst=5.0)
    flooder, calm, watcher = world.text_user("flood"), world.text_user("calm"), world.text_user("watch")
    world.reactor.advance(2.0)  # every bucket full again
    flooder.take(), watcher.take()
    world.send(flooder, "".join(f"flood {n}\n" for n in range(25)).encode())
    assert [line for line in watcher.take() if line.startswith("<flood>")] == [f"<flood> flood {n}" for n in range(5)]
    assert not flooder.reading  # the rest waits in the socket, not in the server
    world.send(calm, b"my turn\n")
    assert watcher.take() == ["<calm> my turn"]  # overtakes the flooder's backlog at once
    timeline = arrivals(world, watcher, "<flood>", 5.0)
    assert [line for _, line in timeline] == [f"<flood> flood {n}" for n in range(5, 25)]
    gaps = [later - earlier for (earlier, _), (later, _) in zip(timeline, timeline[1:])]
    assert all(gap == pytest.approx(1 / 5, abs=0.011) for gap in gaps), gaps  # 5 a second
    notices = [line for line in flooder.lines() if "flood control" in line]
    assert notices == ["*** flood control: more than 5 lines a second; your lines are delayed, not lost"]
    assert flooder.reading


def test_a_throttled_connection_is_told_again_only_after_the_notice_interval():
    world = World(rate=10.0, burst=1.0)
    flooder = world.text_user("flood")
    for _ in range(14):  # one burst a second, each over the rate
        world.send(flooder, b"a\nb\nc\n")
        world.reactor.advance(1.0)
    assert sum("flood control" in line for line in flooder.lines()) == 2  # at 0 s and after 10 s


def test_a_json_client_is_told_it_is_throttled_in_echo_mode_but_a_text_one_is_not():
    world = World(Mode.ECHO, rate=5.0, burst=1.0)
    text, bot = world.connect(), world.json_user("bot")
    world.send(text, b"1\n2\n")
    world.send(bot, b'{"type":"message","text":"1"}\n{"type":"message","text":"2"}\n')
    world.reactor.advance(1.0)
    assert text.lines() == ["1", "2"]
    # (the hello took the one token of the burst)
    assert [json.loads(line)["type"] for line in bot.lines()] == ["welcome", "notice", "reply", "reply"]


# --- password penalties --------------------------------------------------------------------

def test_each_wrong_password_costs_a_second_and_the_third_ends_the_connection():
    world = World(room_args={"password": PASSWORD})
    client = world.connect()
    world.reactor.advance(0.35)
    assert client.take() == ["*** this server needs a password: type /pass PASSWORD"]
    world.send(client, f"/pass a\n/pass b\n/pass c\n/pass {PASSWORD}\n".encode())
    timeline = arrivals(world, client, "!!!", 2 * PASSWORD_PENALTY + 0.1)
    start = timeline[0][0]
    assert [(round(at - start, 1), line) for at, line in timeline] == [
        (0.0, "!!! error: wrong password"), (1.0, "!!! error: wrong password"), (2.0, "!!! error: wrong password")]
    assert not client.closing  # the third one's penalty is served before the close
    world.reactor.advance(PASSWORD_PENALTY)
    assert client.closing and client.close_reason == "wrong password"
    assert not any("welcome" in line for line in client.lines())  # the right one was never read


def test_a_json_hello_with_a_wrong_password_is_closed_after_the_penalty():
    world = World(room_args={"password": PASSWORD})
    bad = world.json_user("bad", password="nope")
    assert json.loads(bad.take()[0])["code"] == "bad_password"
    world.reactor.advance(PASSWORD_PENALTY * 0.9)
    assert not bad.closing and not bad.reading
    world.reactor.advance(PASSWORD_PENALTY * 0.2)
    assert bad.closing
    good = world.json_user("robot", password=PASSWORD)
    assert json.loads(good.take()[0])["type"] == "welcome"


# --- idle, pings and slowloris -------------------------------------------------------------

def test_a_json_client_that_answers_pings_stays_and_one_that_does_not_is_closed():
    world = World(idle_timeout=1.0)
    alive, mute = world.json_user("alive"), world.json_user("mute")
    alive.take(), mute.take()
    for _ in range(6):  # three timeouts' worth, answering each ping
        world.reactor.advance(0.25)
        for line in alive.take():
            event = json.loads(line)
            if event["type"] == "ping":
                world.send(alive, json.dumps({"type": "pong", "id": event["id"]}).encode() + b"\n")
    assert not alive.closing
    assert mute.closing and mute.close_reason == "idle timeout"
    assert [json.loads(line)["type"] for line in mute.lines()][:2] == ["ping", "notice"]
    world.send(alive, b'{"type":"who"}\n')
    assert json.loads(alive.take()[-1])["users"] == ["alive"]


def test_an_idle_text_connection_is_told_and_closed_without_a_ping():
    world = World(idle_timeout=1.0)
    idle, watcher = world.connect(), world.text_user("watcher")
    for _ in range(4):
        world.send(watcher, b"still here\n")
        world.reactor.advance(0.35)
    assert idle.closing and idle.close_reason == "idle timeout"
    assert "*** closing: idle for 1 seconds" in idle.lines()
    assert not [line for line in idle.lines() if "ping" in line]
    # Quiet, yet listed in the watcher's welcome: so the watcher is told it left.
    assert "*** guest1 has left (idle timeout)" in watcher.lines()
    assert not watcher.closing


def test_a_member_who_spoke_and_went_idle_is_reported_gone():
    world = World(idle_timeout=1.0)
    sleeper, watcher = world.text_user("sleeper"), world.text_user("watcher")
    for _ in range(4):
        world.send(watcher, b"still here\n")
        world.reactor.advance(0.35)
    assert "*** sleeper has left (idle timeout)" in watcher.lines()
    sleeper.drained()  # the close completes: no second leave
    assert watcher.lines().count("*** sleeper has left (idle timeout)") == 1


def test_a_json_slowloris_that_never_finishes_a_line_is_closed_as_idle():
    world = World(idle_timeout=1.0)
    drip = world.json_user("drip")
    connected = world.reactor.now
    world.send(drip, b'{"type": "mess')
    while not drip.closing and world.reactor.now < connected + 5:
        world.send(drip, b"a")  # a byte every 0.1 s, never a newline
        world.reactor.advance(0.1)
    assert drip.closing and drip.close_reason == "idle timeout"
    assert 1.0 <= world.reactor.now - connected <= 1.0 + 0.25 + 0.1  # within one sweep of the timeout


@pytest.mark.parametrize("mode", [Mode.CHAT, Mode.ECHO])
def test_a_text_slowloris_dribbling_whitespace_is_closed_as_idle(mode):
    # Each space alone for 0.2 s becomes a (blank) line; blank lines are no sign of life. (Chat
    # drops them unread; echo answers each, so there the session's rule is what closes it.)
    world = World(mode, idle_timeout=1.0)
    drip = world.connect()
    connected = world.reactor.now
    while not drip.closing and world.reactor.now < connected + 5:
        world.send(drip, b" ")
        world.reactor.advance(0.3)
    assert drip.closing and drip.close_reason == "idle timeout"
    assert world.reactor.now - connected <= 1.0 + 0.25 + 0.3


# --- ticks and delivery --------------------------------------------------------------------

def test_a_large_room_sums_up_joins_each_second():
    world = World()
    members = [world.json_user(f"m{n}") for n in range(LARGE_ROOM)]
    members[0].take()
    late = world.json_user("late")
    assert not [line for line in members[0].take() if "late" in line]  # held back
    world.reactor.advance(PRESENCE_INTERVAL)
    summary = [json.loads(line) for line in members[0].take()]
    assert [(e["type"], e["joined"]) for e in summary] == [("presence", ["late"])]
    assert late.take()[0].startswith('{"type":"welcome"')


def test_echo_and_upper_rooms_set_no_timers_for_connections_that_have_spoken():
    for mode in (Mode.ECHO, Mode.UPPER):
        world = World(mode)
        client = world.connect()
        world.send(client, b"hi\n")
        world.reactor.advance(1.0)  # the grace timer set at connect fires once, finds it joined
        assert world.reactor.pending_timers() == 0  # and no presence tick


def test_a_broadcast_is_encoded_once_per_dialect(monkeypatch):
    world = World()
    texts = [world.text_user(f"t{n}") for n in range(3)]
    bots = [world.json_user(f"j{n}") for n in range(2)]
    calls = {"text": 0, "json": 0}

    def counting(name, encode):
        def counted(event):
            calls[name] += 1
            return encode(event)
        return counted

    monkeypatch.setattr(service_module, "encode_text", counting("text", service_module.encode_text))
    monkeypatch.setattr(service_module, "encode_json", counting("json", service_module.encode_json))
    world.send(texts[0], b"to everyone\n")
    assert calls == {"text": 1, "json": 1}
    assert all(t.lines()[-1] == "<t0> to everyone" for t in texts)
    assert all(json.loads(b.lines()[-1])["text"] == "to everyone" for b in bots)


# --- shutdown ------------------------------------------------------------------------------

def test_shutdown_tells_every_session_aborts_handshakes_and_stops_once_drained():
    world = World()
    alice, bot = world.text_user("alice"), world.json_user("bot")
    silent = world.connect()  # not joined yet: told as well
    handshaking = world.handshaking()
    world.service.shutdown()
    assert not world.reactor.listening
    assert handshaking.closed
    assert alice.lines()[-1] == "*** server shutting down" and alice.closing
    assert json.loads(bot.lines()[-1]) == {"type": "notice", "text": "server shutting down", "code": "shutdown"}
    assert silent.lines() == ["*** server shutting down"]
    world.reactor.advance(0.01)
    assert not world.reactor.stopped  # output still draining
    for transport in (alice, bot, silent):
        transport.drained()
    assert world.reactor.stopped and not world.service.forced


def test_shutdown_gives_up_draining_after_its_limit_and_a_second_one_is_at_once():
    world = World()
    world.text_user("alice")  # never drains
    world.service.shutdown()
    world.reactor.advance(SHUTDOWN_DRAIN - 0.1)
    assert not world.reactor.stopped
    world.reactor.advance(0.2)
    assert world.reactor.stopped and not world.service.forced
    world.service.shutdown()
    assert world.service.forced


def test_a_run_of_lines_for_everyone_is_one_write_per_member_in_order_around_a_sender_s_copy():
    # A cluster node hands deliver every line of one XREAD reply at once (server/cluster/bridge.py).
    from selchat.server import events as ev
    from selchat.server.members import EVERYONE, AllExcept

    world = World()
    text, bot = world.text_user("t"), world.json_user("j")
    sender = next(m for m in world.room.members if m.nick == "t")
    writes = {id(text): 0, id(bot): 0}
    for transport in (text, bot):
        def counted(data, transport=transport, write=transport.write):
            writes[id(transport)] += 1
            write(data)
        transport.write = counted
    text.take(), bot.take()
    line = lambda n: ev.Message("far", f"line {n}", 1.0, sid=f"{n}-0")
    own = ev.Message("t", "mine", 1.0, sid="9-0")
    world.service.deliver([(EVERYONE, line(1)), (EVERYONE, line(2)), (AllExcept(sender), own),
                           (sender, ev.Message("t", "mine", 1.0, "r1", sid="9-0")),
                           (EVERYONE, line(3)), (EVERYONE, line(4)), (EVERYONE, line(5))])
    assert text.take() == ["<far> line 1", "<far> line 2", "<t> mine", "<far> line 3", "<far> line 4",
                           "<far> line 5"]
    shown = [json.loads(raw) for raw in bot.take()]
    assert [(m["from"], m["text"], m.get("id")) for m in shown] == [
        ("far", "line 1", None), ("far", "line 2", None), ("t", "mine", None), ("far", "line 3", None),
        ("far", "line 4", None), ("far", "line 5", None)]
    assert writes == {id(text): 3, id(bot): 3}  # lines 1-2, the own line (each its copy), lines 3-5
