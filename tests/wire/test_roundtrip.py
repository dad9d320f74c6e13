"""The contract: what one side of `selchat.wire` writes, the other side reads as the same event.

Server -> client: every notification the server can send is encoded with the server's encoder
and decoded with the client's decoder, and must come back as the same event with its text
cleaned (the decoder's one job besides parsing). Client -> server: every request the client can
build is fed as bytes to a server `Connection` and must come out as the event it was built from.
Property-based over text with hostile Unicode (escape sequences, C0/C1, bidi controls, line
separators, invisible characters, astral characters). No sockets, milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selchat.server.protocol import NEED_DATA, Connection, Dialect
from selchat.wire import events as ev
from selchat.wire import requests as rq
from selchat.wire.notifications import decode, encode_json
from selchat.wire.schema import NOTIFICATION_FIELDS, PROTOCOL_VERSION, REQUEST_FIELDS, REQUEST_ID_MAX
from selchat.wire.text import clean
from selchat.wire.text_dialect import encode_text, refusal, text_line_reason

CONTRACT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = [
    "\x1b[31m", "\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "\x1b]8;;http://x\x1b\\", "\x1b(B", "\x1b", "\x9b31m",
    "\x9d0;t\x9c", "\x90q\x9c", "\x00", "\x07", "\x7f", "\x85", "\r", "\n", "\t", "\u202e", "\u202a",
    "\u2066", "\u2069", "\u2028", "\u2029", "\u200b", "\u200d", "\ufeff", "\u3164", "\u00ad", "🙂", "ß",
    "ǆ", "漢字", "\U000e0061", "{", '"', "\\", "*** ", "!!! error: ",
]
hostile_text = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE)), max_size=8).map("".join)
nick = hostile_text.filter(bool)
ts = st.one_of(st.none(), st.floats(min_value=0, max_value=4e9, allow_nan=False))
ts_sent = st.floats(min_value=0, max_value=4e9, allow_nan=False)  # the server always stamps
count = st.integers(min_value=0, max_value=10**6)
nicks = st.lists(nick, max_size=5).map(tuple)
line_id = st.one_of(st.none(), st.text(max_size=REQUEST_ID_MAX), st.integers(-10**9, 10**9))
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=10),
              st.floats(allow_nan=False, allow_infinity=False, width=32)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)
ping_id = json_value.filter(lambda v: len(json.dumps(v, ensure_ascii=False, separators=(",", ":"))) <= REQUEST_ID_MAX)

message = st.builds(ev.Message, nick, hostile_text, ts_sent, line_id, st.booleans())
action = st.builds(ev.Action, nick, hostile_text, ts_sent, line_id, st.booleans())
NOTIFICATIONS = {
    ev.Welcome: st.builds(ev.Welcome, server=hostile_text, mode=st.sampled_from(["chat", "echo", "upper"]),
                          nick=nick, users=nicks, user_count=count, max_line=st.integers(1, 10**6)),
    ev.Message: message,
    ev.Action: action,
    ev.Private: st.builds(ev.Private, nick, nick, hostile_text, ts_sent, line_id, st.booleans()),
    ev.Reply: st.builds(ev.Reply, hostile_text, line_id),
    ev.Joined: st.builds(ev.Joined, nick, ts_sent),
    ev.Left: st.builds(ev.Left, nick, hostile_text, ts_sent),
    ev.NickChanged: st.builds(ev.NickChanged, nick, nick, ts_sent),
    ev.Users: st.builds(ev.Users, nicks, count),
    ev.Presence: st.builds(ev.Presence, nicks, nicks, count, count, count),
    ev.History: st.builds(ev.History, st.lists(st.one_of(message, action), max_size=4).map(tuple)),
    ev.Notice: st.builds(ev.Notice, hostile_text, st.one_of(st.none(), st.sampled_from(["shutdown", "help", "idle"]))),
    ev.HelpText: st.builds(ev.HelpText, st.lists(hostile_text, max_size=4).map(tuple)),
    ev.Error: st.builds(ev.Error, st.sampled_from(["bad_request", "nick_in_use"]), hostile_text, line_id),
    ev.Ping: st.builds(ev.Ping, ping_id),
    ev.Pong: st.builds(ev.Pong, ping_id),
}


# Written out again on purpose, not imported: what must never reach a terminal, whatever `clean`
# says. C0 (tab included: the client shows spaces), DEL, C1, line separators, bidi controls.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def texts(event) -> list[str]:
    values = [getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "id"]
    return [v for v in values if isinstance(v, str)] + [n for v in values if isinstance(v, tuple) for n in v]


def shown(text):
    return clean(text, tab=" ") if isinstance(text, str) else text


def as_received(event) -> list:
    """What the client must decode from `event`: the same event, its text cleaned; History and
    HelpText are their lines on the wire; a private line's `confirmation` is not on the wire."""
    if isinstance(event, ev.History):
        return [line for x in event.events for line in as_received(x)]
    if isinstance(event, ev.HelpText):
        return [ev.Notice(shown(line), "help") for line in event.lines]
    if isinstance(event, ev.ChatLine):
        return [ev.ChatLine(event.kind, shown(event.sender), shown(event.text), event.ts, shown(event.to),
                            event.id, event.replay if event.kind != "private" else False)]
    changes = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, str) and field.name != "id":
            changes[field.name] = shown(value)
        elif isinstance(value, tuple):
            changes[field.name] = tuple(shown(v) for v in value)
    if isinstance(event, ev.Notice):
        changes["code"] = changes.get("code") or None
    return [dataclasses.replace(event, **changes)]


