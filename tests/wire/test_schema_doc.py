"""docs/protocol.md and `selchat.wire.schema` say the same: the error codes, the request types and
fields, the notification types and fields, the notice codes, the version and the default limit.

The encoders and parsers are held to the schema by tests/wire/test_roundtrip.py, and the codes the
server emits to the schema by tests/reliability/test_fuzz.py: together, the document cannot fall
behind the code unnoticed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from selchat.wire.schema import (
    DEFAULT_MAX_LINE, ERROR_CODES, NOTICE_CODES, NOTIFICATION_FIELDS, PROTOCOL_VERSION, REQUEST_FIELDS,
    REQUEST_ID_MAX,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text under a heading, up to the next heading of any level."""
    body = DOC.split(title + "\n", 1)[1]
    return re.split(r"^#{1,6} ", body, maxsplit=1, flags=re.MULTILINE)[0]


def table_keys(text: str) -> list[str]:
    """The `code` in each table row's first cell."""
    return re.findall(r"^\|\s*`([a-z_]+)`\s*\|", text, re.MULTILINE)


def json_examples(text: str) -> list[dict]:
    return [json.loads(line) for line in re.findall(r"^[←→]?\s*(\{.*\})\s*$", text, re.MULTILINE)]


def test_the_error_codes_table_is_the_schemas():
    assert set(table_keys(section("### Error codes"))) == ERROR_CODES


def test_the_client_to_server_table_is_the_schemas():
    rows = section("### Client → server")
    documented = set(table_keys(rows))
    assert documented | {"hello"} == set(REQUEST_FIELDS)
    for kind in documented:
        row = re.search(rf"^\|\s*`{kind}`\s*\|([^|]*)\|", rows, re.MULTILINE).group(1)
        assert set(re.findall(r"`([a-z_]+)`", row)) <= set(REQUEST_FIELDS[kind]), kind
    hello = json_examples(section("### Negotiation"))[0]
    assert hello["type"] == "hello" and set(hello) - {"type"} == set(REQUEST_FIELDS["hello"])


def test_the_server_to_client_examples_are_the_schemas():
    examples = json_examples(section("### Server → client")) + json_examples(section("### Negotiation"))[1:]
    assert {e["type"] for e in examples} == set(NOTIFICATION_FIELDS)
    for example in examples:
        assert set(example) - {"type"} <= set(NOTIFICATION_FIELDS[example["type"]]), example
    welcome = next(e for e in examples if e["type"] == "welcome")
    assert welcome["protocol"] == PROTOCOL_VERSION and welcome["max_line"] == DEFAULT_MAX_LINE
    assert set(welcome) - {"type"} == set(NOTIFICATION_FIELDS["welcome"])


def test_the_notice_codes_are_the_schemas():
    line = re.search(r"^- `notice` codes:(.*?)(?=^\S|^- |\Z)", section("### Server → client"),
                     re.MULTILINE | re.DOTALL).group(1)
    assert set(re.findall(r"`([a-z_]+)` \(", line)) == NOTICE_CODES


def test_the_id_limit_is_the_schemas():
    assert f"at most {REQUEST_ID_MAX} characters" in section("### Client → server")
