"""Registration, replayed from the byte-level recordings of irssi 1.4.3 and WeeChat 3.8
in /work/shared/design/irc.md (§1.1, §1.2, §1.3, §4)."""

import pytest
from hypothesis import given, settings, strategies as st

from selchat.server.irc.channel import ChannelView
from selchat.server.irc.message import LineFramer, parse
from selchat.server.irc.registration import Registration, ServerInfo, State
from selchat.server.irc.requests import parse_request

SRV = b":selchat.local"


def feed(registration: Registration, data: bytes) -> list[bytes]:
    """One write from the client, framed and handled line by line, as the server will."""
    out = []
    for line in LineFramer().feed(data):
        message = parse(line)
        if message is not None:                      # ":prefix-only" or "@tags-only"
            out += registration.handle(message)
    return out


def make(fix_nick=lambda nick: nick, **kwargs) -> Registration:
    return Registration("127.0.0.1", fix_nick=fix_nick, **kwargs)


def commands(lines: list[bytes]) -> list[str]:
    return [parse(line).command for line in lines]


def test_irssi_handshake_byte_for_byte():
    reg = make()
    # irssi 1.4.3 writes CAP LS 302 and its "non-CAP server" probe together, then waits.
    assert feed(reg, b"CAP LS 302\r\nJOIN :\r\n") == [
        SRV + b" CAP * LS :\r\n",
        SRV + b" 451 * :You have not registered\r\n",
    ]
    assert feed(reg, b"CAP END\r\n") == []
    assert feed(reg, b"NICK dave\r\n") == []
    welcome = feed(reg, b"USER daveu daveu 127.0.0.1 :Dave Real\r\n")
    assert welcome[0] == SRV + b" 001 dave :Welcome to selchat, dave!daveu@127.0.0.1\r\n"
    assert welcome[1] == SRV + b" 002 dave :Your host is selchat.local, running selchat-0.1\r\n"
    assert welcome[3] == SRV + b" 004 dave selchat.local selchat-0.1 i nt\r\n"
    assert commands(welcome) == ["001", "002", "003", "004", "005", "375", "372", "376"]
    assert reg.state is State.DONE
    person = reg.registered.person
    assert (person.nick, person.user, person.host, person.realname) == \
        ("dave", "daveu", "127.0.0.1", "Dave Real")

    # After 001 irssi sends MODE dave +i and lag-check PINGs the server name from 001.
    view = ChannelView(person)
    assert view.answer(parse_request(parse(b"MODE dave +i"))) == [b":dave MODE dave :+i\r\n"]
    assert view.answer(parse_request(parse(b"PING selchat.local"))) == \
        [SRV + b" PONG selchat.local :selchat.local\r\n"]


def test_weechat_handshake_is_held_until_cap_end():
    reg = make()
    # WeeChat 3.8 pipelines all three in one write; 001 must wait for CAP END (P2).
    assert feed(reg, b"CAP LS 302\r\nNICK dave\r\nUSER daveu 0 * :Dave Real\r\n") == \
        [SRV + b" CAP * LS :\r\n"]
    assert reg.state is State.OPEN
    welcome = feed(reg, b"CAP END\r\n")
    assert welcome[0] == SRV + b" 001 dave :Welcome to selchat, dave!daveu@127.0.0.1\r\n"
    assert reg.registered.person.realname == "Dave Real"
    assert reg.registered.person.user == "daveu"


def test_005_advertises_what_both_clients_read():
    reg = make()
    welcome = feed(reg, b"NICK dave\r\nUSER daveu 0 * :Dave Real\r\n")
    isupport = next(line for line in welcome if line.startswith(SRV + b" 005 "))
    assert isupport == (SRV + b" 005 dave CHANTYPES=# PREFIX=(ov)@+ CHANMODES=,,,nt CHANNELLEN=50"
                        b" NICKLEN=16 USERLEN=10 HOSTLEN=63 CASEMAPPING=ascii NETWORK=selchat"
                        b" :are supported by this server\r\n")
    assert len(isupport) <= 512


def test_a_bot_that_never_says_cap_is_welcomed_straight_after_nick_and_user():
    reg = make()
    assert feed(reg, b"USER bot 0 * :a bot\n") == []
    welcome = feed(reg, b"NICK bot\n")             # bare LF, USER before NICK: both fine
    assert commands(welcome)[0] == "001"


def test_without_a_motd_the_welcome_ends_with_422():
    reg = make(server=ServerInfo(motd=()))
    welcome = feed(reg, b"NICK dave\r\nUSER d 0 * :D\r\n")
    assert welcome[-1] == SRV + b" 422 dave :MOTD File is missing\r\n"


@pytest.mark.parametrize("line", [b"JOIN :", b"JOIN #selchat", b"PRIVMSG #selchat :hi",
                                  b"MODE dave +i", b"WHO #selchat", b"FOO bar"])
def test_anything_else_before_registration_gets_451_never_silence_or_421(line):
    reg = make()
    assert feed(reg, line + b"\r\n") == [SRV + b" 451 * :You have not registered\r\n"]
    assert reg.state is State.OPEN


def test_cap_req_is_naked_and_bad_cap_subcommands_get_410():
    reg = make()
    assert feed(reg, b"CAP REQ :sasl multi-prefix\r\n") == \
        [SRV + b" CAP * NAK :sasl multi-prefix\r\n"]
    assert feed(reg, b"CAP LIST\r\n") == [SRV + b" CAP * LIST :\r\n"]
    assert feed(reg, b"CAP BOGUS\r\n") == [SRV + b" 410 * BOGUS :Invalid CAP command\r\n"]
    assert feed(reg, b"CAP\r\n") == [SRV + b" 461 * CAP :Not enough parameters\r\n"]
    # REQ also starts a negotiation, so NICK+USER wait for CAP END.
    assert feed(reg, b"NICK dave\r\nUSER d 0 * :D\r\n") == []
    assert commands(feed(reg, b"CAP END\r\n"))[0] == "001"


