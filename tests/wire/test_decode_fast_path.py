"""The client's decoder takes a shortcut for the usual line (a JSON object, printable text);
every other line must decode exactly as `json.loads` and the careful field rules would have it."""

import json

import pytest

from selchat.wire import events as ev
from selchat.wire.notifications import decode

MESSAGE = {"type": "message", "from": "bob", "text": "hi", "ts": 1.5, "sid": "0-7"}


@pytest.mark.parametrize("line", [
    json.dumps(MESSAGE),
    "  " + json.dumps(MESSAGE),  # whitespace around a value is JSON
    json.dumps(MESSAGE) + " \t",
    json.dumps(MESSAGE).encode(),  # bytes: a line that was not valid UTF-8 as a whole read
])
def test_a_message_decodes_the_same_however_it_is_padded(line):
    assert decode(line) == ev.ChatLine("message", "bob", "hi", 1.5, sid="0-7")
    assert decode(line).sid == "0-7"


@pytest.mark.parametrize("line", [
    json.dumps(MESSAGE) + json.dumps(MESSAGE),  # two values on one line
    json.dumps(MESSAGE) + " x",
    '{"type": "message", "from": "bob",',
    "{",
    "{}" + "]",
    "*** welcome to selchat",  # a text-dialect greeting before welcome
    "",
])
def test_a_line_json_loads_refuses_decodes_to_nothing(line):
    with pytest.raises(ValueError):
        json.loads(line)
    assert decode(line) is None


def test_text_with_control_characters_is_still_cleaned_and_tabs_become_spaces():
    line = json.dumps({**MESSAGE, "from": "bo\x1b[31mb", "text": "a\tb\x07c\x1b]0;title\x07d"})
    event = decode(line)
    assert (event.sender, event.text) == ("bob", "a bcd")


def test_fields_of_the_wrong_type_are_made_text_or_dropped():
    event = decode(json.dumps({**MESSAGE, "from": 42, "text": None, "id": True, "ts": "x"}))
    assert (event.sender, event.text, event.id, event.ts) == ("42", "", None, None)


@pytest.mark.parametrize("sid", ["²-1", "1-²", "1", "a-1", 7, None, "1-2-3"])
def test_a_sid_that_is_not_one_is_dropped_not_raised(sid):
    assert decode(json.dumps({**MESSAGE, "sid": sid})).sid is None
