"""The backlog between the network side and the screen (pure: no app, no sockets, fake clock)."""

from __future__ import annotations

from selchat.client.backlog import Backlog, Skipped, drain
from selchat.client.session import ChatLine, ConnectionState, StatusChanged


def line(n: int) -> ChatLine:
    return ChatLine("message", "flood", f"line {n}", 1.0)


def lost() -> StatusChanged:
    return StatusChanged(ConnectionState.RECONNECTING, "h", 1, 1, 1.0, "server closed the connection")


def test_a_burst_keeps_the_newest_lines_and_counts_the_rest_where_they_were():
    backlog = Backlog(keep=100)
    backlog.extend(line(n) for n in range(1000))
    backlog.push(lost())
    backlog.extend(line(n) for n in range(1000, 3000))
    taken = backlog.take(10_000)
    texts = [getattr(event, "text", event) for event in taken]
    # Every line before the status change is gone, but the status change is not.
    assert taken[0] == Skipped(1000) and taken[1] == lost()
    assert taken[2] == Skipped(1900)
    assert texts[3:] == [f"line {n}" for n in range(2900, 3000)]
    assert backlog.skipped_total == 2900 and not backlog


def test_a_backlog_within_its_size_skips_nothing():
    backlog = Backlog(keep=100)
    backlog.extend(line(n) for n in range(100))
    assert backlog.take(1000) == [line(n) for n in range(100)]
    assert backlog.skipped_total == 0


def test_memory_stays_bounded_when_nobody_takes():
    backlog = Backlog(keep=100)
    backlog.extend(line(n) for n in range(100_000))
    assert len(backlog) <= 201


def test_markers_merge_across_trims():
    backlog = Backlog(keep=10)
    backlog.extend(line(n) for n in range(50))
    backlog.take(0)  # trims: Skipped(40) + 10 lines
    backlog.extend(line(n) for n in range(50, 100))
    taken = backlog.take(1000)
    assert taken[0] == Skipped(90)
    assert [event.text for event in taken[1:]] == [f"line {n}" for n in range(90, 100)]


def test_state_events_are_never_skipped():
    backlog = Backlog(keep=2)
    for _ in range(5):
        backlog.push(lost())
        backlog.extend(line(n) for n in range(10))
    taken = backlog.take(1000)
    assert sum(isinstance(event, StatusChanged) for event in taken) == 5


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_drain_stops_at_the_frame_budget_and_resumes_next_frame():
    backlog = Backlog(keep=10_000)
    backlog.extend(line(n) for n in range(5000))
    batches: list[int] = []
    # Each clock read moves 4 ms on: a 10 ms budget allows two or three chunks, never all 20.
    delivered = drain(backlog, lambda events: batches.append(len(events)), FakeClock(0.004), 0.010,
                      chunk=250)
    assert delivered == sum(batches) and 250 <= delivered <= 750
    assert len(backlog) == 5000 - delivered
    while backlog:
        drain(backlog, lambda events: batches.append(len(events)), FakeClock(0.004), 0.010, chunk=250)
    assert sum(batches) == 5000
