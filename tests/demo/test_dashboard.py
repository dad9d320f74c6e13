"""`selchat-server --dashboard`: Pilot drives the app against a real reactor on its own thread."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time

import pytest

from lineclient import LineClient, json_client
from selchat.server.chat import Mode, Room
from selchat.server.dashboard import (
    DashboardApp, LogCapture, LoopThread, RateMeter, TurnRecord, TurnRecorder, logging_routed_to,
)
from selchat.server.network import Reactor
from selchat.server.service import Service


@pytest.fixture
def server():
    """A reactor and service listening on loopback, not yet running: the dashboard runs it."""
    reactor = Reactor()
    service = Service(reactor, Room(Mode.CHAT, server_name="selchat test"))
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()[:2]
    reactor.listen(listener, service.make_session)
    yield reactor, service, address
    reactor.call_soon_threadsafe(reactor.stop)  # in case a test failed before quitting


async def until(predicate, what: str, timeout: float = 10.0) -> None:
    """Let the app run until `predicate()` holds (plain sleeps: it also works once the app exits)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def nicks_in_table(app: DashboardApp) -> set[str]:
    return {str(cell) for cell in app.query_one("#connections").get_column("nick")}


def panel_text(app: DashboardApp, selector: str) -> str:
    return "\n".join(strip.text for strip in app.query_one(selector).lines)


async def test_dashboard_shows_connections_turns_and_shuts_the_server_down(server, caplog):
    caplog.set_level(logging.INFO)
    reactor, service, address = server
    capture = LogCapture()
    app = DashboardApp(reactor, service, log_capture=capture)
    with logging_routed_to(capture):
        async with app.run_test(size=(120, 36)):
            alice, _ = json_client(address, "alice")
            bob = LineClient(address)
            bob.send_line("/nick bob")
            bob.expect("is now known as bob")
            await until(lambda: nicks_in_table(app) == {"alice", "bob"}, "both nicks in the table")
            stats = str(app.query_one("#stats").render())
            assert "connections 2" in stats and f"backend {reactor.backend}" in stats

            alice.send_json({"type": "message", "text": "hi"})
            bob.expect("<alice> hi")
            await until(lambda: "read [" in panel_text(app, "#turns") and ":alice]" in panel_text(app, "#turns"),
                        "alice's turn in the ready-set log")

            await app.run_action("shutdown")
            await until(lambda: app.return_code is not None, "the dashboard to exit after the server stopped")
            assert not app.loop_thread.is_alive()
            assert "shutting down" in "\n".join(line for _, line in capture.lines) + panel_text(app, "#log")
    assert app.return_code == 0
    assert alice.expect_json("notice", code="shutdown")
    assert bob.expect(r"\*\*\* server shutting down")
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()
    alice.close()
    bob.close()


def test_turn_records_read_like_the_trace():
    record = TurnRecord(1, 42, ((5, "alice"), (7, "bob")), ((6, "carol"),))
    assert record.describe() == "turn 42: read [5:alice 7:bob] write [6:carol]"
    assert TurnRecord(2, 43, ((5, "alice"),), ()).describe() == "turn 43: read [5:alice] write [-]"
    assert record.styled().plain == record.describe()


def test_the_recorder_is_bounded_and_counts_what_it_dropped():
    class FakeReactor:
        turns = 0

    reactor = FakeReactor()
    recorder = TurnRecorder(reactor, keep=3)
    for turn in range(1, 11):
        reactor.turns = turn
        recorder([], [])
    records, dropped = recorder.drain()
    assert [r.turn for r in records] == [8, 9, 10] and dropped == 7
    reactor.turns = 11
    recorder([], [])
    assert [r.turn for r in recorder.drain()[0]] == [11]
    assert recorder.drain() == ([], 0)


def test_rate_meter_spans_about_a_second():
    meter = RateMeter(window=1.0)
    assert meter.sample(0, 100.0) == 0.0
    assert meter.sample(50, 100.5) == pytest.approx(100.0)
    assert meter.sample(100, 101.0) == pytest.approx(100.0)
    assert meter.sample(100, 102.0) == pytest.approx(0.0)


def test_logging_is_routed_and_restored():
    root = logging.getLogger()
    before = root.handlers[:]
    capture = LogCapture()
    with logging_routed_to(capture):
        logging.getLogger("selchat.server").warning("careful")
    assert root.handlers == before
    assert [line.endswith("WARNING careful") for _, line in capture.lines] == [True]
    assert list(capture.warnings)[0].endswith("careful")


def test_a_crash_of_the_loop_thread_is_reported_even_with_signal_handlers_installed():
    # The CLI installs signal handlers (on the main thread) before the dashboard runs the loop on
    # another thread; the loop's error must come through, not an error about the wakeup fd.
    reactor = Reactor()
    previous = signal.getsignal(signal.SIGUSR1)
    reactor.add_signal_handler(signal.SIGUSR1, lambda signum: None)
    try:
        def boom(timeout=None) -> None:
            raise RuntimeError("boom")

        # (A callback's bug is contained by the loop and only logged; what crashes the loop
        # itself is the selector failing.)
        reactor.selector.select = boom
        thread = LoopThread(reactor)
        thread.start()
        thread.join(5)
        assert isinstance(thread.crash, RuntimeError) and str(thread.crash) == "boom"
    finally:
        reactor.release_signals()
        signal.signal(signal.SIGUSR1, previous)


def table_screen_text(app: DashboardApp) -> str:
    """The connections table as drawn on screen (not the cell values, which markup would hide)."""
    table = app.query_one("#connections")
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_nicks_are_shown_literally_not_as_markup(server):
    reactor, service, address = server
    app = DashboardApp(reactor, service, log_capture=LogCapture())
    with logging_routed_to(app.log_capture):
        async with app.run_test(size=(120, 36)):
            italic = LineClient(address)
            italic.send_line("/nick [i]alice")
            italic.expect(r"is now known as \[i\]alice")
            bold = LineClient(address)
            bold.send_line("/nick [b]")
            bold.expect(r"is now known as \[b\]")
            await until(lambda: "[i]alice" in table_screen_text(app) and "[b]" in table_screen_text(app),
                        "both nicks drawn as typed")
            await app.run_action("shutdown")
            await until(lambda: app.return_code is not None, "the dashboard to exit")
    italic.close()
    bold.close()
