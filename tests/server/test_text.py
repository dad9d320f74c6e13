"""Untrusted text: what may reach a terminal, and what a nick may be."""

import pytest

from lineclient import json_client, text_user

from selchat.server.commands import parse_line
from selchat.server import events as ev
from selchat.client.sanitize import clean as client_clean
from selchat.server.text import clean, is_valid_nick, nick_key


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("plain text", "plain text"),
        ("tab\tkept", "tab\tkept"),
        ("red \x1b[31mtext\x1b[0m", "red text"),
        ("title \x1b]0;pwned\x07after", "title after"),
        ("osc st \x1b]8;;http://x\x1b\\link", "osc st link"),
        ("clear \x1b[2J\x1b[H", "clear "),
        ("bell\x07 nul\x00 del\x7f", "bell nul del"),
        ("c1 \x9b31m csi", "c1  csi"),
        ("cr\roverwrite", "croverwrite"),
        ("lone esc \x1b", "lone esc "),
        ("ünïcödé 漢字 🙂", "ünïcödé 漢字 🙂"),
        ("see \u202etxt.exe\u202c and \u2066x\u2069", "see txt.exe and x"),  # bidi override, isolate
        ("embed \u202a\u202b\u202d\u2067\u2068", "embed "),
        ("line\u2028*** admin has joined\u2029", "line*** admin has joined"),
        ("c1 osc \x9d0;title\x9cafter", "c1 osc after"),
        ("c1 dcs \x90q\x9c, sos \x98x\x9c, pm \x9ey\x9c, apc \x9fz\x9cend", "c1 dcs , sos , pm , apc end"),
        ("charset \x1b(Bok", "charset ok"),
    ],
)
def test_clean_strips_what_could_drive_a_terminal(raw, shown):
    assert clean(raw) == shown


def test_clean_removes_everything_the_client_removes():
    """Report #13: the TUI stripped bidi controls and U+2028, the server relayed them to nc users.
    Every character the client's sanitizer removes, the server removes too (tabs: the client turns
    them into spaces, the server keeps them)."""
    client_removes = [chr(c) for c in range(0x3000) if chr(c) != "\t" and client_clean(f"a{chr(c)}b") == "ab"]
    assert "\u202e" in client_removes and "\u2028" in client_removes
    assert [ch for ch in client_removes if clean(f"a{ch}b") != "ab"] == []


@pytest.mark.parametrize("nick", ["alice", "Bob", "_x", "[away]", "a-b", "José", "x" * 16, "a1",
                                  "ёжик", "名前", "josé", "アリス", "山田たろう", "김철수", "Ωμέγα", "ａlice"])
def test_valid_nicks(nick):
    assert is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["", "1abc", "-a", "a b", "x" * 17, "a\x1b", "a,b", "<a>", "*a*"])
def test_invalid_nicks(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", [
    "\u0430lice", "alic\u0435", "p\u0430yp\u0430l",  # Latin with Cyrillic а / е (report #11)
    "\u03bfmega",  # Greek omicron among Latin
    "alice\u05d0",  # Latin and Hebrew
])
def test_nicks_that_mix_scripts_are_refused(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", [
    "\u3164", "\u3164\u3164\u3164", "a\u3164", "\u115f", "\u1160x", "x\uffa0",  # Hangul fillers
    "x\u2800", "a\u200bb", "a\u200db", "a\u00adb", "a\u2060b", "a\ufeffb", "a\u034fb", "a\u180eb",
    "a\u3000b", "a\u00a0b", "\U000e0061x",
])
def test_nicks_with_invisible_or_blank_characters_are_refused(nick):
    assert not is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["\u2460x", "\ufdfa"])
def test_a_nick_must_also_be_valid_once_normalised(nick):
    assert not is_valid_nick(nick)  # ① is 1 (a leading digit); ﷺ is a phrase with spaces


def test_nicks_are_the_same_regardless_of_case():
    assert nick_key("Alice") == nick_key("ALICE") == nick_key("alice")


@pytest.mark.parametrize("look_alike", ["\uff41lice", "\uff21LICE", "ALICE", "ａｌｉｃｅ"])
def test_nicks_are_the_same_once_nfkc_normalised(look_alike):
    assert nick_key(look_alike) == nick_key("alice")
    assert nick_key("\u212a") == nick_key("k")  # KELVIN SIGN


@pytest.mark.parametrize(
    "line, expected",
    [
        ("hello", ev.Say("hello")),
        ("//etc/passwd", ev.Say("/etc/passwd")),
        ("/nick bob", ev.SetNick("bob")),
        ("/NICK bob", ev.SetNick("bob")),
        ("/who", ev.Who()),
        ("/me waves hello", ev.Act("waves hello")),
        ("/msg bob are you there", ev.Whisper("bob", "are you there")),
        ("/ping", ev.Ping()),
        ("/quit gone fishing", ev.Quit("gone fishing")),
        ("/quit", ev.Quit("")),
        ("/help", ev.Help()),
    ],
)
def test_commands_parse_into_requests(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize("line, code", [("/bogus", "unknown_command"), ("/", "unknown_command"),
                                        ("/nick", "bad_request"), ("/nick a b", "bad_request"),
                                        ("/msg bob", "bad_request"), ("/me", "bad_request")])
def test_bad_commands_are_errors(line, code):
    result = parse_line(line)
    assert isinstance(result, ev.Error) and result.code == code


def test_blank_lines_are_ignored():
    assert parse_line("") is None and parse_line("   ") is None


def test_bidi_controls_and_line_separators_never_reach_an_nc_user(run_server):
    """Report #13: U+202E, U+202C, U+2066, U+2069 and U+2028 were relayed to text users."""
    server = run_server()
    with text_user(server.address, "alice") as alice, text_user(server.address, "bob") as bob:
        robot, _ = json_client(server.address, "robot")
        alice.send_line("see \u202etxt.exe\u202c and \u2066x\u2069 and\u2028*** admin has joined")
        assert bob.expect(r"^<alice> see") == "<alice> see txt.exe and x and*** admin has joined"
        assert robot.expect_json("message")["text"] == "see txt.exe and x and*** admin has joined"
        robot.close()
