"""The event loop: descriptors, timers and signals, and nothing else (Redis's ae.c).

One turn (`Loop.run_once`):

1. wait in `select()` until a descriptor is ready, the nearest timer is due, or a signal or another
   thread wakes the loop; poll without waiting while an end-of-turn hook says it has work left;
2. call each ready descriptor's callback with the events that fired;
3. run signal callbacks, callbacks sent from other threads, then due timers;
4. show the turn to the observer (`on_turn`), if one is set and a callback handled events;
5. run the end-of-turn hooks in the order they were added (Redis's beforeSleep): this is where
   the transports close what broke during the turn and send what it queued.

A ready callback is any callable `callback(mask)`. It must cope with being called for a descriptor
that an earlier callback in the same turn has dealt with (ae.c re-checks for the same reason). What
it returns is what it handled, as a mask; only that is shown to the observer, so listeners and the
waker, which return None, never appear in a turn's ready lists.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import selectors
import signal
import socket
import threading
import time
from typing import Callable

BACKENDS: dict[str, type[selectors.BaseSelector]] = {"auto": selectors.DefaultSelector}
for _name, _cls in (("select", "SelectSelector"), ("poll", "PollSelector"), ("epoll", "EpollSelector"),
                    ("kqueue", "KqueueSelector"), ("devpoll", "DevpollSelector")):
    if hasattr(selectors, _cls):
        BACKENDS[_name] = getattr(selectors, _cls)

# select() cannot watch a descriptor numbered this high or higher.
FD_SETSIZE = 1024
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

ReadyCallback = Callable[[int], "int | None"]

log = logging.getLogger(__name__)


def backend_name(selector: selectors.BaseSelector) -> str:
    """'epoll' for an EpollSelector, and so on."""
    return type(selector).__name__.removesuffix("Selector").lower()


class Timer:
    """A callback due at a monotonic time; `cancel()` it if it should not run."""

    __slots__ = ("when", "seq", "callback", "args", "cancelled")

    def __init__(self, when: float, seq: int, callback: Callable, args: tuple) -> None:
        self.when, self.seq, self.callback, self.args = when, seq, callback, args
        self.cancelled = False

    def __lt__(self, other: "Timer") -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """Create, `register()` descriptors and add timers, then `run()` until `stop()`."""

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        self.selector = selector or selectors.DefaultSelector()
        self.backend = backend_name(self.selector)
        self.turns = 0
        self.now = time.monotonic()  # as of the start of this turn's work
        self.wall = time.time()
        # Called as on_turn(readable, writable) with the callbacks that handled those events.
        self.on_turn: Callable[[list, list], None] | None = None
        self._timers: list[Timer] = []
        self._seq = itertools.count()
        self._end_of_turn: list[tuple[Callable[[], None], Callable[[], bool] | None]] = []
        self._stopping = False
        self._signal_callbacks: dict[int, Callable] = {}
        self._signals_seen: list[int] = []
        self._waker: tuple[socket.socket, socket.socket] | None = None
        self._wakeup_fd_set = False
        self._from_threads: collections.deque = collections.deque()
        self.callback_errors = 0  # callbacks that raised: logged and counted, the loop goes on

    # --- descriptors -----------------------------------------------------------------------

    def register(self, fileobj, events: int, on_ready: ReadyCallback) -> None:
        """Call `on_ready(mask)` when `fileobj` is ready for `events` (READ, WRITE or both)."""
        self.selector.register(fileobj, events, on_ready)

    def modify(self, fileobj, events: int, on_ready: ReadyCallback) -> None:
        self.selector.modify(fileobj, events, on_ready)

    def unregister(self, fileobj) -> None:
        self.selector.unregister(fileobj)

    def callbacks(self) -> list:
        """The ready callback of every registered descriptor (the loop's own waker included)."""
        return [key.data for key in self.selector.get_map().values()]

    # --- time --------------------------------------------------------------------------------

    def call_at(self, when: float, callback: Callable, *args) -> Timer:
        timer = Timer(when, next(self._seq), callback, args)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable, *args) -> Timer:
        return self.call_at(time.monotonic() + delay, callback, *args)

    @property
    def timer_count(self) -> int:
        """Timers held, cancelled ones included until their time comes round."""
        return len(self._timers)

    def add_end_of_turn(self, hook: Callable[[], None], has_work: Callable[[], bool] | None = None) -> None:
        """Run `hook()` at the end of every turn. While `has_work()` is true the loop does not
        sleep in select(): the hook has something to do even if no descriptor becomes ready."""
        self._end_of_turn.append((hook, has_work))

    # --- signals and other threads -------------------------------------------------------------

    def add_signal_handler(self, signum: int, callback: Callable[[int], None]) -> None:
        """Run `callback(signum)` on the loop when the signal arrives.

        A flag set by a Python signal handler is not enough: PEP 475 makes select() resume after
        the handler returns, so the loop would sleep on. The C-level handler also writes the signal
        number to a socketpair the selector watches (`signal.set_wakeup_fd`), which wakes it.
        """
        self._ensure_waker()
        if not self._wakeup_fd_set:
            signal.set_wakeup_fd(self._waker[1].fileno(), warn_on_full_buffer=False)
            self._wakeup_fd_set = True
        self._signal_callbacks[signum] = callback
        signal.signal(signum, lambda num, frame: self._signals_seen.append(num))

    def release_signals(self) -> None:
        """Stop waking this loop for signals (main thread only)."""
        if self._wakeup_fd_set:
            signal.set_wakeup_fd(-1)
            self._wakeup_fd_set = False

    def call_soon_threadsafe(self, callback: Callable, *args) -> None:
        """Run `callback(*args)` on the loop's thread, from any thread (the dashboard's, say)."""
        self._ensure_waker()
        self._from_threads.append((callback, args))
        try:
            self._waker[1].send(b"\0")
        except (BlockingIOError, OSError):
            pass  # the waker is already full of wake-ups: the loop will see this one too

    def _ensure_waker(self) -> None:
        if self._waker is None:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._waker = (reader, writer)
            self.selector.register(reader, READ, self._drain_waker)

    def _drain_waker(self, mask: int) -> None:
        try:
            while self._waker[0].recv(512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # --- running ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Make `run()` return after the current turn."""
        self._stopping = True

    def run(self) -> None:
        self._stopping = False
        try:
            while not self._stopping:
                self.run_once()
        finally:
            # Python lets only the main thread touch the wakeup fd; a loop run on another thread
            # (the dashboard's) leaves that to its owner, who calls release_signals() itself.
            if threading.current_thread() is threading.main_thread():
                self.release_signals()

    def run_once(self) -> None:
        # No EINTR handling: since PEP 475 select() retries by itself after a signal handler.
        ready = self.selector.select(self._timeout())
        self.now = time.monotonic()
        self.wall = time.time()
        self.turns += 1
        on_turn = self.on_turn
        if on_turn is None:
            for key, mask in ready:
                try:
                    key.data(mask)
                except Exception:
                    self._contain_ready(key)
        else:
            # Who was ready is only collected when someone looks (--trace, the dashboard).
            readable: list = []
            writable: list = []
            for key, mask in ready:
                callback = key.data
                try:
                    handled = callback(mask)
                except Exception:
                    self._contain_ready(key)
                    continue
                if handled:
                    if handled & READ:
                        readable.append(callback)
                    if handled & WRITE:
                        writable.append(callback)
        self._run_signal_callbacks()
        while self._from_threads:
            callback, args = self._from_threads.popleft()
            self._call(callback, *args)
        self._run_timers()
        if on_turn is not None and (readable or writable):
            self._call(on_turn, readable, writable)
        for hook, _ in self._end_of_turn:
            self._call(hook)

    def _call(self, callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:
            self._contain(callback)

    def _contain_ready(self, key: selectors.SelectorKey) -> None:
        # A descriptor whose callback raised stays ready (level-triggered): watched on, it would
        # raise again every turn. It is no longer watched; its owner's bug is in the log.
        self._contain(key.data)
        try:
            self.selector.unregister(key.fileobj)
        except (KeyError, ValueError, OSError):
            pass  # the callback unregistered or closed it itself before raising
        log.error("internal error: descriptor %r is no longer watched", key.fileobj)

    def _contain(self, callback: Callable) -> None:
        # Nothing a callback does may raise out of the loop: one bug must not stop every
        # connection. (Transports already contain their handlers' bugs to their own connection.)
        self.callback_errors += 1
        log.exception("internal error in %r; the loop goes on", callback)

    def _timeout(self) -> float | None:
        if self._signals_seen or self._from_threads:
            return 0
        for _, has_work in self._end_of_turn:
            if has_work is not None and has_work():
                return 0
        timers = self._timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        # Round up so a timer is never polled a hair early and spun on.
        return max(0.0, timers[0].when - time.monotonic() + 0.0005)

    def _run_timers(self) -> None:
        timers = self._timers
        now = self.now
        while timers and timers[0].when <= now:
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                self._call(timer.callback, *timer.args)

    def _run_signal_callbacks(self) -> None:
        while self._signals_seen:
            signum = self._signals_seen.pop(0)
            callback = self._signal_callbacks.get(signum)
            if callback is not None:
                self._call(callback, signum)
