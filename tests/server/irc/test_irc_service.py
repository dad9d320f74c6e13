"""IRC sessions in a `Service` on a fake clock: the same room, limits and broadcasts as the other
dialects, without sockets (tests/fakeloop.py)."""

from __future__ import annotations

from fakeloop import FakeTransport, World
from selchat.server.irc.gateway import IrcGateway
from selchat.server.room import LARGE_ROOM
from selchat.server.service import PRESENCE_INTERVAL


class IrcWorld(World):
    def __init__(self, **service_args) -> None:
        super().__init__(**service_args)
        self.gateway = IrcGateway(self.service)

    def irc_connect(self, peer: str = "10.0.0.7") -> FakeTransport:
        transport = FakeTransport(self.reactor, peer)
        transport.handler = self.gateway.make_session(transport)
        self.reactor.transports.append(transport)
        return transport

    def irc_user(self, nick: str, user: str = "u", peer: str = "10.0.0.7") -> FakeTransport:
        transport = self.irc_connect(peer)
        self.send(transport, f"NICK {nick}\r\nUSER {user} 0 * :Real\r\n".encode())
        assert any(f" 001 {nick} " in line for line in irc_lines(transport)), irc_lines(transport)
        return transport


def irc_lines(transport) -> list[str]:
    return [line.rstrip("\r") for line in transport.lines()]


def take(transport) -> list[str]:
    return [line.rstrip("\r") for line in transport.take()]


def test_a_broadcast_is_encoded_once_for_every_irc_viewer(monkeypatch):
    world = IrcWorld()
    viewers = [world.irc_user(f"i{n}") for n in range(5)]
    carol = world.text_user("carol")
    for viewer in viewers:
        viewer.take()
    calls = []
    encode = world.gateway.common_lines
    monkeypatch.setattr(world.gateway, "common_lines", lambda event: calls.append(event) or encode(event))
    world.send(carol, b"to everyone\n")
    assert len(calls) == 1
    assert all(take(v) == [":carol!text@selchat PRIVMSG #selchat :to everyone"] for v in viewers)
    world.send(viewers[0], b"PRIVMSG #selchat :from irc\r\n")
    assert take(viewers[0]) == []  # no echo (P5)
    assert all(take(v) == [":i0!u@10.0.0.7 PRIVMSG #selchat :from irc"] for v in viewers[1:])
    assert carol.lines()[-1] == "<i0> from irc"


def test_the_hello_grace_never_greets_an_unregistered_irc_connection_as_text():
    world = IrcWorld(rate=1.0, burst=1.0)
    transport = world.irc_connect()
    world.send(transport, b"CAP LS 302\r\nPING :a\r\nPING :b\r\n")  # throttled: the session sets a timer
    world.reactor.advance(5.0)
    assert world.room.members == []
    assert not any("welcome" in line for line in transport.lines())
    world.send(transport, b"CAP END\r\nNICK late\r\nUSER u 0 * :Real\r\n")
    world.reactor.advance(5.0)
    assert ":late!u@10.0.0.7 JOIN #selchat" in irc_lines(transport)


def test_a_dropped_irc_reader_leaves_with_its_own_prefix():
    world = IrcWorld()
    watcher, slow = world.irc_user("watcher"), world.irc_user("slow", user="slowu", peer="10.0.0.9")
    watcher.take()
    slow.close("too slow: 2000000 bytes unread")
    slow.drained()
    assert take(watcher) == [":slow!slowu@10.0.0.9 QUIT :too slow: 2000000 bytes unread"]
    assert world.room.nicks.holder("slow") is None


def test_a_large_room_summary_reaches_irc_as_joins_the_nick_lists_follow():
    world = IrcWorld()
    watcher = world.irc_user("watcher")
    for n in range(LARGE_ROOM):
        world.json_user(f"m{n}")
    world.reactor.advance(PRESENCE_INTERVAL)
    take(watcher)
    world.json_user("late")
    assert take(watcher) == []  # held back, as for everyone
    world.reactor.advance(PRESENCE_INTERVAL)
    assert take(watcher) == [":late!json@selchat JOIN #selchat"]


def test_shutdown_tells_irc_clients_with_a_notice_and_an_error():
    world = IrcWorld()
    dave = world.irc_user("dave")
    dave.take()
    world.service.shutdown()
    assert take(dave) == [":selchat.local NOTICE dave :server shutting down",
                          "ERROR :Closing Link: 10.0.0.7 (server shutting down)"]
    assert dave.closing


