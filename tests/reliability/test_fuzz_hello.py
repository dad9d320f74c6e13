"""Fuzzing the first line and the JSON request parser with the hostile-input report's inputs.

The report found hellos that the server could not parse (a wrong field type, a duplicate key, a
byte-order mark, a leading space) relayed to the room as chat, password and all, and NaN and
Infinity echoed back as bare tokens that strict JSON parsers refuse. The rules these hold:

- a first line that starts with "{" (after a BOM and whitespace) is a JSON attempt: it gets a
  welcome or an error, and is never chat;
- nothing the server sends to a JSON connection is anything but strict JSON.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakeloop import World
from selchat.server import events as ev
from selchat.server.chat import Mode
from selchat.server.protocol import NEED_DATA, Connection, Dialect

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRET = "pw-SECRET-7"  # only ever in a password field: seeing it anywhere else is a leak
LEAD = "\ufeff \t\r"


def strict_loads(line: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(line, parse_constant=refuse)


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(),
                                                                               max_size=1),
    st.sampled_from(["\ud800", "x" * 200, "1"]),
)


@st.composite
def hello_lines(draw) -> bytes:
    """A hello, often broken: odd field values, a duplicate key, a BOM or whitespace before it,
    NaN or Infinity, cut short, or its bytes damaged."""
    obj = {"type": draw(st.sampled_from(["hello", "hello", "hello", "message", "Hello", 1]))}
    obj["protocol"] = draw(st.one_of(st.just(1), ODD_VALUES))
    if draw(st.booleans()):
        obj["nick"] = draw(st.one_of(st.sampled_from(["alice", "bob", "x" * 17, " a "]), ODD_VALUES))
    obj["password"] = draw(st.one_of(st.just(SECRET), st.just([SECRET]), st.just({"p": SECRET})))
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):  # a duplicate key, which JSON parsers take the last of
        key, value = draw(st.sampled_from(["nick", "protocol", "type", "password"])), draw(ODD_VALUES)
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(value)}}}"
    text = draw(st.text(LEAD, max_size=3)) + text
    data = text.encode("utf-8", "surrogatepass")
    cut = draw(st.one_of(st.none(), st.integers(1, len(data))))
    if cut is not None:
        data = data[:cut]
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=3)) + data[at:]
    return data.replace(b"\n", b" ")


def looks_like_json(line: bytes) -> bool:
    return line.decode("utf-8", "replace").lstrip(LEAD).startswith("{")


def first_event(line: bytes):
    conn = Connection(8192)
    conn.receive_data(line + b"\n", 0.0)
    event = conn.next_event()
    return conn, event


@FUZZ
@given(line=st.one_of(hello_lines(), st.binary(max_size=80).map(lambda b: b.replace(b"\n", b""))))
@example(line=b'{"type":"hello","protocol":"1","password":"' + SECRET.encode() + b'"}')
@example(line=b'\xef\xbb\xbf{"type":"hello","protocol":1,"nick":5,"password":"' + SECRET.encode() + b'"}')
@example(line=b' {"type":"hello","protocol":1,"password":"' + SECRET.encode() + b'"')
def test_a_first_line_that_looks_like_json_is_a_hello_or_an_error_never_text(line):
    conn, event = first_event(line)
    if looks_like_json(line):
        assert type(event) in (ev.Hello, ev.Error), event
        assert (conn.dialect is Dialect.JSON) == (type(event) is ev.Hello)
    elif event is not NEED_DATA:
        assert type(event) in (ev.TextLine, ev.Error)


@FUZZ
@given(line=hello_lines(), password=st.sampled_from([None, SECRET]))
@example(line=b'{"type":"hello","protocol":"1","password":"' + SECRET.encode() + b'"}', password=None)
def test_the_room_never_hears_a_first_line_that_looks_like_json(line, password):
    room_hears(line, password)


def test_a_lone_surrogate_password_in_a_hello_is_refused_not_a_crash():
    room_hears(b'{"type":"hello","protocol":1,"password":"\\ud800"}', SECRET)


def room_hears(line: bytes, password: str | None) -> None:
    world = World(room_args={"password": password})
    observer = world.connect()
    world.send(observer, json.dumps({"type": "hello", "protocol": 1, "nick": "obs", "password": password}).encode()
               + b"\n")
    text_observer = world.connect()
    world.reactor.advance(0.35)
    if password:
        world.send(text_observer, f"/pass {password}\n".encode())
    world.reactor.advance(1.5)  # past any password penalty
    sender = world.connect()
    world.send(sender, line + b"\n")
    world.reactor.advance(1.5)
    said = sender.lines()
    joined_as_json = sender.handler.member.json
    if joined_as_json:
        assert strict_loads(said[0])["type"] in ("welcome", "error")
    else:
        assert [x for x in said if x.startswith(("*** welcome", "!!! error", "*** this server needs"))], said
    for line_out in observer.lines():
        strict_loads(line_out)  # raises on anything but strict JSON
    if looks_like_json(line):
        heard = observer.lines() + text_observer.lines()
        assert not [x for x in heard if SECRET in x], heard
        assert not [m for m in world.room.history if SECRET in m.text]


REQUEST_TYPES = ["message", "action", "private", "nick", "who", "ping", "pong", "quit", "hello", "dance"]


@st.composite
def request_lines(draw) -> bytes:
    obj = {"type": draw(st.sampled_from(REQUEST_TYPES))}
    for key in draw(st.sets(st.sampled_from(["text", "to", "nick", "reason", "id"]))):
        obj[key] = draw(st.one_of(st.text(max_size=10), ODD_VALUES))
    text = json.dumps(obj)  # may hold NaN and Infinity, as a sloppy client would send
    if draw(st.booleans()):
        text = text.replace("0", draw(st.sampled_from(["NaN", "Infinity", "1e999", "9" * 200])), 1)
    return text.encode("utf-8", "surrogatepass")


@FUZZ
@given(lines=st.lists(request_lines(), min_size=1, max_size=6))
@example(lines=[b'{"type":"ping","id":NaN}', b'{"type":"ping","id":1e999}', b'{"type":"ping","id":[1,{"a":true}]}',
                b'{"type":"message","text":"x","id":Infinity}', b'{"type":"nick","nick":"alice","id":1}'])
def test_a_json_connection_only_ever_receives_strict_json(lines):
    world = World()
    client, other = world.connect(), world.connect()
    world.send(client, b'{"type":"hello","protocol":1,"nick":"alice"}\n')
    world.send(other, b'{"type":"hello","protocol":1,"nick":"bob"}\n')
    for line in lines:
        world.send(client, line.replace(b"\n", b" ") + b"\n")
        world.reactor.advance(0.01)
    world.reactor.advance(2.0)
    for transport in (client, other):
        for line in transport.lines():
            strict_loads(line)
    answered = [strict_loads(x) for x in client.lines()]
    tagged = [strict_loads(x.decode()) for x in lines if b'"id"' in x and _strict_object(x)]
    assert len(answered) >= len(tagged) - sum(1 for t in tagged if t.get("type") in ("pong", "quit", "hello"))


def _strict_object(line: bytes) -> bool:
    try:
        return isinstance(strict_loads(line.decode("utf-8", "replace")), dict)
    except (ValueError, RecursionError):
        return False


@FUZZ
@given(mode=st.sampled_from([Mode.ECHO, Mode.UPPER]), lines=st.lists(st.text(max_size=20).map(
    lambda t: t.replace("\n", " ").replace("\r", " ")), min_size=1, max_size=60))
def test_echo_and_upper_answer_each_text_line_with_exactly_one(mode, lines):
    world = World(mode, rate=10.0, burst=5.0)
    client = world.connect()
    if lines[0].lstrip(LEAD).startswith("{"):
        lines[0] = "x" + lines[0]
    world.send(client, "".join(line + "\n" for line in lines).encode())
    world.reactor.advance(len(lines) / 10 + 1)
    assert len(client.lines()) == len(lines)
