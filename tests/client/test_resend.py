"""A line whose server copy is late is sent again only on the next connection, never on the one
it went out on (tui-review R: after a 20 s server stall one line reached another user twice).

The client's half of at-least-once delivery: while the server is silent the session pings and at
last hangs up, but it never writes a line twice on one connection.  The line that was in flight
goes out once more after the reconnect, with the same id, so a server can drop the repeat.
"""

import json

from selchat.client.session import ClientSession, encode


def hello_and_welcome(session: ClientSession, now: float) -> bytes:
    data = session.connection_made(now)
    step = session.receive(encode({"type": "welcome", "protocol": 1, "nick": "xa", "mode": "chat",
                                   "users": ["xa", "xb"], "user_count": 2}), now)
    return data + step.data


def sent_lines(data: bytes) -> list[dict]:
    return [m for m in map(json.loads, data.splitlines()) if m.get("type") == "message"]


def test_a_late_line_goes_out_once_per_connection_with_the_same_id():
    session = ClientSession("xa")
    hello_and_welcome(session, 0.0)
    line, data = session.send("message", "typed during the freeze 1")
    assert [m["id"] for m in sent_lines(data)] == [line.id]

    # The server freezes: the session only pings, until it calls the connection dead.
    now, written = 0.0, b""
    while (when := session.next_timer()) is not None and now < 60:
        now = when
        step = session.tick(now)
        written += step.data
        if step.hang_up:
            break
    assert step.hang_up, "a silent server is given up on"
    assert sent_lines(written) == []  # no re-send on the stalled connection
    session.connection_lost(None)

    again = hello_and_welcome(session, now + 1)
    assert [(m["id"], m["text"]) for m in sent_lines(again)] == [(line.id, line.text)]
