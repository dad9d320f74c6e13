"""The channel as one IRC viewer sees it, and the requests a registered client makes.

Expected bytes are the ones irssi 1.4.3 and WeeChat 3.8 were recorded handling in
/work/shared/design/irc.md §1.1-§1.2 and §2 (``srv`` there is ``selchat.local``).
"""

import pytest
from hypothesis import given, settings, strategies as st

from selchat.server.irc import requests as rq
from selchat.server.irc.channel import ChannelView
from selchat.server.irc.identity import Person, from_dialect
from selchat.server.irc.message import parse
from selchat.server.irc.registration import ServerInfo

SRV = b":selchat.local"
DAVE = Person("dave", "daveu", "127.0.0.1", "Dave Real")
GUEST = from_dialect("guest1", "text")


@pytest.fixture
def view():
    return ChannelView(DAVE)


def request(line: bytes, channel: str = "#selchat") -> rq.Request:
    return rq.parse_request(parse(line), channel)


# -- what the viewer is sent ---------------------------------------------------------

def test_join_burst_is_echo_names_and_end_without_331(view):
    assert view.join_burst(["dave"]) == [
        b":dave!daveu@127.0.0.1 JOIN #selchat\r\n",
        SRV + b" 353 dave = #selchat :dave\r\n",
        SRV + b" 366 dave #selchat :End of /NAMES list\r\n",
    ]


def test_join_burst_has_332_when_there_is_a_topic_and_always_lists_the_joiner(view):
    burst = view.join_burst(["guest1"], topic="hello world")
    assert burst[1] == SRV + b" 332 dave #selchat :hello world\r\n"
    assert burst[2] == SRV + b" 353 dave = #selchat :guest1 dave\r\n"


def test_names_are_split_to_512_bytes_and_lose_nobody(view):
    nicks = [f"member{i:010d}" for i in range(300)]          # 16 characters each
    lines = view.names(nicks)
    assert len(lines) > 2 and lines[-1] == SRV + b" 366 dave #selchat :End of /NAMES list\r\n"
    listed = []
    for line in lines[:-1]:
        assert len(line) <= 512
        assert line.startswith(SRV + b" 353 dave = #selchat :")
        listed += parse(line).params[-1].split(" ")
    assert listed == nicks + ["dave"]


def test_a_member_joining_parting_renaming_and_quitting(view):
    assert view.joined(GUEST) == [b":guest1!text@selchat JOIN #selchat\r\n"]
    assert view.nick_changed(GUEST, "carol") == [b":guest1!text@selchat NICK :carol\r\n"]
    carol = GUEST.renamed("carol")
    assert view.quit(carol, "gone fishing") == [b":carol!text@selchat QUIT :gone fishing\r\n"]
    assert view.parted(carol) == [b":carol!text@selchat PART #selchat\r\n"]
    assert view.parted(carol, "WeeChat 3.8") == [b":carol!text@selchat PART #selchat :WeeChat 3.8\r\n"]
    assert view.me == DAVE                                    # others' renames don't touch me


def test_own_rename_is_echoed_and_later_numerics_use_the_new_nick(view):
    assert view.nick_changed(DAVE, "newname") == [b":dave!daveu@127.0.0.1 NICK :newname\r\n"]
    assert view.me.nick == "newname"
    assert view.topic_changed(view.me, "hello world") == \
        [b":newname!daveu@127.0.0.1 TOPIC #selchat :hello world\r\n"]
    assert view.no_such_nick("nobody") == [SRV + b" 401 newname nobody :No such nick/channel\r\n"]


def test_messages_and_actions_from_others_channel_and_private(view):
    assert view.message(GUEST, "hello from nc") == \
        [b":guest1!text@selchat PRIVMSG #selchat :hello from nc\r\n"]
    assert view.action(GUEST, "dances") == \
        [b":guest1!text@selchat PRIVMSG #selchat :\x01ACTION dances\x01\r\n"]
    assert view.message(GUEST, "psst from nc", private=True) == \
        [b":guest1!text@selchat PRIVMSG dave :psst from nc\r\n"]
    assert view.action(GUEST, "nudges you", private=True) == \
        [b":guest1!text@selchat PRIVMSG dave :\x01ACTION nudges you\x01\r\n"]


