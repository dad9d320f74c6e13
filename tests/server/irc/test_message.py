"""IRC lines in and out: lenient parsing, strict 512-byte serialising, splitting, stripping."""

import pytest
from hypothesis import given, settings, strategies as st

from selchat.server.irc.formatting import Ctcp, plain, split_ctcp, strip_formatting
from selchat.server.irc.message import (
    MAX_LINE, LineFramer, Message, cut_utf8, parse, serialise, split_text, text_lines,
)


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"NICK dave\r\n", Message("NICK", ("dave",))),
        (b"NICK dave\n", Message("NICK", ("dave",))),
        (b"nick dave", Message("NICK", ("dave",))),
        (b"USER daveu daveu 127.0.0.1 :Dave Real\r\n",
         Message("USER", ("daveu", "daveu", "127.0.0.1", "Dave Real"))),
        (b"USER daveu 0 * :Dave Real", Message("USER", ("daveu", "0", "*", "Dave Real"))),
        (b"JOIN :\r\n", Message("JOIN", ("",))),
        (b"CAP LS 302", Message("CAP", ("LS", "302"))),
        (b":dave!u@h PRIVMSG #selchat :hi :) there",
         Message("PRIVMSG", ("#selchat", "hi :) there"), "dave!u@h")),
        (b"@time=2023-01-01T00:00:00Z;x=y :srv PING :tok", Message("PING", ("tok",), "srv")),
        (b"@tag=1 PING tok", Message("PING", ("tok",))),
        (b"PRIVMSG   #selchat    :spaced  out", Message("PRIVMSG", ("#selchat", "spaced  out"))),
        (b"PRIVMSG #selchat :", Message("PRIVMSG", ("#selchat", ""))),
        ("PRIVMSG #selchat :José".encode(), Message("PRIVMSG", ("#selchat", "José"))),
        (b"PRIVMSG #selchat :caf\xe9", Message("PRIVMSG", ("#selchat", "café"))),  # Latin-1
    ],
)
def test_parse_is_lenient_like_real_servers(line, expected):
    assert parse(line) == expected


@pytest.mark.parametrize("line", [b"", b"\r\n", b"   \r\n", b":prefix.only", b"@tags=only"])
def test_parse_gives_none_for_lines_with_no_command(line):
    assert parse(line) is None


def test_serialise_writes_trailing_only_when_needed_or_asked():
    assert serialise("JOIN", "#selchat", prefix="d!u@h") == b":d!u@h JOIN #selchat\r\n"
    assert serialise("CAP", "*", "LS", "", prefix="srv") == b":srv CAP * LS :\r\n"
    assert serialise("QUIT", "gone fishing", prefix="c!t@s") == b":c!t@s QUIT :gone fishing\r\n"
    assert serialise("NICK", "newname", prefix="d", trailing=True) == b":d NICK :newname\r\n"
    assert serialise("PRIVMSG", "#c", ":)") == b"PRIVMSG #c ::)\r\n"


def test_serialise_refuses_broken_middle_parameters():
    for bad in ("", "two words", ":colon", "cr\rlf"):
        with pytest.raises(ValueError):
            serialise("PRIVMSG", bad, "text")


def test_serialise_never_lets_user_text_start_a_second_line():
    line = serialise("PRIVMSG", "#c", "hi\r\nQUIT :pwned\x00")
    assert line == b"PRIVMSG #c :hi  QUIT :pwned \r\n"
    assert line.count(b"\r\n") == 1


def test_serialise_cuts_an_overlong_line_at_a_character_boundary():
    line = serialise("PRIVMSG", "#c", "é" * 600, prefix="srv")
    assert len(line) <= MAX_LINE
    assert line.endswith(b"\r\n")
    line[:-2].decode("utf-8")                     # would raise if cut inside a character


def test_cut_utf8_steps_back_to_a_lead_byte():
    data = "a€b".encode()                           # € is three bytes
    assert cut_utf8(data, 1) == b"a"
    assert cut_utf8(data, 2) == b"a"
    assert cut_utf8(data, 3) == b"a"
    assert cut_utf8(data, 4) == "a€".encode()


def test_split_text_cuts_at_the_last_space_that_fits_and_drops_it():
    assert split_text("aaaa bbbb cccc", 9) == ["aaaa bbbb", "cccc"]
    assert split_text("aaaa bbbb", 4) == ["aaaa", "bbbb"]     # the space right after a full piece
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_text("", 10) == [""]
    assert split_text("€€€", 4) == ["€", "€", "€"]


def test_split_text_wants_room_for_one_character():
    with pytest.raises(ValueError):
        split_text("x", 3)


def _rejoin_check(original: str, pieces: list[str]) -> None:
    """Each piece follows the last, with exactly one space between them at a soft cut."""
    pos = 0
    for i, piece in enumerate(pieces):
        assert original.startswith(piece, pos)
        pos += len(piece)
        if i < len(pieces) - 1 and original[pos:pos + 1] == " ":
            pos += 1
    assert pos == len(original)


