"""Under load (issue 13, defects 4 and 5): the screen takes the network's events a frame at a
time, skips (and counts) what it could never show, and notes every lost connection.

Fed through the network layer's own callback (`client.on_event`), as `ChatClient` would, with no
server; the whole-system figures are in `selchat.bench.tui`, not here.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from textual import events

import scenes
from conftest import log_text, wait_until
from selchat.client import app as app_module
from selchat.client.session import ChatLine, ConnectionState, Welcome

T0 = scenes.T0


def flood(start: int, end: int) -> list[ChatLine]:
    return [ChatLine("message", "bob", f"flood {n:06d}", T0) for n in range(start, end)]


async def test_a_burst_beyond_the_log_is_skipped_with_a_count_and_the_drop_is_noted():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        emit = app.client.on_event
        emit(scenes.status(ConnectionState.CONNECTED))
        emit(Welcome(nick=scenes.NICK, mode="chat", users=(scenes.NICK, "bob"), user_count=2, server="selchat"))
        for event in flood(0, 30_000):
            emit(event)
        # Lost and regained between two frames: the log must still say so.
        emit(scenes.status(ConnectionState.RECONNECTING, attempt=1, retry_in=0.5,
                           reason="server closed the connection"))
        emit(scenes.status(ConnectionState.CONNECTING, attempt=1))
        emit(scenes.status(ConnectionState.CONNECTED))
        for event in flood(30_000, 30_010):
            emit(event)
        await wait_until(pilot, lambda: app.log_view.plain_lines()[-1:] != []
                         and app.log_view.plain_lines()[-1].endswith("flood 030009"),
                         what="the last line")
        text = log_text(app)
        assert "not connected, will keep trying: server closed the connection" in text
        assert "lines skipped" in text
        skipped = app.backlog.skipped_total
        assert skipped >= 30_000 - 5000
        shown = [line for line in app.log_view.plain_lines() if "flood" in line]
        # Every line that was not skipped is shown, in order, up to the end.
        numbers = [int(line.rsplit(" ", 1)[1]) for line in shown]
        assert numbers == sorted(numbers) and numbers[-1] == 30_009
        assert len(numbers) + skipped == 30_010 or numbers[0] > 0
        assert app.status_bar.status.state is ConnectionState.CONNECTED


async def test_each_frame_draws_within_its_budget_so_keys_get_their_turn(monkeypatch):
    """A 20,000-line burst is drawn over several frames, never in one go, and a key typed in
    the middle of it lands before the burst is all drawn."""
    frames: list[int] = []
    real_drain = app_module.drain

    def counting_drain(backlog, deliver, clock, budget, chunk=50):
        delivered = real_drain(backlog, deliver, clock, budget, chunk)
        frames.append(delivered)
        return delivered

    monkeypatch.setattr(app_module, "drain", counting_drain)
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        emit = app.client.on_event
        emit(scenes.status(ConnectionState.CONNECTED))
        emit(Welcome(nick=scenes.NICK, mode="chat", users=(scenes.NICK, "bob"), user_count=2, server="selchat"))
        typed_while_behind: list[int] = []
        app.chat_input.watch(app.chat_input, "value",
                             lambda value: typed_while_behind.append(len(app.backlog)), init=False)
        for event in flood(0, 5000):
            emit(event)
        key = events.Key("x", "x")
        key.set_sender(app)
        app._driver.send_message(key)  # as a terminal read would, without waiting for idle
        await wait_until(pilot, lambda: app.chat_input.value == "x", what="the key")
        assert typed_while_behind and typed_while_behind[0] > 0, \
            "the whole burst was drawn before the key was handled"
        await wait_until(pilot, lambda: not app.backlog and "flood 004999" in
                         (app.log_view.plain_lines() or [""])[-1], what="the last line")
        assert len(frames) > 1 and max(frames) < 5000


async def test_an_idle_client_has_no_blinking_cursor_to_repaint():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)):
        assert app.chat_input.cursor_blink is False


async def test_events_still_waiting_in_the_backlog_are_drawn_before_a_later_batch():
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)) as pilot:
        app.backlog.extend(flood(0, 3))  # as if they came before the screen was up
        app.deliver(flood(3, 5))
        await pilot.pause()
        assert [line.rsplit(" ", 1)[1] for line in app.log_view.plain_lines()] == \
            ["000000", "000001", "000002", "000003", "000004"]


async def test_the_end_of_a_burst_is_noticed_without_waiting_out_the_frame(monkeypatch):
    """While lines keep arriving the pump waits a whole frame between slices; once they stop it
    draws what is left straight away (the last line of a burst shows sooner)."""
    # A quiet spell long enough that a loaded test machine never makes one up between two lines.
    monkeypatch.setattr(app_module, "QUIET_AFTER", 0.25)
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)):
        # Nothing arriving: quiet at once, not after the hour asked for (wait_for only guards a hang).
        assert await asyncio.wait_for(app._still_coming(3600), 30) is False

        async def trickle(stop: asyncio.Event) -> None:
            n = 0
            while not stop.is_set():
                app.client.on_event(ChatLine("message", "bob", f"t {n}", T0))
                n += 1
                await asyncio.sleep(0.005)

        stop = asyncio.Event()
        feeder = asyncio.create_task(trickle(stop))
        try:
            assert await app._still_coming(2 * app_module.QUIET_AFTER) is True
        finally:
            stop.set()
            await feeder


async def test_the_gil_is_handed_to_the_key_and_screen_threads_sooner_than_python_would():
    """Textual reads keys and writes the screen in threads; with the loop thread busy all through
    a burst, each hand-over of the GIL took Python's default 5 ms (key echo p99 over 100 ms)."""
    before = sys.getswitchinterval()
    assert before == pytest.approx(0.005)  # Python's default, untouched by earlier tests
    app = scenes.make_app()
    async with app.run_test(size=(100, 24)):
        assert sys.getswitchinterval() == pytest.approx(0.001)
    assert sys.getswitchinterval() == before  # given back: the setting is process-wide
