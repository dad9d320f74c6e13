"""Parsing typed lines, and the pure formatting helpers."""

import pytest

from selchat.client import commands
from selchat.client.commands import (
    Act, ChangeNick, Clear, Help, Invalid, Password, Quit, Say, Whisper, Who,
)
from selchat.client.formatting import chat_line, nick_colour
from selchat.client.session import ChatLine


@pytest.mark.parametrize("typed, parsed", [
    ("hello", Say("hello")),
    ("//etc/passwd is a path", Say("/etc/passwd is a path")),
    ("/me waves", Act("waves")),
    ("/msg bob psst there", Whisper("bob", "psst there")),
    ("/nick carol", ChangeNick("carol")),
    ("/WHO", Who()),
    ("/clear", Clear()),
    ("/quit gone fishing", Quit("gone fishing")),
    ("/help", Help()),
    ("/pass", Password()),
    ("/pass open sesame", Password("open sesame")),
    ("   ", None),
])
def test_parse(typed, parsed):
    assert commands.parse(typed) == parsed


@pytest.mark.parametrize("typed", ["/me", "/msg bob", "/nick", "/nick two words", "/frobnicate"])
def test_misuse_says_what_to_type(typed):
    result = commands.parse(typed)
    assert isinstance(result, Invalid) and ("usage" in result.message or "try /help" in result.message)


def test_nick_colour_is_stable_and_case_blind():
    assert nick_colour("Alice") == nick_colour("alice") == nick_colour("ALICE")
    assert len({nick_colour(f"user{n}") for n in range(50)}) > 5


def test_chat_line_never_parses_markup():
    text = chat_line(ChatLine("message", "bob", "[bold]x[/bold] [link=http://e]y[/link]"), "alice")
    assert text.plain.endswith("<bob> [bold]x[/bold] [link=http://e]y[/link]")
    assert not any(span.style and "link" in str(span.style) for span in text.spans)


def test_a_password_command_does_not_show_the_password_in_its_repr():
    assert "sesame" not in repr(commands.parse("/pass open sesame"))