text_with_spaces = st.text(
    alphabet=st.one_of(st.just(" "), st.sampled_from("aé€😀"), st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\r\n\x00")),
    max_size=3000)


@settings(max_examples=200, deadline=None)
@given(text=text_with_spaces, room=st.integers(min_value=4, max_value=600))
def test_split_text_property_pieces_fit_are_utf8_and_rejoin(text, room):
    pieces = split_text(text, room)
    for piece in pieces:
        assert len(piece.encode("utf-8")) <= room
    assert all(pieces[:-1])                         # no empty piece except for empty text
    _rejoin_check(text, pieces)


# Short words and small rooms put spaces right at, before and after every cut point.
word_text = st.lists(st.text(alphabet="ab€😀", min_size=0, max_size=9), max_size=60).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(text=word_text, room=st.integers(min_value=4, max_value=24))
def test_split_text_property_with_cuts_next_to_spaces(text, room):
    pieces = split_text(text, room)
    assert all(len(piece.encode("utf-8")) <= room for piece in pieces)
    _rejoin_check(text, pieces)


@settings(max_examples=100, deadline=None)
@given(text=text_with_spaces, nick=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
       action=st.booleans())
def test_text_lines_property_every_privmsg_fits_512_bytes(text, nick, action):
    wrap = ("\x01ACTION ", "\x01") if action else ("", "")
    lines = text_lines("PRIVMSG", "#selchat", text, prefix=f"{nick}!longuser10@{'h' * 63}",
                       wrap=wrap)
    bodies = []
    for line in lines:
        assert len(line) <= MAX_LINE
        assert line.endswith(b"\r\n") and line.count(b"\r\n") == 1
        message = parse(line)
        assert message.command == "PRIVMSG" and message.params[0] == "#selchat"
        body = message.params[1]
        assert body.startswith(wrap[0]) and body.endswith(wrap[1])
        bodies.append(body[len(wrap[0]):len(body) - len(wrap[1])])
    _rejoin_check(text, bodies)


def test_a_long_selchat_line_becomes_several_privmsgs():
    text = " ".join(["word"] * 2000)                # 9,999 bytes, beyond --max-line
    lines = text_lines("PRIVMSG", "#selchat", text, prefix="guest1!text@selchat")
    # 510 - len(":guest1!text@selchat PRIVMSG #selchat :") = 471 bytes: 94 words a piece
    assert len(lines) == 22
    assert max(len(line) for line in lines) <= 512
    assert all(line.startswith(b":guest1!text@selchat PRIVMSG #selchat :word") for line in lines)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("\x02bold\x02 \x0304red\x03 \x1ditalic\x1d", "bold red italic"),
        ("\x034,12fg and bg\x03", "fg and bg"),
        ("\x0399 99 is a colour too", " 99 is a colour too"),
        ("\x03123 three digits: two are colour", "3 three digits: two are colour"),
        ("\x03,5 comma without fg is text", ",5 comma without fg is text"),
        ("\x034,123 bg takes two", "3 bg takes two"),
        ("\x04FF0000hex red\x04", "hex red"),
        ("\x04ff0000,00ff00hex both\x0f", "hex both"),
        ("\x1funder\x1e strike \x11mono\x16rev", "under strike monorev"),
        ("plain 2024, no codes", "plain 2024, no codes"),
    ],
)
def test_strip_formatting_removes_codes_with_their_digits(raw, shown):
    assert strip_formatting(raw) == shown


@pytest.mark.parametrize(
    "raw, ctcp",
    [
        ("\x01ACTION waves\x01", Ctcp("ACTION", "waves")),
        ("\x01ACTION waves", Ctcp("ACTION", "waves")),          # closing \x01 is optional
        ("\x01action waves\x01", Ctcp("ACTION", "waves")),
        ("\x01VERSION\x01", Ctcp("VERSION", "")),
        ("\x01PING 123\x01", Ctcp("PING", "123")),
        ("\x01ACTION a\x01b\x01", Ctcp("ACTION", "ab")),
        ("hello", None),
    ],
)
def test_split_ctcp(raw, ctcp):
    assert split_ctcp(raw) == ctcp


def test_plain_drops_stray_ctcp_marks_and_formatting():
    assert plain("a\x01b \x0304c") == "ab c"


def test_framer_splits_on_lf_and_crlf_and_drops_empty_lines():
    framer = LineFramer(max_line=64)
    assert framer.feed(b"CAP LS 302\r\nJOIN :\r\n\r\n\nNI") == [b"CAP LS 302", b"JOIN :"]
    assert framer.feed(b"CK dave\nUSER u 0 * :r\r") == [b"NICK dave"]
    assert framer.feed(b"\n") == [b"USER u 0 * :r"]


def test_framer_reports_an_overlong_line_once_and_keeps_going():
    framer = LineFramer(max_line=16)
    out = framer.feed(b"x" * 10)
    out += framer.feed(b"y" * 10)                   # over the limit mid-line: reported now
    out += framer.feed(b"z" * 1000)                 # still the same line: nothing kept
    out += framer.feed(b"\nPING ok\r\n")
    assert out == [LineFramer.TOO_LONG, b"PING ok"]
    assert framer.feed(b"a" * 30 + b"\n") == [LineFramer.TOO_LONG]


def test_framer_keeps_a_line_of_exactly_max_line_with_its_crlf():
    framer = LineFramer(max_line=8)
    assert framer.feed(b"12345678\r\n") == [b"12345678"]
