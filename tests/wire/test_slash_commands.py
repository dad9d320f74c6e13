"""The text dialect's slash commands (`selchat.wire.commands`): one typed line in, one request out."""

import pytest

from selchat.wire import events as ev
from selchat.wire.commands import parse_line


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
