"""The block path (docs/architecture.md): echo and upper answer all the lines of a read at once,
and that gives byte for byte what answering them one by one gives, however the stream is split
and timed. Pure: sessions on a fake clock (tests/fakeloop.py), no sockets.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from selchat.server.chat import Mode
from selchat.server.framing import LineFramer, _may_hold_a_run_over
from selchat.server.protocol import Connection, Dialect
from selchat.wire.text_dialect import encode_reply_block

from fakeloop import World

MAX_LINE = 16

# Pieces a stream is made of: plain words, non-ASCII text (ß upper-cases to SS), invalid and
# cut-short UTF-8, CR and CRLF, blanks (str.strip's whitespace, ASCII and not), control
# characters and escape sequences, commands, JSON, and runs near --max-line.
PIECES = [
    b"hello", b"hello\n", b"a line\n", b"one\ntwo\n", b"stra\xc3\x9fe", b"\xc7\x86", b"\xce\xa3\xcf\x82", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\r", b"\n", b"\r\n", b"\n\n", b" ", b"\t", b"\x1c", b"\xc2\x85", b"\xe3\x80\x80", b"\x1b[31m", b"\x00",
    b"\x7f", b"/quit", b"/nick bob", b"/me waves", b"/who", b'{"type":"say","text":"x"}',
    b"x" * (MAX_LINE - 1), b"y" * MAX_LINE, b"z" * (MAX_LINE + 1), b"w" * (MAX_LINE + 3), b"v" * (3 * MAX_LINE),
]

# A JSON connection's lines: messages (answered in bulk while a block holds nothing else), and
# what is not (a ping, an empty message, broken JSON, a quit), plus a lone surrogate.
JSON_PIECES = [
    b'{"type":"message","text":"hi","id":1}\n', b'{"type":"message","text":"stra\xc3\x9fe"}\n',
    b'{"type":"message","text":"\\ud800x","id":"a"}\n', b'{"type":"message","text":"\xff"}\r\n',
    b'{"type":"message","text":"a very long message"}\n', b'{"type":"ping","id":2}\n',
    b'{"type":"message","text":""}\n', b'{"type":"message"', b'\n', b'{"type":"quit"}\n', b"/quit\n",
    b'{"type":"message","text":"' + b"q" * 50 + b'"}\n',  # over a --max-line of 64
]
JSON_MAX_LINE = 64
JSON_HELLO = b'{"type":"hello","protocol":1,"nick":"ann"}\n'

FIRST_LINES = [b"", b"first\n", b"\n", b'{"type":"hello","protocol":1,"nick":"ann"}\n', b'{"type":"hello"}\n',
               b"\xef\xbb\xbf{bad json\n"]


@st.composite
def timed_chunks(draw):
    """A stream cut at any points, with pauses (some past the 0.2 s partial-line flush) between
    the cuts, and maybe an end of input."""
    max_line = MAX_LINE
    if draw(st.booleans()):
        stream = draw(st.sampled_from(FIRST_LINES)) + b"".join(draw(st.lists(st.sampled_from(PIECES), max_size=60)))
    else:
        pieces = st.sampled_from(JSON_PIECES * 4 + PIECES)
        stream = JSON_HELLO + b"".join(draw(st.lists(pieces, max_size=40)))
        max_line = JSON_MAX_LINE
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    ops = []
    for start, stop in zip([0] + cuts, cuts + [len(stream)]):
        if stop > start:
            ops.append(("data", stream[start:stop]))
        pause = draw(st.sampled_from([0.0, 0.0, 0.05, 0.25, 1.5]))
        if pause:
            ops.append(("wait", pause))
    if draw(st.booleans()):
        ops.append(("eof", None))
    return max_line, ops


def run(mode: Mode, ops, blocks: bool, max_line: int = MAX_LINE) -> tuple[bytes, bool, str | None, int]:
    world = World(mode, room_args={"max_line": max_line})
    if not blocks:
        world.room.answers_lines_in_bulk = False  # the exact per-line path
    bulk = [0]
    for name in ("reply_block", "reply_json_block"):
        def counted(member, lines, reply=getattr(world.room, name)):
            bulk[0] += 1
            return reply(member, lines)

        setattr(world.room, name, counted)
    transport = world.connect()
    for kind, arg in ops:
        if transport.closing:
            break
        if kind == "data":
            transport.handler.data_received(arg)
        elif kind == "wait":
            world.reactor.advance(arg)
        else:
            transport.handler.eof_received()
    world.reactor.advance(1.0)
    return bytes(transport.out), transport.closing, transport.close_reason, bulk[0]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from([Mode.ECHO, Mode.UPPER]), stream=timed_chunks())
def test_the_block_path_gives_the_bytes_the_per_line_path_gives(mode, stream):
    max_line, ops = stream
    by_block = run(mode, ops, blocks=True, max_line=max_line)
    by_line = run(mode, ops, blocks=False, max_line=max_line)
    assert by_block[:3] == by_line[:3]
    assert by_line[3] == 0


def spy_on(world, transport) -> tuple[list, list]:
    """What reaches `Room.handle`, and each `write` the transport is given, from now on."""
    handled, written = [], []
    handle, write = world.room.handle, transport.write
    world.room.handle = lambda *args: handled.append(args) or handle(*args)
    transport.write = lambda data: written.append(data) or write(data)
    return handled, written


def test_a_read_of_plain_lines_is_answered_by_one_block_not_through_the_room():
    world = World(Mode.UPPER)
    transport = world.connect()
    world.send(transport, b"first\n")  # the first line settles the dialect and joins, line by line
    handled, written = spy_on(world, transport)
    world.send(transport, b"stra\xc3\x9fe\r\n\n  \nabc\xffdef\nhalf")
    assert handled == []
    assert written == ["STRASSE\n\n  \nABC\ufffdDEF\n".encode()]
    world.reactor.advance(0.25)  # the unfinished line counts once it has been quiet for 0.2 s
    assert transport.take()[-1] == "HALF"


def test_a_block_of_blank_lines_is_no_sign_of_life():
    world = World(Mode.ECHO, idle_timeout=100)
    transport = world.connect()
    world.send(transport, b"first\n")
    session = transport.handler
    world.reactor.advance(10)
    world.send(transport, b" \n\t\n\x1c\n\xe3\x80\x80\n")  # str.strip() removes all of these
    assert session.last_active == world.reactor.now - 10
    world.send(transport, b" \n \xc3\x9f\n")
    assert session.last_active == world.reactor.now


def test_anything_unusual_goes_the_per_line_way_and_takes_nothing():
    conn = Connection(8)
    assert conn.receive_block(b"hi\n") is None  # the dialect is not settled yet
    conn.dialect = Dialect.TEXT
    assert conn.receive_block(b"no nl") is None  # no complete line
    conn.receive_data(b"a\nb")  # a complete line waits (as under flood control)
    assert conn.receive_block(b"c\n") is None and conn.pending == 3
    conn = Connection(8)
    conn.dialect = Dialect.TEXT
    assert conn.receive_block(b"ok\n123456789\n") is None  # an over-long line: refused in its place
    assert conn.receive_block(b"ok\n1234567890") is None  # an unfinished one already too long
    assert conn.receive_block(b"ok\n123456789") == b"ok\n"  # not yet: it may end in "\r\n"
    assert conn.receive_block(b"\r\n") is None  # 9 bytes and its "\r": too long after all
    conn = Connection(8)
    conn.dialect = Dialect.TEXT
    assert conn.receive_block(b"12345678\r\nok\r\r\npart") == b"12345678\nok\r\n"
    assert conn.pending == 4
    conn.pause_reading()
    assert conn.receive_block(b"x\n") is None


def test_take_block_leaves_the_framer_as_push_and_next_line_would():
    framer = LineFramer(8)
    assert framer.take_block(b"a\r\nbb\nccc") == b"a\nbb\n"
    assert framer.feed(b"c\n") == [b"cccc"]
    assert framer.take_block(b"\n") == b"\n"
    assert framer.pending == 0


def test_reply_block_is_encode_text_of_each_line():
    assert encode_reply_block(b"a\n\xc3\n\xce\xa3\xcf\x82\n", upper=True) == "A\n\ufffd\n\u03a3\u03a3\n".encode()
    assert encode_reply_block(b"stra\xc3\x9fe\n") == b"stra\xc3\x9fe\n"
    assert encode_reply_block(b"stra\xc3\x9fe\n", upper=True) == b"STRASSE\n"


def test_a_json_read_of_messages_is_answered_in_one_write_and_anything_else_line_by_line():
    world = World(Mode.UPPER)
    transport = world.json_user("ann")
    transport.take()
    handled, written = spy_on(world, transport)
    world.send(transport, b'{"type":"message","text":"stra\xc3\x9fe","id":1}\n{"type":"message","text":"b"}\n')
    assert handled == [] and written == [b'{"type":"reply","text":"STRASSE","id":1}\n{"type":"reply","text":"B"}\n']
    world.send(transport, b'{"type":"message","text":"c"}\n{"type":"who","id":2}\n')  # a block with a who
    assert len(handled) == 2 and len(written) == 3


@given(lines=st.lists(st.integers(0, 40), min_size=1, max_size=40), limit=st.integers(1, 30))
def test_the_window_check_never_misses_a_run_over_the_limit(lines, limit):
    block = b"".join(b"x" * n + b"\n" for n in lines)
    if max(lines) > limit:
        assert _may_hold_a_run_over(block, limit)
