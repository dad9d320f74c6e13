"""formatting.render: one table from event type to log line, checked without a terminal."""

import pytest

from selchat.client import formatting
from selchat.client.session import (
    ChatLine, ConnectionState, DeliveryChanged, Joined, LagMeasured, Left, NickChanged, Notice,
    OutgoingLine, PasswordNeeded, Pong, Presence, Reply, ServerError, ServerPing, StatusChanged,
    UserList, Welcome,
)


def stamp(ts):
    return "12:00" if ts is None else "12:34"


@pytest.mark.parametrize("event, text", [
    (ChatLine("message", "bob", "hi [b]x[/b]", 1.0), "12:34   <bob> hi [b]x[/b]"),
    (ChatLine("action", "bob", "waves", 1.0), "12:34   * bob waves"),
    (ChatLine("private", "bob", "psst", 1.0, to="alice"), "12:34 ● [private] <bob> psst"),
    (ChatLine("private", "alice", "psst", 1.0, to="bob"), "12:34   [private to bob] <alice> psst"),
    (Reply("HELLO", "c1-1"), "12:00 ↩ HELLO"),
    (Welcome(nick="alice", mode="chat", users=("alice", "bob"), user_count=2, server="selchat 0.1.0"),
     "12:00   -- connected to selchat 0.1.0 (mode=chat) as alice; 2 here"),
    (Welcome(nick="alice", mode="echo", users=("alice",), user_count=1),
     "12:00   -- connected to server (mode=echo) as alice; 1 here"),
    (Joined("bob", 1.0), "12:34   -- bob has joined"),
    (Left("bob", "quit: bye", 1.0), "12:34   -- bob has left (quit: bye)"),
    (Left("bob", "", 1.0), "12:34   -- bob has left"),
    (NickChanged("bob", "rob", 1.0), "12:34   -- bob is now known as rob"),
    (UserList(("alice", "bob"), 2), "12:00   -- 2 here: alice, bob"),
    (Presence(("c",), ("d", "e"), 1, 2, 9), "12:00   -- 1 joined, 2 left (9 here)"),
    (Notice("flood control", "flood"), "12:00   -- flood control"),
    (ServerError("no_such_nick", "no such nick: x"), "12:00 ! error: no such nick: x"),
    (ServerError("bad_request", ""), "12:00 ! error: bad_request"),
])
def test_each_shown_event_has_its_line(event, text):
    assert formatting.render(event, "alice", stamp).plain == text


@pytest.mark.parametrize("event", [
    DeliveryChanged(OutgoingLine("c1-1", "message", "x")), LagMeasured(0.1), PasswordNeeded("x"),
    StatusChanged(ConnectionState.CONNECTED, "h", 1), ServerPing("p"), Pong("p"),
])
def test_events_that_are_not_lines_draw_none(event):
    assert formatting.render(event, "alice", stamp) is None


def test_our_own_line_is_reversed_and_others_are_not():
    own = formatting.render(ChatLine("message", "alice", "me", 1.0), "alice", stamp)
    other = formatting.render(ChatLine("message", "bob", "you", 1.0), "alice", stamp)
    assert any("reverse" in str(span.style) for span in own.spans)
    assert not any("reverse" in str(span.style) for span in other.spans)


def _appended(pieces):
    """The slow, obvious way: `Text.append` piece by piece."""
    from rich.text import Text

    line = Text(no_wrap=False)
    for piece, style in pieces:
        line.append(piece, style)
    return line


@pytest.mark.parametrize("pieces", [
    [("12:34", "dim"), (" ", ""), (" ", ""), (" ", ""), ("<", "dim"), ("bob", "bold #aabbcc"),
     ("> ", "dim"), ("hi [b]x[/b]", "")],
    [("12:34", "dim"), ("", "bold"), (" ", ""), ("日本語", "italic"), ("", "")],
    [("a\x07b", "bold"), ("c", "dim")],  # a control character: Text strips it, offsets move
    [("two\nlines", "dim"), ("x", "bold")],
])
def test_a_line_built_in_one_go_is_the_line_appending_would_make(pieces):
    built = formatting._compose(pieces)
    expected = _appended(pieces)
    assert (built.plain, built.spans, built.no_wrap) == (expected.plain, expected.spans, expected.no_wrap)
