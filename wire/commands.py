"""The text dialect's slash commands: one typed line in, one request event out."""

from __future__ import annotations

from . import events as ev

HELP_LINES = (
    "commands:",
    "  /nick NAME       change your nick",
    "  /who             list the users here",
    "  /me ACTION       send an action (* you wave)",
    "  /msg NICK TEXT   private message",
    "  /ping            check the server answers",
    "  /quit [REASON]   leave",
    "  /help            this list",
    "  /pass PASSWORD   log in, on a server that has a password",
    "  //text           send a line that starts with /",
)


def _nick(arg: str):
    if not arg or " " in arg:
        return ev.Error("bad_request", "usage: /nick NAME")
    return ev.SetNick(arg)


def _me(arg: str):
    return ev.Act(arg) if arg else ev.Error("bad_request", "usage: /me ACTION")


def _msg(arg: str):
    to, _, text = arg.partition(" ")
    text = text.strip()
    if not to or not text:
        return ev.Error("bad_request", "usage: /msg NICK TEXT")
    return ev.Whisper(to, text)


_COMMANDS = {
    "nick": _nick,
    "who": lambda arg: ev.Who(),
    "names": lambda arg: ev.Who(),
    "me": _me,
    "msg": _msg,
    "ping": lambda arg: ev.Ping(),
    "quit": lambda arg: ev.Quit(arg),
    "help": lambda arg: ev.Help(),
    "pass": lambda arg: ev.Authenticate(arg) if arg else ev.Error("bad_request", "usage: /pass PASSWORD"),
}


def parse_line(line: str):
    """A text user's line as a request: `Say` for plain text, else what the command asks for.

    Returns None for a blank line (people press Enter on an empty prompt; that is not an error).
    """
    if not line.startswith("/"):
        return ev.Say(line) if line.strip() else None
    if line.startswith("//"):
        return ev.Say(line[1:])
    name, _, arg = line[1:].partition(" ")
    handler = _COMMANDS.get(name.lower())
    if handler is None:
        return ev.Error("unknown_command", f"unknown command /{name[:32]} (try /help)")
    return handler(arg.strip())