def test_every_notification_the_server_can_send_is_covered():
    assert set(NOTIFICATIONS) == set(typing.get_args(ev.Notification))


@CONTRACT
@given(st.one_of(*NOTIFICATIONS.values()))
def test_every_notification_decodes_to_the_event_the_server_sent(event):
    wire = encode_json(event)
    assert wire.endswith(b"\n") or wire == b""
    received = [decode(line) for line in wire.splitlines()]
    assert received == as_received(event)
    assert not [t for e in received for t in texts(e) if UNSAFE.search(t)]


@CONTRACT
@given(st.one_of(*NOTIFICATIONS.values()))
def test_every_notification_carries_only_the_schemas_fields(event):
    for line in encode_json(event).splitlines():
        obj = json.loads(line)
        assert set(obj) - {"type"} <= set(NOTIFICATION_FIELDS[obj["type"]]), obj
        if obj["type"] == "welcome":
            assert obj["protocol"] == PROTOCOL_VERSION


@CONTRACT
@given(st.one_of(*NOTIFICATIONS.values()))
def test_every_notification_renders_as_text_lines_the_client_can_read(event):
    """The text dialect for nc users: one line per wire line, never a JSON-looking one that a
    client reading the greeting could take for a notification."""
    data = encode_text(event)
    assert data == b"" or data.endswith(b"\n")
    for line in data.decode().split("\n")[:-1]:
        assert decode(line) is None or line.startswith("{")


@CONTRACT
@given(hostile_text.filter(lambda m: m.strip() and "\n" not in m and "\r" not in m))
def test_a_text_error_or_refusal_reads_back_as_its_reason(reason):
    """The refusal a server sends before it knows the dialect, and a text-dialect error, are what a
    client shows as the reason it was turned away (a server always gives one: never blank)."""
    expected = clean(reason.rstrip(), tab=" ")
    assert text_line_reason(refusal(reason)) == expected
    assert text_line_reason(encode_text(ev.Error("bad_request", reason))) == expected


# --- client -> server --------------------------------------------------------------------------

text = hostile_text.filter(bool)
client_id = st.text(min_size=1, max_size=REQUEST_ID_MAX)
REQUESTS = st.one_of(
    st.builds(lambda t, i: (rq.chat_request("message", t, i), ev.Say(t, i)), text, client_id),
    st.builds(lambda t, i: (rq.chat_request("action", t, i), ev.Act(t, i)), text, client_id),
    st.builds(lambda t, i, to: (rq.chat_request("private", t, i, to), ev.Whisper(to, t, i)), text, client_id, nick),
    st.builds(lambda n, i: (rq.nick_request(n, i), ev.SetNick(n, i)), nick, client_id),
    st.just((rq.who_request(), ev.Who())),
    st.builds(lambda i: (rq.ping_request(i), ev.Ping(i)), ping_id),
    st.builds(lambda i: (rq.pong_request(i), ev.Pong(i)), ping_id),
    st.builds(lambda r: (rq.quit_request(r), ev.Quit(r)), hostile_text),
)


def server_reads(data: bytes) -> list:
    conn = Connection()
    conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    assert conn.dialect is Dialect.JSON
    return out


@CONTRACT
@given(nick, st.text(max_size=30), st.one_of(st.none(), hostile_text), st.lists(REQUESTS, max_size=5))
def test_every_request_the_client_builds_is_parsed_by_the_server_into_that_event(nick, client, password, built):
    hello = rq.hello_request(nick, client, password)
    wire = rq.encode(hello) + b"".join(rq.encode(obj) for obj, _ in built)
    assert server_reads(wire) == [ev.Hello(PROTOCOL_VERSION, nick, password, client)] + [e for _, e in built]


@CONTRACT
@given(REQUESTS)
def test_every_request_object_carries_only_the_schemas_fields_and_encodes_from_its_event(pair):
    obj, event = pair
    assert set(obj) - {"type"} <= set(REQUEST_FIELDS[obj["type"]])
    assert rq.request_object(event) == obj and rq.encode(event) == rq.encode(obj)


def test_every_request_type_in_the_schema_has_a_builder_and_a_parser():
    built = {rq.request_object(e)["type"] for e in (
        ev.Hello(PROTOCOL_VERSION), ev.Say("x"), ev.Act("x"), ev.Whisper("b", "x"), ev.SetNick("n"), ev.Who(),
        ev.Ping(1), ev.Pong(1), ev.Quit())}
    assert built == set(REQUEST_FIELDS)
    for kind in REQUEST_FIELDS:
        assert not isinstance(rq.parse_json_request(json.dumps({"type": kind, "text": "x", "to": "b", "nick": "n",
                                                                "id": 1})), ev.Error), kind
