"""room_log: key names, stream entries in and out; damaged entries are skipped, never raised."""

import pytest

from selchat.server.cluster.room_log import (
    RoomKeys, StreamEvent, decode_entries, decode_entry, decode_xread, event_fields, parse_sid,
    sid_after,
)


def test_every_key_of_a_room_shares_its_hash_tag():
    keys = RoomKeys("lobby")
    names = [keys.log, keys.epoch, keys.nodes, keys.nicks, keys.node_members("A"),
             keys.inbox("A"), keys.posted("s:1")]
    assert all(name.startswith("selchat:{lobby}:") for name in names)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("room", ["", "a b", "{x}", "a\nb"])
def test_room_names_that_would_break_keys_are_refused(room):
    with pytest.raises(ValueError):
        RoomKeys(room)


def test_an_event_round_trips_through_its_field_list():
    fields = event_fields("message", nick="alice", text="hi there", node="A", session="s1",
                          request_id="r7", ts=1700000000123)
    assert fields[:2] == ["k", "message"]
    event = decode_entry(b"1-2", [f.encode() for f in fields])
    assert event == StreamEvent(sid="1-2", kind="message", nick="alice", text="hi there", node="A",
                                session="s1", request_id="r7", ts=1700000000123)


def test_empty_values_are_left_out_of_the_entry():
    assert event_fields("join", nick="al", text="", ts=0) == ["k", "join", "n", "al"]


def test_unknown_kinds_and_fields_are_refused_when_encoding():
    with pytest.raises(ValueError):
        event_fields("shout", nick="al")
    with pytest.raises(ValueError):
        event_fields("message", colour="red")


@pytest.mark.parametrize("sid, fields", [
    (b"1-1", [b"k", b"message", b"n"]),  # odd field list
    (b"1-1", [b"k", b"shout", b"n", b"al"]),  # unknown kind
    (b"1-1", [b"n", b"al"]),  # no kind
    (b"1-1", [b"k", b"message"]),  # no nick
    (b"1-1", [b"k", b"epoch"]),  # epoch without its id
    (b"x", [b"k", b"join", b"n", b"al"]),  # not a stream id
    (b"1-1", [b"k", 5, b"n", b"al"]),  # not a string
    (b"1-1", b"k message"),  # not a list
])
def test_a_damaged_entry_decodes_to_none(sid, fields):
    assert decode_entry(sid, fields) is None


def test_bad_text_and_bad_timestamps_are_tolerated():
    event = decode_entry(b"1-1", [b"k", b"message", b"n", b"al", b"t", b"\xff", b"ts", b"soon"])
    assert event.text == "\ufffd" and event.ts == 0


def test_decode_entries_keeps_the_valid_ones_in_order():
    entries = [[b"1-1", [b"k", b"join", b"n", b"a"]], [b"1-2", [b"junk"]], "nonsense",
               [b"1-3", [b"k", b"leave", b"n", b"a"]]]
    assert [e.sid for e in decode_entries(entries)] == ["1-1", "1-3"]


def test_decode_xread_reads_past_damaged_entries():
    reply = [[b"selchat:{r}:log", [[b"5-0", [b"k", b"join", b"n", b"a"]], [b"6-0", [b"bad"]]]],
             [b"selchat:{r}:inbox:A", []], "garbage"]
    streams = decode_xread(reply)
    last, events = streams["selchat:{r}:log"]
    assert last == "6-0" and [e.sid for e in events] == ["5-0"]
    assert streams["selchat:{r}:inbox:A"] == (None, [])
    assert decode_xread(None) == {}


def test_stream_ids_compare_as_numbers():
    assert parse_sid("10-2") == (10, 2) and parse_sid("10") is None and parse_sid("a-1") is None
    assert sid_after("10-0", "9-5") and sid_after("9-10", "9-9") and not sid_after("9-9", "9-9")


def test_a_sid_with_digits_that_are_not_ascii_is_skipped_not_raised():
    assert decode_entry("²-1", ["k", "join", "n", "al"]) is None
    assert parse_sid("1-٣") is None
    reply = [["selchat:{r}:log", [["²-1", ["k", "join", "n", "a"]], ["7-0", ["k", "join", "n", "b"]]]]]
    last, events = decode_xread(reply)["selchat:{r}:log"]
    assert last == "7-0" and [e.nick for e in events] == ["b"]


def test_entries_a_decoding_link_hands_over_as_str_decode_as_the_bytes_ones():
    fields = event_fields("message", nick="alice", text="hé", node="A", session="s1",
                          request_id="r7", ts=1700000000123)
    as_bytes = decode_entry(b"1-2", [f.encode() for f in fields])
    assert decode_entry("1-2", fields) == as_bytes
    assert decode_entry("1-2", ["k", "message", "n", "al", "t", 5]) is None  # not all text
    assert decode_entry("1-2", ["k", "message", b"n", b"al"]).nick == "al"  # mixed: decoded