def test_nick_clash_across_dialects_and_a_rename_seen_by_all():
    world = IrcWorld()
    carol, dave = world.text_user("carol"), world.irc_user("dave")
    bot = world.json_user("bot")
    dave.take()
    world.send(dave, b"NICK Carol\r\nNICK BOT\r\nNICK dave2\r\n")
    assert take(dave) == [":selchat.local 433 dave Carol :Nickname is already in use",
                          ":selchat.local 433 dave BOT :Nickname is already in use",
                          ":dave!u@10.0.0.7 NICK :dave2"]
    assert carol.lines()[-1] == "*** dave is now known as dave2"
    assert '"new":"dave2"' in bot.lines()[-1].replace(" ", "")
    world.send(carol, b"/nick dave2\n")
    assert carol.lines()[-1] == '!!! error: nick "dave2" is in use'
    # Registering as a taken nick: welcomed under a free variant, never 433/432 (P4).
    late = world.irc_connect(peer="10.0.0.8")
    world.send(late, b"NICK CAROL\r\nUSER u 0 * :Real\r\n")
    lines = irc_lines(late)
    assert not any(" 433 " in line or " 432 " in line for line in lines)
    assert any(line.startswith(":selchat.local 001 CAROL_ ") for line in lines)


HOSTILE = [b"NICK", b"NICK :", b"NICK :x y", b"NICK 123", b"NICK \xc3\xa9\xcc\x81", b"NICK " + b"n" * 300,
           b"PRIVMSG", b"PRIVMSG #selchat", b"PRIVMSG ,a :x", b"PRIVMSG #other :x", b"PRIVMSG #selchat :\x01",
           b"PRIVMSG #selchat :\x01ACTION\x01", b"PRIVMSG nobody :\x01VERSION\x01", b"NOTICE nobody :x",
           b"NOTICE #selchat :\x01PING 1\x01", b"PRIVMSG #selchat :\x1b[31m\xe2\x80\xae", b"WHO", b"WHO nobody",
           b"WHOIS", b"WHOIS a,b", b"MODE", b"MODE nobody", b"MODE #selchat +o x", b"PART", b"PART #other",
           b"JOIN", b"JOIN 0", b"JOIN #a,#selchat", b"USER", b"PASS", b"TOPIC", b"TOPIC #selchat :x",
           b"NAMES #x", b"ISON", b"USERHOST a b c d e f g", b"CAP", b"CAP FOO", b"CAP REQ :sasl", b"\x00\xff",
           b":prefix", b":prefix PRIVMSG #selchat :x", b"@tag=1 PRIVMSG #selchat :tagged", b"AWAY :x", b"MOTD",
           b"PING", b"PONG", b"LUSERS", b"x" * 9000, b"PRIVMSG #selchat :" + "é".encode() * 3000]


def test_hostile_lines_get_answers_and_break_nothing_before_and_after_registration():
    world = IrcWorld()
    carol = world.text_user("carol")
    early = world.irc_connect()
    for line in HOSTILE:
        world.send(early, line + b"\r\n")
    dave = world.irc_user("dave")
    for round_ in range(2):  # in the channel, then out of it after a PART
        for line in HOSTILE:
            world.send(dave, line + b"\r\n")
        world.send(dave, b"PART #selchat\r\n")
    world.send(dave, b"JOIN #selchat\r\nPRIVMSG #selchat :still here\r\n")
    assert carol.lines()[-1] == "<dave> still here"
    assert all(len(line) <= 512 for line in dave.out.split(b"\n"))
    assert b"\x01VERSION" not in bytes(carol.out) and b"\x1b" not in bytes(carol.out)


def test_an_overlong_line_gets_417_before_registration_as_after():
    world = IrcWorld()
    early = world.irc_connect()
    world.send(early, b"x" * 9000 + b"\r\nNICK dave\r\nUSER u 0 * :Real\r\n")
    lines = take(early)
    assert lines[0] == ":selchat.local 417 * :Input line was too long"
    assert any(line.startswith(":selchat.local 001 dave ") for line in lines)
    world.send(early, b"PRIVMSG #selchat :" + b"y" * 9000 + b"\r\n")
    assert take(early) == [":selchat.local 417 dave :Input line was too long"]


def test_a_refused_password_says_why_the_irc_way_lock_out_included():
    world = IrcWorld(room_args={"password": "sesame"})

    def register(password: str) -> list[str]:
        transport = world.irc_connect(peer="10.0.0.5")
        world.send(transport, f"PASS {password}\r\nNICK d\r\nUSER d 0 * :D\r\n".encode())
        assert transport.closing
        return take(transport)

    assert register("wrong") == [":selchat.local 464 * :Password incorrect",
                                 "ERROR :Closing Link: 10.0.0.5 (Unauthorized: wrong password)"]
    for _ in range(3):  # three wrong ones are free; the fourth locks the address out for 2 s
        register("wrong")
    assert register("sesame")[-1] == ("ERROR :Closing Link: 10.0.0.5 (Unauthorized: too many wrong "
                                      "passwords from your address: try again in 2 s)")
    nopass = world.irc_connect(peer="10.0.0.6")
    world.send(nopass, b"NICK d\r\nUSER d 0 * :D\r\n")
    assert take(nopass)[-1] == ("ERROR :Closing Link: 10.0.0.6 (Unauthorized: this server needs a "
                                "password: send it with PASS)")


