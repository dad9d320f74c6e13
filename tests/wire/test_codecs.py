"""The wire's codecs on their own: the JSON request parser, both dialects' notification encoders.

Moved from tests/server/test_protocol.py with the code (issue 10); the server-to-client and
client-to-server contract is tests/wire/test_roundtrip.py.
"""

import json

import pytest

from selchat.wire import events as ev
from selchat.wire.notifications import encode_json
from selchat.wire.requests import parse_json_request
from selchat.wire.text_dialect import encode_text


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
        ev.Welcome(server="selchat", mode="chat", nick="a", users=("a",), user_count=1, max_line=8192), ev.Message("a", "t", 0.0), ev.Action("a", "t", 0.0),
        ev.Private("a", "b", "t", 0.0), ev.Reply("t"), ev.Joined("a", 0.0), ev.Left("a", "quit", 0.0),
        ev.NickChanged("a", "b", 0.0), ev.Users(("a",), 1), ev.Presence(("a",), (), 1, 0, 101),
        ev.History(()), ev.Notice("n"), ev.HelpText(("h",)), ev.Error("c", "m"), ev.Ping(1), ev.Pong(1),
    ]
    for event in samples:
        assert isinstance(encode_text(event), bytes)
        for line in encode_json(event).splitlines():
            assert "type" in json.loads(line)

def strict_loads(data: bytes):
    """json.loads as strict parsers (JavaScript, Go, serde) see it: NaN and Infinity refused."""
    def refuse(name):
        raise ValueError(name)
    return json.loads(data, parse_constant=refuse)


@pytest.mark.parametrize("rid", [[1, 2], {"k": 1}, True, False, "x" * 128, 12.5, -3, [[]]])
def test_a_ping_id_may_be_any_json_value_and_comes_back_unchanged(rid):
    request = parse_json_request(json.dumps({"type": "ping", "id": rid}))
    assert request == ev.Ping(rid)
    assert strict_loads(encode_json(ev.Pong(request.id))) == {"type": "pong", "id": rid}


@pytest.mark.parametrize("rid", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_nan_and_infinity_are_refused_so_they_are_never_echoed(rid):
    for kind in ("ping", "message"):
        error = parse_json_request(f'{{"type":"{kind}","text":"x","id":{rid}}}')
        assert isinstance(error, ev.Error) and error.code == "bad_json"
        strict_loads(encode_json(error))


@pytest.mark.parametrize("line", [
    '{"type":"ping","id":' + "9" * 4000 + "}",
    '{"type":"ping","id":"' + "x" * 129 + '"}',
    '{"type":"ping","id":[' + ",".join(["1"] * 100) + "]}",
    '{"type":"message","text":"x","id":' + "9" * 129 + "}",
    '{"type":"message","text":"x","id":[1]}',
    '{"type":"message","text":"x","id":true}',
])
def test_ids_over_128_characters_or_of_the_wrong_kind_are_refused(line):
    error = parse_json_request(line)
    assert isinstance(error, ev.Error) and error.code == "bad_request"
