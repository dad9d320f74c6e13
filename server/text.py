"""The rules for untrusted text live in `selchat.wire.text` (one `clean` for server and client,
and the nick rules both validate by); re-exported here under the names the server uses."""

from selchat.wire.text import NICK_MAX, clean, is_valid_nick, nick_key  # noqa: F401
