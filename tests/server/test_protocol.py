"""The server's side of the protocol on its own (`Connection`: framing, dialects, the first-line
rule): bytes in, events out. No sockets. The codecs themselves are tested in tests/wire/."""

import pytest

from selchat.server import events as ev
from selchat.server.protocol import (
    NEED_DATA,
    PARTIAL_LINE_QUIET,
    Connection,
    Dialect,
    LineFramer,
)


def drain(conn: Connection) -> list:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def feed(framer: LineFramer, data: bytes) -> list:
    """Feed bytes and take out every line they complete (None for a refused one)."""
    return framer.feed(data)


def test_lines_split_on_newline_and_crlf_across_chunks():
    framer = LineFramer(100)
    assert feed(framer, b"one\r\ntw") == [b"one"]
    assert feed(framer, b"o\n") == [b"two"]
    assert feed(framer, b"\n") == [b""]


def test_a_line_of_exactly_max_line_bytes_is_accepted_and_one_more_is_refused():
    framer = LineFramer(8)
    assert feed(framer, b"12345678\r\n") == [b"12345678"]
    assert feed(framer, b"123456789\n") == [None]


def test_an_endless_line_is_refused_once_and_never_buffered_past_the_limit():
    framer = LineFramer(8192)
    chunk = b"x" * 65536
    results = []
    for _ in range(64):  # 4 MiB with no newline
        results += feed(framer, chunk)
        assert framer.pending <= 8193
    assert results == [None]
    # The rest of the over-long line is dropped up to its newline; the next line is intact.
    assert feed(framer, b"tail\nnext\n") == [b"next"]


def test_every_byte_is_scanned_once_whatever_the_chunking():
    # One byte at a time must find the same lines as all at once.
    data = b"alpha\nbe\r\nta\n\ngamma"
    whole = feed(LineFramer(100), data)
    framer = LineFramer(100)
    pieces = []
    for i in range(len(data)):
        pieces += feed(framer, data[i : i + 1])
    assert pieces == whole == [b"alpha", b"be", b"ta", b""]
    assert framer.take_partial() == b"gamma"


def test_first_plain_line_makes_a_text_connection():
    conn = Connection()
    conn.receive_data(b"hello\n", 0.0)
    assert drain(conn) == [ev.TextLine("hello")]
    assert conn.dialect is Dialect.TEXT


def test_a_json_hello_first_makes_a_json_connection():
    conn = Connection()
    conn.receive_data(b'{"type":"hello","protocol":1,"nick":"alice"}\n{"type":"message","text":"hi","id":7}\n')
    assert drain(conn) == [ev.Hello(1, "alice"), ev.Say("hi", 7)]
    assert conn.dialect is Dialect.JSON


def test_a_json_hello_after_a_text_line_is_just_text():
    conn = Connection()
    conn.receive_data(b'hi\n{"type":"hello","protocol":1}\n')
    assert [type(e) for e in drain(conn)] == [ev.TextLine, ev.TextLine]
    assert conn.dialect is Dialect.TEXT


def test_an_unknown_protocol_version_is_refused_and_falls_back_to_text():
    conn = Connection()
    conn.receive_data(b'{"type":"hello","protocol":99}\n')
    [error] = drain(conn)
    assert error.code == "unsupported_protocol"
    assert conn.dialect is Dialect.TEXT


def test_invalid_utf8_is_replaced():
    conn = Connection()
    conn.receive_data(b"caf\xc3\xa9 \xff\xfe ok\n")
    assert drain(conn) == [ev.TextLine("café \ufffd\ufffd ok")]


def test_a_partial_text_line_counts_once_it_has_been_quiet():
    conn = Connection()
    conn.receive_data(b"no newline", now=10.0)
    assert drain(conn) == []
    assert conn.partial_deadline() == pytest.approx(10.0 + PARTIAL_LINE_QUIET)
    conn.receive_data(b" yet", now=10.1)  # more bytes: the quiet period starts again
    assert drain(conn) == []
    assert not conn.flush_partial(10.0 + PARTIAL_LINE_QUIET)
    assert conn.flush_partial(10.1 + PARTIAL_LINE_QUIET)
    assert drain(conn) == [ev.TextLine("no newline yet")]
    assert conn.partial_deadline() is None


def test_json_connections_never_flush_partial_lines():
    conn = Connection()
    conn.receive_data(b'{"type":"hello","protocol":1}\n{"type":"mess', now=0.0)
    drain(conn)
    assert conn.partial_deadline() is None
    assert not conn.flush_partial(100.0)


def test_end_of_input_delivers_a_last_unterminated_line_then_closes():
    conn = Connection()
    conn.receive_data(b"bye")
    conn.receive_data(b"")
    assert drain(conn) == [ev.TextLine("bye"), ev.ConnectionClosed("connection closed")]


def test_a_lost_connection_is_an_event():
    conn = Connection()
    conn.receive_data(None)
    assert drain(conn) == [ev.ConnectionClosed("connection lost")]


def test_an_over_long_line_is_an_error_event_and_the_stream_goes_on():
    conn = Connection(max_line=16)
    conn.receive_data(b"x" * 40 + b"\nfine\n")
    events = drain(conn)
    assert events[0].code == "line_too_long" and "16" in events[0].message
    assert events[1:] == [ev.TextLine("fine")]


# --- hostile input (issue 9) ------------------------------------------------------------------