def test_room_text_can_never_become_a_ctcp_request(view):
    assert view.message(GUEST, "\x01VERSION\x01") == [b":guest1!text@selchat PRIVMSG #selchat :VERSION\r\n"]
    assert view.action(GUEST, "a\x01b") == [b":guest1!text@selchat PRIVMSG #selchat :\x01ACTION ab\x01\r\n"]


def test_own_channel_lines_are_not_echoed(view):
    assert view.message(DAVE, "hello from irssi") == []
    assert view.action(DAVE.renamed("DAVE"), "waves") == []   # CASEMAPPING=ascii
    assert view.message(DAVE, "note to self", private=True) != []


def test_a_long_action_is_several_whole_actions(view):
    lines = view.action(GUEST, "waves " * 300)
    assert len(lines) > 1
    for line in lines:
        assert len(line) <= 512
        assert line.startswith(b":guest1!text@selchat PRIVMSG #selchat :\x01ACTION ")
        assert line.endswith(b"\x01\r\n")


def test_who_and_whois(view):
    assert view.who([DAVE, GUEST]) == [
        SRV + b" 352 dave #selchat daveu 127.0.0.1 selchat.local dave H :0 Dave Real\r\n",
        SRV + b" 352 dave #selchat text selchat selchat.local guest1 H :0 selchat text user\r\n",
        SRV + b" 315 dave #selchat :End of /WHO list\r\n",
    ]
    assert view.whois("guest1", GUEST) == [
        SRV + b" 311 dave guest1 text selchat * :selchat text user\r\n",
        SRV + b" 312 dave guest1 selchat.local :selchat\r\n",
        SRV + b" 319 dave guest1 :#selchat\r\n",
        SRV + b" 318 dave guest1 :End of /WHOIS list\r\n",
    ]
    assert view.whois("nobody", None) == [
        SRV + b" 401 dave nobody :No such nick/channel\r\n",
        SRV + b" 318 dave nobody :End of /WHOIS list\r\n",
    ]


def test_topic_replies(view):
    assert view.topic(None) == [SRV + b" 331 dave #selchat :No topic is set\r\n"]
    assert view.topic("hi") == [SRV + b" 332 dave #selchat :hi\r\n"]
    assert view.topic_locked() == [SRV + b" 482 dave #selchat :You're not channel operator\r\n"]


def test_errors_notices_and_closing(view):
    assert view.nick_in_use("guest1") == [SRV + b" 433 dave guest1 :Nickname is already in use\r\n"]
    assert view.erroneous_nick("9lives") == [SRV + b" 432 dave 9lives :Erroneous nickname\r\n"]
    assert view.notice("server restarting soon") == \
        [SRV + b" NOTICE dave :server restarting soon\r\n"]
    assert view.notice("[12:00] <alice> hi", channel_wide=True) == \
        [SRV + b" NOTICE #selchat :[12:00] <alice> hi\r\n"]
    assert view.closing("Quit: bye") == [b"ERROR :Closing Link: 127.0.0.1 (Quit: bye)\r\n"]
    assert view.keepalive() == [b"PING :selchat.local\r\n"]
    assert view.input_too_long() == [SRV + b" 417 dave :Input line was too long\r\n"]


def test_the_channel_name_is_a_parameter():
    view = ChannelView(DAVE, ServerInfo(channel="#lobby"))
    assert view.join_burst([])[0] == b":dave!daveu@127.0.0.1 JOIN #lobby\r\n"
    assert request(b"PRIVMSG #LOBBY :hi", "#lobby") == rq.Say("hi")
    assert request(b"PRIVMSG #selchat :hi", "#lobby") == rq.Reply("403", ("#selchat", "No such channel"))