def test_ping_is_answered_before_registration():
    reg = make()
    assert feed(reg, b"PING :tok123\r\n") == [SRV + b" PONG selchat.local :tok123\r\n"]
    assert feed(reg, b"PING\r\n") == [SRV + b" 409 * :No origin specified\r\n"]
    assert feed(reg, b"PONG :selchat.local\r\n") == []


def test_a_taken_or_invalid_nick_is_fixed_up_in_001_never_refused():
    asked = []

    def fix_nick(wanted):
        asked.append(wanted)
        return "averyveryverylon"                    # what the room would make of it

    reg = make(fix_nick=fix_nick)
    out = feed(reg, b"NICK averyveryverylongnick\r\nUSER d 0 * :D\r\n")
    assert asked == ["averyveryverylongnick"]
    assert out[0].startswith(SRV + b" 001 averyveryverylon :")
    assert not [line for line in out if parse(line).command in ("432", "433")]
    assert out[-1] == (SRV + b' NOTICE averyveryverylon :Your nick "averyveryverylongnick" is taken'
                       b' or not allowed here, so you are "averyveryverylon" (use /nick to pick'
                       b' another)\r\n')
    assert reg.registered.wanted_nick == "averyveryverylongnick"
    assert reg.registered.person.nick == "averyveryverylon"


def test_fix_nick_is_asked_at_completion_with_the_last_nick_given():
    asked = []
    reg = make(fix_nick=lambda wanted: asked.append(wanted) or wanted)
    feed(reg, b"CAP LS\r\nNICK one\r\nNICK two\r\nUSER d 0 * :D\r\n")
    assert asked == []                               # still held by CAP: nothing reserved yet
    feed(reg, b"CAP END\r\n")
    assert asked == ["two"]


def test_nick_and_user_need_a_parameter():
    reg = make()
    assert feed(reg, b"NICK\r\n") == [SRV + b" 431 * :No nickname given\r\n"]
    assert feed(reg, b"USER\r\n") == [SRV + b" 461 * USER :Not enough parameters\r\n"]


def test_user_name_and_host_are_made_safe_for_prefixes():
    reg = Registration("::1", fix_nick=lambda nick: nick)
    feed(reg, b"NICK d\r\nUSER we!ird@user:name 0 * :\x02Bold\x02 Real\r\n")
    person = reg.registered.person
    assert person.user == "weirdusern"               # cut to USERLEN=10, no ! @ :
    assert person.host == "0::1"                     # a leading ':' would end a 352's params
    assert person.realname == "Bold Real"


def test_pass_is_handed_to_check_password_at_completion():
    seen = []
    reg = make(check_password=lambda supplied: seen.append(supplied) or (None if supplied == "sesame" else "no"))
    assert feed(reg, b"PASS sesame\r\nNICK dave\r\n") == []
    assert commands(feed(reg, b"USER d 0 * :D\r\n"))[0] == "001"
    assert seen == ["sesame"]
    assert reg.registered.password == "sesame"


def test_a_wrong_or_missing_password_closes_with_an_error_irssi_will_not_retry():
    for hello in (b"PASS wrong\r\nNICK dave\r\nUSER d 0 * :D\r\n", b"NICK dave\r\nUSER d 0 * :D\r\n"):
        reg = make(check_password=lambda supplied: None if supplied == "sesame" else f"not {supplied}")
        assert feed(reg, hello) == [
            SRV + b" 464 * :Password incorrect\r\n",
            # The reason is check_password's; "Unauthorized" keeps irssi from retrying (P15).
            b"ERROR :Closing Link: 127.0.0.1 (Unauthorized: not %s)\r\n" % (b"wrong" if b"PASS" in hello else b"None"),
        ]
        assert reg.state is State.CLOSED and reg.registered is None
        assert feed(reg, b"NICK other\r\n") == []    # closed: nothing more comes out


def test_quit_before_registration_gets_error_and_closes():
    reg = make()
    assert feed(reg, b"QUIT :changed my mind\r\n") == \
        [b"ERROR :Closing Link: 127.0.0.1 (Quit: changed my mind)\r\n"]
    assert reg.state is State.CLOSED
    assert reg.close_reason == "Quit: changed my mind"


def test_once_registered_it_says_nothing_more():
    reg = make()
    feed(reg, b"NICK dave\r\nUSER d 0 * :D\r\n")
    assert feed(reg, b"NICK other\r\nPRIVMSG #selchat :hi\r\n") == []


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")), max_size=8),
       command=st.sampled_from([b"CAP ", b"NICK ", b"USER ", b"PASS ", b"PING ", b"QUIT ", b""]))
def test_registration_survives_any_lines(lines, command):
    reg = make(fix_nick=lambda nick: "guest1", check_password=lambda supplied: None)
    data = b"".join(command + line + b"\r\n" for line in lines) + b"NICK x\r\nUSER u 0 * :r\r\n"
    for reply in feed(reg, data):
        assert len(reply) <= 512 and reply.endswith(b"\r\n") and reply.count(b"\n") == 1
        assert parse(reply) is not None


def test_an_overlong_line_before_registration_is_a_417_to_star():
    assert make().input_too_long() == [SRV + b" 417 * :Input line was too long\r\n"]
