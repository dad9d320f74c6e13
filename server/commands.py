"""The text dialect's slash commands live in `selchat.wire.commands`; re-exported here."""

from selchat.wire.commands import HELP_LINES, parse_line  # noqa: F401