# -- requests answered without the room ------------------------------------------------

@pytest.mark.parametrize(
    "line, answer",
    [
        (b"MODE #selchat", [SRV + b" 324 dave #selchat +nt\r\n"]),
        (b"MODE #selchat b", [SRV + b" 368 dave #selchat :End of channel ban list\r\n"]),
        (b"MODE #selchat +o guest1", [SRV + b" 482 dave #selchat :You're not channel operator\r\n"]),
        (b"MODE #other", [SRV + b" 403 dave #other :No such channel\r\n"]),
        (b"MODE dave +i", [b":dave MODE dave :+i\r\n"]),
        (b"MODE dave", [SRV + b" 221 dave +i\r\n"]),
        (b"MODE dave +x", [SRV + b" 501 dave :Unknown MODE flag\r\n"]),
        (b"MODE guest1 +i", [SRV + b" 502 dave :Can't change mode for other users\r\n"]),
        (b"PING selchat.local", [SRV + b" PONG selchat.local :selchat.local\r\n"]),
        (b"PING :tok456", [SRV + b" PONG selchat.local :tok456\r\n"]),
        (b"PONG :selchat.local", []),
        (b"CAP LS 302", [SRV + b" CAP dave LS :\r\n"]),
        (b"CAP REQ :echo-message", [SRV + b" CAP dave NAK :echo-message\r\n"]),
        (b"CAP END", []),
        (b"FOO bar", [SRV + b" 421 dave FOO :Unknown command\r\n"]),
        (b"USER again 0 * :x", [SRV + b" 462 dave :You may not reregister\r\n"]),
        (b"PRIVMSG #other :hi", [SRV + b" 403 dave #other :No such channel\r\n"]),
        (b"PRIVMSG #selchat :", [SRV + b" 412 dave :No text to send\r\n"]),
        (b"PRIVMSG", [SRV + b" 411 dave :No recipient given (PRIVMSG)\r\n"]),
        (b"NAMES #other", [SRV + b" 366 dave #other :End of /NAMES list\r\n"]),
        (b"AWAY :lunch", [SRV + b" 306 dave :You have been marked as being away\r\n"]),
        (b"MOTD", [SRV + b" 375 dave :- selchat.local Message of the day - \r\n",
                   SRV + b" 372 dave :- one room: /join #selchat\r\n",
                   SRV + b" 376 dave :End of /MOTD command\r\n"]),
    ],
)
def test_answers_that_need_nothing_from_the_room(view, line, answer):
    assert view.answer(request(line)) == answer


@pytest.mark.parametrize("line", [b"PRIVMSG #selchat :hi", b"JOIN #selchat", b"WHO #selchat",
                                  b"NICK x", b"QUIT :bye", b"TOPIC #selchat"])
def test_requests_for_the_room_are_left_to_the_caller(view, line):
    assert view.answer(request(line)) is None


# -- the request parser ---------------------------------------------------------------

