"""The resume fields on the wire: `since` and `session` in hello, `sid` on room events."""

import json

import pytest

from selchat.wire import events as ev
from selchat.wire.notifications import decode
from selchat.wire.requests import encode, hello_request, parse_json_request
from selchat.wire.resume import sid_after


def test_a_hello_with_since_and_session_parses_back():
    line = encode(hello_request("al", "t", since=("e1", "0-7"), session="s1")).decode()
    hello = parse_json_request(line)
    assert (hello.since, hello.session) == (("e1", "0-7"), "s1")


@pytest.mark.parametrize("since", [5, "x", {"epoch": "e"}, {"epoch": "e", "sid": "7"},
                                   {"epoch": "", "sid": "0-1"}, {"epoch": "e", "sid": "-1-2"},
                                   {"epoch": "e" * 65, "sid": "0-1"}, {"epoch": "e", "sid": "²-1"},
                                   {"epoch": "e", "sid": "1-٣"}])
def test_a_malformed_since_is_a_bad_request(since):
    got = parse_json_request(json.dumps({"type": "hello", "protocol": 1, "since": since}))
    assert isinstance(got, ev.Error) and got.code == "bad_request"


def test_a_sid_that_is_not_one_is_dropped_by_the_decoder():
    assert decode('{"type":"message","from":"a","text":"x","sid":"0-3"}').sid == "0-3"
    assert decode('{"type":"message","from":"a","text":"x","sid":"zz"}').sid is None
    assert decode('{"type":"join","nick":"a","sid":5}').sid is None


def test_a_sid_of_non_ascii_digits_is_not_a_sid():
    # str.isdigit() says yes to "²" and "٣" (int() refuses the first and reads the second).
    from selchat.wire.resume import parse_sid

    assert parse_sid("²-1") is None and parse_sid("1-٣") is None and parse_sid("12-3") == (12, 3)


def test_sids_compare_as_numbers_not_strings():
    assert sid_after("1700000000000-10", "1700000000000-9")
    assert sid_after("0-10", "0-9") and not sid_after("0-9", "0-10")
    assert not sid_after("junk", "0-1")
