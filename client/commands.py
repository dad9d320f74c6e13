"""What a line typed into the input means: a chat line or one of the slash commands.

Pure parsing, so the app only has to carry out the result and the tests need no terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HELP = [
    ("/nick NAME", "change your nick"),
    ("/msg NICK TEXT", "send a private message"),
    ("/me ACTION", "send an action (* you wave)"),
    ("/who", "list the users here"),
    ("/pass", "enter the server password (hidden)"),
    ("/clear", "clear the conversation"),
    ("/quit [REASON]", "leave and close selchat"),
    ("/help", "show this help"),
    ("//text", "send a line that starts with /"),
]


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Act:
    text: str


@dataclass(frozen=True)
class Whisper:
    to: str
    text: str


@dataclass(frozen=True)
class ChangeNick:
    nick: str


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Quit:
    reason: str = ""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Password:
    """`/pass` alone opens a hidden prompt; `/pass SECRET` gives it at once (never kept in history)."""

    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Invalid:
    """A command used wrongly or unknown; `message` tells the user what to type instead."""

    message: str


Command = Say | Act | Whisper | ChangeNick | Who | Clear | Quit | Help | Password | Invalid


def parse(line: str) -> Command | None:
    """Parse one typed line; None for a blank line (nothing to do)."""
    if not line.strip():
        return None
    if line.startswith("//"):
        return Say(line[1:])
    if not line.startswith("/"):
        return Say(line)
    name, _, rest = line[1:].partition(" ")
    name, rest = name.lower(), rest.strip()
    if name == "me":
        return Act(rest) if rest else Invalid("usage: /me ACTION")
    if name == "msg":
        to, _, text = rest.partition(" ")
        return Whisper(to, text.strip()) if to and text.strip() else Invalid("usage: /msg NICK TEXT")
    if name == "nick":
        return ChangeNick(rest) if rest and " " not in rest else Invalid("usage: /nick NAME")
    if name == "who":
        return Who()
    if name == "clear":
        return Clear()
    if name in ("quit", "exit"):
        return Quit(rest)
    if name == "help":
        return Help()
    if name in ("pass", "password"):
        return Password(line[1:].partition(" ")[2].strip("\r\n"))
    return Invalid(f"unknown command /{name} (try /help)")