@pytest.mark.parametrize(
    "line, parsed",
    [
        (b"PRIVMSG #selchat :hello from irssi", rq.Say("hello from irssi")),
        (b"PRIVMSG #SelChat :case", rq.Say("case")),
        (b"PRIVMSG #selchat :\x02bold\x02 \x0304red", rq.Say("bold red")),
        (b"PRIVMSG #selchat :\x01ACTION waves\x01", rq.Act("waves")),
        (b"PRIVMSG #selchat :\x01ACTION \x0304red\x03 wave\x01", rq.Act("red wave")),
        (b"PRIVMSG guest1 :hi there", rq.Whisper("guest1", "hi there")),
        (b"PRIVMSG guest1 :\x01ACTION pokes\x01", rq.WhisperAct("guest1", "pokes")),
        (b"PRIVMSG guest1 :\x01VERSION\x01", rq.Ignored("CTCP VERSION")),
        (b"PRIVMSG #selchat :\x01PING 123\x01", rq.Ignored("CTCP PING")),
        (b"PRIVMSG #selchat :\x01ACTION\x01", rq.Reply("412", ("No text to send",))),
        (b"PRIVMSG a,b :hi", rq.Reply("407", ("a,b", "Too many recipients, one at a time"))),
        (b"NOTICE guest1 :\x01VERSION WeeChat 3.8\x01", rq.Ignored("CTCP VERSION")),
        (b"NOTICE guest1 :fyi", rq.Whisper("guest1", "fyi", notice=True)),
        (b"NOTICE #selchat :all", rq.Say("all")),
        (b"NOTICE #other :x", rq.Ignored("no such channel")),
        (b"JOIN #selchat", rq.Join()),
        (b"JOIN #a,#selchat", rq.Join()),
        (b"JOIN #other", rq.Reply("403", ("#other", "No such channel"))),
        (b"JOIN 0", rq.Part("Left all channels")),
        (b"PART #selchat", rq.Part("")),
        (b"PART #selchat :WeeChat 3.8", rq.Part("WeeChat 3.8")),
        (b"NICK newname", rq.SetNick("newname")),
        (b"NICK", rq.Reply("431", ("No nickname given",))),
        (b"WHO #selchat", rq.Who("#selchat")),
        (b"WHO", rq.Who("*")),
        (b"WHOIS dave", rq.Whois("dave")),
        (b"WHOIS selchat.local dave", rq.Whois("dave")),
        (b"NAMES #selchat", rq.Names()),
        (b"NAMES", rq.Names()),
        (b"TOPIC #selchat", rq.Topic(None)),
        (b"TOPIC #selchat :hello world", rq.Topic("hello world")),
        (b"ISON guest1 dave", rq.IsOn(("guest1", "dave"))),
        (b"USERHOST guest1", rq.UserHost(("guest1",))),
        (b"QUIT :bye", rq.Quit("bye")),
        (b"QUIT", rq.Quit("")),
        (b"PING :x", rq.Ping("x")),
        (b"PONG selchat.local :x", rq.Pong("x")),
        (b"LIST", rq.Unknown("LIST")),
    ],
)
def test_parse_request(line, parsed):
    assert request(line) == parsed


def test_requests_are_frozen():
    with pytest.raises(AttributeError):
        rq.Say("x").text = "y"


# -- hostile input: nothing a client types can make a reply raise or overflow ----------

hostile_line = st.lists(
    st.one_of(st.sampled_from([b"PRIVMSG", b"NOTICE", b"NICK", b"WHOIS", b"WHO", b"MODE",
                               b"JOIN", b"PART", b"TOPIC", b"CAP", b"PING", b"FOO", b":", b"::x",
                               b"#selchat", b"\x01ACTION", b"\x01", b"\r", b"\x00", b" ", b",",
                               "é".encode(), b"\xff"]),
              st.binary(max_size=40)),
    min_size=1, max_size=12).map(b" ".join)


@settings(max_examples=400, deadline=None)
@given(line=hostile_line)
def test_any_line_gives_well_formed_replies(line):
    message = parse(line)
    if message is None:
        return
    view = ChannelView(DAVE)
    req = rq.parse_request(message)
    out = view.answer(req)
    if out is None:                                 # what the caller would do with user words
        out = []
        for word in (getattr(req, "to", None), getattr(req, "nick", None),
                     getattr(req, "mask", None)):
            if word is not None:
                out += view.no_such_nick(word) + view.nick_in_use(word)
                out += view.erroneous_nick(word) + view.whois(word, None) + view.who([], word)
        for text in (getattr(req, "text", None), getattr(req, "reason", None)):
            if text is not None:
                out += view.message(GUEST, text) + view.action(GUEST, text)
                out += view.quit(GUEST, text) + view.parted(GUEST, text) + view.notice(text)
    for reply in out:
        assert len(reply) <= 512 and reply.endswith(b"\r\n") and reply.count(b"\n") == 1
        assert b"\x00" not in reply and b"\r" not in reply[:-2]
        assert parse(reply) is not None
