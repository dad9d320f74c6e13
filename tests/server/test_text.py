"""Untrusted text: what may reach a terminal, and what a nick may be."""

import pytest

from selchat.server.commands import parse_line
from selchat.server import events as ev
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
    ],
)
def test_clean_strips_what_could_drive_a_terminal(raw, shown):
    assert clean(raw) == shown


@pytest.mark.parametrize("nick", ["alice", "Bob", "_x", "[away]", "a-b", "José", "x" * 16, "a1"])
def test_valid_nicks(nick):
    assert is_valid_nick(nick)


@pytest.mark.parametrize("nick", ["", "1abc", "-a", "a b", "x" * 17, "a\x1b", "a,b", "<a>", "*a*"])
def test_invalid_nicks(nick):
    assert not is_valid_nick(nick)


def test_nicks_are_the_same_regardless_of_case():
    assert nick_key("Alice") == nick_key("ALICE") == nick_key("alice")


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
