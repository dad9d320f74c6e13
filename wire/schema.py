"""The wire's constants: what docs/protocol.md's tables list, in one place for both sides.

tests/wire/test_schema_doc.py checks these against the document, and the contract test checks
the encoders and parsers against these.
"""

from __future__ import annotations

# The dialect version this package speaks; a hello with another is refused.
PROTOCOL_VERSION = 1
# The longest line a server takes unless started with another --max-line (welcome.max_line says).
DEFAULT_MAX_LINE = 8192
# A JSON client must send its hello within this many seconds of connecting, or it is greeted as
# a text user first (the late hello still switches it to JSON).
HELLO_GRACE = 0.3
# An id is at most this many characters: a string's own length, any other value's as compact JSON.
REQUEST_ID_MAX = 128

# Client -> server: each request type and the fields it may carry ("id" where it is echoed).
REQUEST_FIELDS: dict[str, tuple[str, ...]] = {
    "hello": ("protocol", "nick", "client", "password", "since", "session"),
    "message": ("text", "id"),
    "action": ("text", "id"),
    "private": ("to", "text", "id"),
    "nick": ("nick", "id"),
    "who": ("id",),
    "ping": ("id",),
    "pong": ("id",),
    "quit": ("reason",),
}

# Server -> client: each notification type and the fields it may carry.
NOTIFICATION_FIELDS: dict[str, tuple[str, ...]] = {
    "welcome": ("protocol", "server", "mode", "nick", "users", "user_count", "max_line", "epoch", "session"),
    "message": ("from", "text", "ts", "id", "replay", "sid"),
    "action": ("from", "text", "ts", "id", "replay", "sid"),
    "private": ("from", "to", "text", "ts", "id", "sid"),
    "reply": ("text", "id"),
    "join": ("nick", "ts", "sid"),
    "leave": ("nick", "reason", "ts", "sid"),
    "nick": ("old", "new", "ts", "sid"),
    "users": ("users", "user_count"),
    "presence": ("joined", "left", "joined_count", "left_count", "user_count"),
    "notice": ("text", "code"),
    "error": ("code", "message", "id"),
    "ping": ("id",),
    "pong": ("id",),
}

# Every `error.code` the server sends (docs/protocol.md, "Error codes").
ERROR_CODES = frozenset({
    "line_too_long", "bad_json", "bad_request", "unknown_type", "unknown_command",
    "unsupported_protocol", "unsupported_in_mode", "bad_nick", "nick_in_use", "no_such_nick",
    "empty_message", "auth_required", "bad_password", "unavailable",
})

# Every `notice.code` (docs/protocol.md, "notice codes"); a notice may also have none.
NOTICE_CODES = frozenset({"shutdown", "throttled", "idle", "auth_required", "help", "history_gap",
                          "history_reset", "paused", "resumed", "nick_lost"})
