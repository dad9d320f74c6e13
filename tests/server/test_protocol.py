"""The wire protocol on its own: bytes in, events out. No sockets."""

import json

import pytest

from selchat.server import events as ev
from selchat.server.protocol import (
    NEED_DATA,
    PARTIAL_LINE_QUIET,
    Connection,
    Dialect,
    LineFramer,
    encode_json,
    encode_text,
    parse_json_request,
)


def drain(conn: Connection) -> list:
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_lines_split_on_newline_and_crlf_across_chunks():
    framer = LineFramer(100)
    assert framer.feed(b"one\r\ntw") == [b"one"]
    assert framer.feed(b"o\n") == [b"two"]
    assert framer.feed(b"\n") == [b""]


def test_a_line_of_exactly_max_line_bytes_is_accepted_and_one_more_is_refused():
    framer = LineFramer(8)
    assert framer.feed(b"12345678\r\n") == [b"12345678"]
    assert framer.feed(b"123456789\n") == [None]


def test_an_endless_line_is_refused_once_and_never_buffered_past_the_limit():
    framer = LineFramer(8192)
    chunk = b"x" * 65536
    results = []
    for _ in range(64):  # 4 MiB with no newline
        results += framer.feed(chunk)
        assert framer.pending <= 8193
    assert results == [None]
    # The rest of the over-long line is dropped up to its newline; the next line is intact.
    assert framer.feed(b"tail\nnext\n") == [b"next"]


def test_every_byte_is_scanned_once_whatever_the_chunking():
    # One byte at a time must find the same lines as all at once.
    data = b"alpha\nbe\r\nta\n\ngamma"
    whole = LineFramer(100).feed(data)
    framer = LineFramer(100)
    pieces = []
    for i in range(len(data)):
        pieces += framer.feed(data[i : i + 1])
    assert pieces == whole == [b"alpha", b"be", b"ta", b""]
    assert framer.take_partial() == b"gamma"


def test_first_plain_line_makes_a_text_connection():
    conn = Connection()
    conn.receive_data(b"hello\n", 0.0)
    assert conn.dialect is Dialect.TEXT
    assert drain(conn) == [ev.TextLine("hello")]


def test_a_json_hello_first_makes_a_json_connection():
    conn = Connection()
    conn.receive_data(b'{"type":"hello","protocol":1,"nick":"alice"}\n{"type":"message","text":"hi","id":7}\n')
    assert conn.dialect is Dialect.JSON
    assert drain(conn) == [ev.Hello(1, "alice"), ev.Say("hi", 7)]


def test_a_json_hello_after_a_text_line_is_just_text():
    conn = Connection()
    conn.receive_data(b'hi\n{"type":"hello","protocol":1}\n')
    assert conn.dialect is Dialect.TEXT
    assert [type(e) for e in drain(conn)] == [ev.TextLine, ev.TextLine]


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


@pytest.mark.parametrize(
    "line, code",
    [
        ("nope", "bad_json"),
        ("[1, 2]", "bad_json"),
        ("[" * 100_000, "bad_json"),  # deep nesting must not blow the stack
        ('{"type": "dance"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "message"}', "bad_request"),
        ('{"type": "message", "text": 5}', "bad_request"),
        ('{"type": "message", "text": ""}', "empty_message"),
        ('{"type": "private", "text": "x"}', "bad_request"),
        ('{"type": "nick", "nick": ["a"]}', "bad_request"),
        ('{"type": "message", "text": "x", "id": {"a": 1}}', "bad_request"),
    ],
)
def test_malformed_json_requests_become_errors(line, code):
    error = parse_json_request(line)
    assert isinstance(error, ev.Error) and error.code == code


def test_an_error_carries_the_request_id():
    assert parse_json_request('{"type":"message","text":"","id":"c-1"}').id == "c-1"


def test_text_encoding_keeps_kinds_apart():
    assert encode_text(ev.Message("alice", "hi", 0.0)) == b"<alice> hi\n"
    assert encode_text(ev.Action("alice", "waves", 0.0)) == b"* alice waves\n"
    assert encode_text(ev.Private("alice", "bob", "psst", 0.0)) == b"*alice* psst\n"
    assert encode_text(ev.Private("alice", "bob", "psst", 0.0, confirmation=True)) == b"-> *bob* psst\n"
    assert encode_text(ev.Joined("bob", 0.0)) == b"*** bob has joined\n"
    assert encode_text(ev.Error("x", "nope")) == b"!!! error: nope\n"
    assert encode_text(ev.Reply("STRASSE")) == b"STRASSE\n"


def test_json_encoding_round_trips_through_json():
    data = encode_json(ev.Message("alice", "héllo \"q\"", 1.5, id="c-9"))
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"type": "message", "from": "alice", "text": 'héllo "q"', "ts": 1.5, "id": "c-9"}


def test_history_encodes_as_replayed_events():
    history = ev.History((ev.Message("a", "one", 1.0, replay=True), ev.Action("b", "two", 2.0, replay=True)))
    lines = [json.loads(line) for line in encode_json(history).splitlines()]
    assert [(e["type"], e["replay"]) for e in lines] == [("message", True), ("action", True)]
    text = encode_text(history).decode().splitlines()
    assert text == ["*** --- last 2 messages ---", "<a> one", "* b two", "*** --- end of history ---"]


def test_every_notification_type_encodes_in_both_dialects():
    samples = [
        ev.Welcome("selchat", "chat", "a", ("a",), 1, 8192), ev.Message("a", "t", 0.0), ev.Action("a", "t", 0.0),
        ev.Private("a", "b", "t", 0.0), ev.Reply("t"), ev.Joined("a", 0.0), ev.Left("a", "quit", 0.0),
        ev.NickChanged("a", "b", 0.0), ev.Users(("a",), 1), ev.Presence(("a",), (), 1, 0, 101),
        ev.History(()), ev.Notice("n"), ev.HelpText(("h",)), ev.Error("c", "m"), ev.Ping(1), ev.Pong(1),
    ]
    for event in samples:
        assert isinstance(encode_text(event), bytes)
        for line in encode_json(event).splitlines():
            assert "type" in json.loads(line)
