"""Deterministic screens for snapshot tests and the README screenshot.

No network: the app is built with `autoconnect=False` and fed events directly, with a fixed
clock, nick and port, so the pictures are the same on every machine.
"""

from __future__ import annotations

from selchat.client.app import SelchatApp
from selchat.client.session import (
    ChatLine, ConnectionState, Joined, LagMeasured, Left, NickChanged, ServerError, StatusChanged,
    Welcome,
)

HOST, PORT, NICK = "127.0.0.1", 8081, "alice"
T0 = 1764187200.0  # any fixed moment; timestamps are drawn by `fixed_clock`


def fixed_clock(ts: float | None) -> str:
    """HH:MM from the minutes since T0, so no time zone or real clock is involved."""
    minutes = int(((ts or T0 + 450) - T0) // 60)  # no ts: "now", just after the last line
    return f"{12 + minutes // 60:02d}:{minutes % 60:02d}"


def make_app(**options) -> SelchatApp:
    return SelchatApp(HOST, PORT, NICK, autoconnect=False, timestamp=fixed_clock, **options)


def status(state: ConnectionState, **kwargs) -> StatusChanged:
    return StatusChanged(state, HOST, PORT, **kwargs)


CONVERSATION = [
    Welcome(nick=NICK, mode="chat", users=(NICK, "bob", "carol"), user_count=3, server="selchat 0.1.0"),
    ChatLine("message", "bob", "morning all", T0 + 60, replay=True),
    ChatLine("message", "carol", "hi bob! did the server restart go ok?", T0 + 120),
    ChatLine("message", "bob", "yes, the clients reconnected by themselves", T0 + 180),
    Joined("dave", T0 + 240),
    ChatLine("action", "dave", "waves", T0 + 250),
    NickChanged("dave", "dave_away", T0 + 300),
    ChatLine("message", "carol", "someone pasted [bold red]this[/] and it shows literally", T0 + 360),
    ChatLine("private", "bob", "lunch later?", T0 + 400, to=NICK),
    Left("dave_away", "quit: bye", T0 + 420),
    ServerError("nick_in_use", 'nick "Bob" is in use'),
]


async def feed(app: SelchatApp, events, pilot) -> None:
    """Hand events to the app as the network worker would, and let it render them."""
    while not app.chat_screen.ready:  # before the mount, events wait in the backlog and would be
        await pilot.pause()           # drawn after a line the scene sends next: wait, as a user would
    session = app.client.session
    out = []
    for event in events:
        if isinstance(event, Welcome):
            session.on_welcome(event)
            out.append(event)
        elif isinstance(event, (StatusChanged, LagMeasured)):
            out.append(event)
        else:
            out.extend(session.apply(event))
    app.deliver(out)
    await pilot.pause()


async def connected_scene(pilot) -> None:
    app = pilot.app
    await feed(app, [status(ConnectionState.CONNECTED), *CONVERSATION, LagMeasured(0.004)], pilot)
    app.send_outgoing("message", "yes please, 12:30?")
    line = next(iter(app.client.session.outbox.values()))
    await feed(app, [ChatLine("message", NICK, line.text, T0 + 430, id=line.id)], pilot)
    app.send_outgoing("message", "and this one is still on its way")
    await pilot.pause()


async def reconnecting_scene(pilot) -> None:
    app = pilot.app
    await feed(app, [status(ConnectionState.CONNECTED), *CONVERSATION[:4]], pilot)
    app.client.session.connection_lost()
    await feed(app, [status(ConnectionState.RECONNECTING, attempt=3, retry_in=4.0,
                            reason="connection refused")], pilot)
    app.send_outgoing("message", "typed while the server was down")
    await pilot.pause()


async def disconnected_scene(pilot) -> None:
    app = pilot.app
    await feed(app, [status(ConnectionState.DISCONNECTED, reason="bad port 99999: must be 1-65535")],
               pilot)
