"""The loop alone: timers, ready callbacks, end-of-turn hooks, the turn observer, wake-ups."""

import ast
import pathlib
import selectors
import socket
import sys
import threading

from selchat.server import loop as loop_module
from selchat.server.loop import READ, WRITE, Loop
from selchat.server.network import Reactor


def test_timers_fire_in_order_and_cancelled_ones_do_not():
    reactor = Reactor(selectors.DefaultSelector())
    fired = []
    reactor.call_later(0.02, fired.append, "second")
    reactor.call_later(0.01, fired.append, "first")
    reactor.call_later(0.015, fired.append, "cancelled").cancel()
    reactor.call_later(0.03, reactor.stop)
    reactor.run()
    assert fired == ["first", "second"]


def test_a_ready_callback_is_called_with_the_events_that_fired():
    loop = Loop(selectors.DefaultSelector())
    ours, theirs = socket.socketpair()
    masks = []
    loop.register(ours, READ | WRITE, masks.append)
    theirs.send(b"x")
    loop.run_once()
    assert masks == [READ | WRITE]
    loop.modify(ours, READ, masks.append)
    ours.recv(1)
    loop.call_later(0.01, lambda: None)
    loop.run_once()  # nothing to read, and write interest is gone: only the timer wakes it
    assert masks == [READ | WRITE]
    loop.unregister(ours)
    assert loop.callbacks() == []
    ours.close()
    theirs.close()


def test_end_of_turn_hooks_run_in_order_after_timers_and_pending_work_keeps_select_from_waiting():
    loop = Loop(selectors.DefaultSelector())
    ran = []
    work = ["queued"]
    loop.add_end_of_turn(lambda: ran.append("first"))
    loop.add_end_of_turn(lambda: ran.append("second") or work.clear(), lambda: bool(work))
    loop.call_later(0, ran.append, "timer")
    loop.run_once()
    assert ran == ["timer", "first", "second"]
    work.append("queued")
    loop.call_later(60, lambda: None)  # without the has_work check the next turn would wait a minute
    started = loop.now
    loop.run_once()
    assert ran[-1] == "second" and loop.now - started < 30


def test_the_turn_observer_sees_only_the_callbacks_that_handled_events():
    loop = Loop(selectors.DefaultSelector())
    handles, ignores = socket.socketpair(), socket.socketpair()
    handler = lambda mask: READ  # noqa: E731 - a transport reports what it handled
    bystander = lambda mask: None  # noqa: E731 - a listener or the waker reports nothing
    loop.register(handles[0], READ, handler)
    loop.register(ignores[0], READ, bystander)
    turns = []
    loop.on_turn = lambda readable, writable: turns.append((readable, writable))
    handles[1].send(b"x")
    ignores[1].send(b"x")
    loop.run_once()
    assert turns == [([handler], [])]
    handles[0].recv(1)
    loop.run_once()  # only the bystander is ready: a turn nobody handled anything in is not shown
    assert len(turns) == 1
    for pair in (handles, ignores):
        for sock in pair:
            sock.close()


def test_call_soon_threadsafe_wakes_a_loop_that_waits_with_no_timer():
    loop = Loop(selectors.DefaultSelector())
    ran = []
    thread = threading.Thread(target=loop.run)
    thread.start()
    loop.call_soon_threadsafe(ran.append, "from another thread")
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    assert not thread.is_alive() and ran == ["from another thread"]


def test_the_loop_imports_nothing_from_the_server_and_knows_no_chat_words():
    source = pathlib.Path(loop_module.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"loop.py imports from its own package: {ast.unparse(node)}"
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
    assert imported <= sys.stdlib_module_names | {"__future__"}, imported
    for word in ("nick", "chat", "room", "!!! error", "refus", "max_per", "dialect"):
        assert word not in source.lower(), word
    assert len(source.splitlines()) < 300