def text_connection(**kwargs) -> Connection:
    conn = Connection(**kwargs)
    conn.receive_data(b"hi\n", 0.0)
    assert drain(conn) == [ev.TextLine("hi")]
    return conn


def test_a_partial_line_is_not_cut_while_the_server_has_stopped_reading():
    # Report #6: flood control stops reading; the rest of the line waits in the kernel, and the
    # silence that follows is the server's, not the client's.
    conn = text_connection()
    conn.receive_data(b"x" * 796, now=1.0)
    assert drain(conn) == []
    conn.pause_reading()
    assert conn.partial_deadline() is None
    assert not conn.flush_partial(60.0)
    conn.resume_reading(now=60.0)  # the partial line gets a fresh quiet period from here
    assert not conn.flush_partial(60.0 + PARTIAL_LINE_QUIET / 2)
    assert conn.partial_deadline() == pytest.approx(60.0 + PARTIAL_LINE_QUIET)
    conn.receive_data(b"y" * 199 + b"\n", now=60.01)
    assert drain(conn) == [ev.TextLine("x" * 796 + "y" * 199)]


@pytest.mark.parametrize("character", ["é", "€", "😀"])
def test_a_partial_line_flush_holds_back_a_character_cut_short(character):
    # Report #22: "caf" + the first byte of "é", a pause, then the rest.
    encoded = character.encode()
    conn = text_connection()
    conn.receive_data(b"caf" + encoded[:-1], now=1.0)
    assert drain(conn) == []
    assert conn.flush_partial(1.0 + PARTIAL_LINE_QUIET)
    assert drain(conn) == [ev.TextLine("caf")]
    assert conn.partial_deadline() is None  # the held bytes alone are no line
    conn.receive_data(encoded[-1:] + b" au lait\n", now=5.0)
    assert drain(conn) == [ev.TextLine(character + " au lait")]


def test_a_character_cut_short_by_the_end_of_input_is_replaced():
    conn = text_connection()
    conn.receive_data(b"caf\xc3", now=1.0)
    conn.receive_data(b"")
    assert drain(conn) == [ev.TextLine("caf\ufffd"), ev.ConnectionClosed("connection closed")]


@pytest.mark.parametrize(
    "line, code",
    [
        ('{"type":"hello","protocol":"1","password":"hunter2"}', "bad_request"),
        ('{"type":"hello","protocol":1,"nick":"a","nick":5,"password":"hunter2"}', "bad_request"),
        ('{"type":"hello","protocol":1,"password":"hunter2"', "bad_json"),
        ('\ufeff{"type":"hello","protocol":1,"password":["hunter2"]}', "bad_request"),
        (' {"type":"hello","protocol":1,"nick":{},"password":"hunter2"}', "bad_request"),
        ('{"type":"message","text":"hunter2"}', "bad_request"),
        ('{"type":"hello","protocol":NaN,"password":"hunter2"}', "bad_json"),
    ],
)
def test_a_first_line_that_tries_to_be_json_is_an_error_never_chat(line, code):
    # Report #8: such lines were relayed to the room, password included.
    conn = Connection()
    conn.receive_data(line.encode() + b"\n")
    [error] = drain(conn)
    assert isinstance(error, ev.Error) and error.code == code
    assert conn.dialect is Dialect.PENDING  # the next line may still be a good hello
    conn.receive_data(b'{"type":"hello","protocol":1}\n')
    assert drain(conn) == [ev.Hello(1)]
    assert conn.dialect is Dialect.JSON


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b" ", b"\t \r"])
def test_a_hello_after_a_byte_order_mark_or_whitespace_is_a_hello(prefix):
    conn = Connection()
    conn.receive_data(prefix + b'{"type":"hello","protocol":1,"nick":"alice"}\n')
    assert drain(conn) == [ev.Hello(1, "alice")]
    assert conn.dialect is Dialect.JSON



def test_unread_lines_wait_as_bytes_not_as_a_heap_of_events():
    # Report #9: 64 KiB of short lines became 32,768 events held while flood control released
    # ten a second. Parsing one line per next_event() keeps only the bytes.
    import tracemalloc

    conn = text_connection()
    data = b"a\n" * 32768
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        conn.receive_data(data, now=1.0)
        assert conn.next_event() == ev.TextLine("a")  # one taken; flood control holds the rest
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16 * 1024
    assert len(drain(conn)) == 32767


def test_blank_lines_cost_nothing_in_chat_and_are_answered_in_echo():
    conn = text_connection(drop_blank_lines=True)
    conn.receive_data(b"\n" * 65536 + b" \r\n\t\n", now=1.0)
    assert conn.next_event() is NEED_DATA and conn.pending == 0
    echo = text_connection()
    echo.receive_data(b"\n\n")
    assert drain(echo) == [ev.TextLine(""), ev.TextLine("")]


def test_an_over_long_line_behind_unread_lines_is_refused_in_its_place():
    conn = Connection(max_line=16)
    conn.receive_data(b"one\ntwo\n" + b"x" * 100)
    conn.receive_data(b"x" * 100)
    assert conn.pending <= 8 + 18  # the long line is kept only to its first max_line + 2 bytes
    conn.receive_data(b"x\nthree\n")
    events = drain(conn)
    assert events[:2] == [ev.TextLine("one"), ev.TextLine("two")]
    assert events[2].code == "line_too_long"
    assert events[3:] == [ev.TextLine("three")]