def test_an_unregistered_irc_connection_is_told_the_irc_way_too():
    # Flood control, the idle timeout and shutdown reach a client that has not registered yet
    # as NOTICE * (and ERROR before a close), never as a text line or nothing.
    world = IrcWorld(rate=1.0, burst=1.0, idle_timeout=10.0)
    flooder = world.irc_connect()
    world.send(flooder, b"PING :a\r\nPING :b\r\n")
    assert take(flooder) == [":selchat.local PONG selchat.local :a",
                             ":selchat.local NOTICE * :flood control: more than 1 lines a second; your lines "
                             "are delayed, not lost"]
    quiet = world.irc_connect(peer="10.0.0.8")
    world.reactor.advance(11.0)
    assert take(quiet) == [":selchat.local NOTICE * :closing: idle for 10 seconds",
                           "ERROR :Closing Link: 10.0.0.8 (closing: idle for 10 seconds)"]
    assert quiet.closing
    late = world.irc_connect(peer="10.0.0.9")
    world.service.shutdown()
    assert take(late) == [":selchat.local NOTICE * :server shutting down",
                          "ERROR :Closing Link: 10.0.0.9 (server shutting down)"]


def test_an_irc_part_is_a_part_to_other_irc_users_and_a_leave_to_the_rest():
    world = IrcWorld()
    carol, dave, erin = world.text_user("carol"), world.irc_user("dave"), world.irc_user("erin", peer="10.0.0.8")
    erin.take()
    world.send(dave, b"PART #selchat :back soon\r\n")
    assert take(erin) == [":dave!u@10.0.0.7 PART #selchat :back soon"]
    assert carol.lines()[-1] == "*** dave has left (part: back soon)"
    world.send(dave, b"JOIN #selchat\r\n")
    assert take(erin) == [":dave!u@10.0.0.7 JOIN #selchat"]
    world.send(dave, b"PART #selchat\r\nNICK 9lives\r\n")
    assert take(erin) == [":dave!u@10.0.0.7 PART #selchat"]
    assert take(dave)[-1].startswith(":selchat.local 432 dave 9lives :Erroneous nickname")
    world.send(dave, b"JOIN #selchat\r\n")
    take(dave)
    world.send(erin, b"QUIT :bye\r\n")  # a quit stays a QUIT, with IRC's "Quit: " before the reason
    assert take(dave)[-1] == ":erin!u@10.0.0.8 QUIT :Quit: bye"
    world.send(world.irc_user("fred", peer="10.0.0.9"), b"QUIT\r\n")
    assert take(dave)[-1] == ":fred!u@10.0.0.9 QUIT :Quit"
    assert carol.lines()[-3:] == ["*** erin has left (quit: bye)", "*** fred has joined", "*** fred has left (quit)"]


def test_an_irc_user_summed_up_as_left_in_a_large_room_keeps_its_user_and_host():
    from selchat.server.room import WELCOME_USERS_MAX
    world = IrcWorld()
    watcher = world.irc_user("watcher")
    crowd = [world.json_user(f"m{n}") for n in range(WELCOME_USERS_MAX)]
    leaver = world.irc_user("leaver", user="lu", peer="10.0.0.5")
    world.reactor.advance(PRESENCE_INTERVAL)
    take(watcher)
    leaver.close("connection closed")
    leaver.drained()
    world.reactor.advance(PRESENCE_INTERVAL)
    assert take(watcher) == [":leaver!lu@10.0.0.5 QUIT :left"]
    assert crowd


def test_a_large_room_sums_up_joins_and_leaves_for_irc_and_says_what_names_leaves_out():
    from selchat.server.room import PRESENCE_NAMES_MAX, WELCOME_USERS_MAX
    world = IrcWorld()
    watcher = world.irc_user("watcher")
    crowd = [world.json_user(f"m{n}") for n in range(WELCOME_USERS_MAX)]
    world.reactor.advance(PRESENCE_INTERVAL)
    take(watcher)
    burst = [world.json_user(f"late{n}") for n in range(PRESENCE_NAMES_MAX + 2)]
    world.reactor.advance(PRESENCE_INTERVAL)
    lines = take(watcher)
    assert lines[:-1] == [f":late{n}!json@selchat JOIN #selchat" for n in range(PRESENCE_NAMES_MAX)]
    here = WELCOME_USERS_MAX + PRESENCE_NAMES_MAX + 3
    assert lines[-1] == f":selchat.local NOTICE #selchat :{PRESENCE_NAMES_MAX + 2} joined, 0 left, {here} here"
    for transport in burst[:2]:
        transport.close("connection closed")
        transport.drained()
    world.reactor.advance(PRESENCE_INTERVAL)
    # The summary comes after the members are gone: they still show their own user@host.
    assert take(watcher) == [":late0!json@selchat QUIT :left", ":late1!json@selchat QUIT :left"]
    # A newcomer's names list is the welcome's (at most WELCOME_USERS_MAX): a NOTICE says so.
    newcomer = world.irc_user("newcomer", peer="10.0.0.8")
    notice = [line for line in irc_lines(newcomer) if "the names list shows" in line]
    assert notice == [f":selchat.local NOTICE #selchat :{here - 1} here; the names list shows {WELCOME_USERS_MAX}"]
    assert crowd
