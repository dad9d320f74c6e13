"""What a load run is asked to do (`LoadPlan`) and what it measured (`LoadResult`).

The load generator's workers (`loadworker`) and coordinator (`loadgen`) share these; the
scenarios and the reports read a run's figures through `LoadResult.summary()`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .wire import percentile


def _percentile_of(histogram: str, fraction: float) -> property:
    """A read-only property: the `fraction` percentile of the latency histogram in field `histogram`."""
    return property(lambda self: percentile(getattr(self, histogram), fraction))


@dataclass
class LoadPlan:
    """What the load generator does in one run.

    mode: "echo" (a connection hears only its own lines back), "upper" (the same, upper-cased) or
    "chat" (every connection hears every sender's lines). senders: connections that send; in chat
    mode they receive too. listeners: extra connections that only receive. idle: connections that
    connect and stay silent. window: messages each sender keeps in flight. probes (echo and upper):
    ping-pong connections beside the senders, one message in flight each, whose latencies and
    deliveries are counted apart, to see how the senders' load delays a light client.
    """

    mode: str
    senders: int
    listeners: int = 0
    idle: int = 0
    window: int = 1
    probes: int = 0
    duration: float = 2.0
    warmup: float = 0.3
    procs: int = 1
    drain_timeout: float = 5.0
    settle_timeout: float = 60.0
    cpus: frozenset[int] | None = None  # where the workers may run (None: anywhere)

    @property
    def connections(self) -> int:
        return self.senders + self.probes + self.listeners + self.idle

    @property
    def echoes(self) -> bool:
        """Whether each connection hears only its own lines back."""
        return self.mode in ("echo", "upper")

    def reply_marker(self, marker: bytes) -> bytes:
        """The run's marker as it comes back: upper mode upper-cases the whole line."""
        return marker.upper() if self.mode == "upper" else marker


@dataclass
class LoadResult:
    """What one run measured. Times in seconds, latencies in microseconds."""

    plan: LoadPlan
    connected: int = 0
    connect_failures: int = 0
    closed_by_server: int = 0
    sent: int = 0
    expected_deliveries: int = 0
    deliveries: int = 0
    window_deliveries: int = 0
    window_seconds: float = 0.0
    lost: int = 0
    reordered: int = 0
    duplicated: int = 0
    latency_us: Counter = field(default_factory=Counter)
    probe_window_deliveries: int = 0
    probe_latency_us: Counter = field(default_factory=Counter)
    listener_latency_us: Counter = field(default_factory=Counter)  # connections that only listen
    order_mismatches: int = 0  # chat: receivers whose sequence of lines differs from the most common one
    loadgen_cpu_seconds: float = 0.0
    loadgen_busiest_share: float = 0.0  # the busiest worker's CPU over the window, 1.0 = a full core
    server_cpu_seconds: float | None = None
    server_rss_before: int | None = None
    server_rss_connected: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def deliveries_per_second(self) -> float:
        return self.window_deliveries / self.window_seconds if self.window_seconds else 0.0

    @property
    def sender_deliveries_per_second(self) -> float:
        """Deliveries per second of the senders' lines alone, without the probes'."""
        if not self.window_seconds:
            return 0.0
        return (self.window_deliveries - self.probe_window_deliveries) / self.window_seconds

    @property
    def server_us_per_delivery(self) -> float | None:
        if self.server_cpu_seconds is None or not self.window_deliveries:
            return None
        return self.server_cpu_seconds / self.window_deliveries * 1e6

    @property
    def server_bytes_per_connection(self) -> float | None:
        if self.server_rss_before is None or self.server_rss_connected is None or not self.connected:
            return None
        return (self.server_rss_connected - self.server_rss_before) / self.connected

    # Latency percentiles (microseconds, None before any delivery) of the three histograms.
    latency_p50_us = _percentile_of("latency_us", 0.50)
    latency_p99_us = _percentile_of("latency_us", 0.99)
    probe_p50_us = _percentile_of("probe_latency_us", 0.50)
    probe_p99_us = _percentile_of("probe_latency_us", 0.99)
    listener_p50_us = _percentile_of("listener_latency_us", 0.50)
    listener_p99_us = _percentile_of("listener_latency_us", 0.99)

    @property
    def loadgen_saturated(self) -> bool:
        return self.loadgen_busiest_share > 0.9

    def summary(self) -> dict:
        """The figures as plain JSON-able values."""
        return {
            "connections": self.connected,
            "connect_failures": self.connect_failures,
            "closed_by_server": self.closed_by_server,
            "sent": self.sent,
            "expected_deliveries": self.expected_deliveries,
            "deliveries": self.deliveries,
            "deliveries_per_second": round(self.deliveries_per_second, 1),
            "lost": self.lost,
            "reordered": self.reordered,
            "duplicated": self.duplicated,
            "latency_p50_us": self.latency_p50_us,
            "latency_p99_us": self.latency_p99_us,
            "sender_deliveries_per_second": round(self.sender_deliveries_per_second, 1),
            "probe_round_trips": sum(self.probe_latency_us.values()),
            "probe_p50_us": self.probe_p50_us,
            "probe_p99_us": self.probe_p99_us,
            "listener_p50_us": self.listener_p50_us,
            "listener_p99_us": self.listener_p99_us,
            "order_mismatches": self.order_mismatches,
            "server_cpu_us_per_delivery": self.server_us_per_delivery,
            "server_bytes_per_connection": self.server_bytes_per_connection,
            "loadgen_cpu_seconds": round(self.loadgen_cpu_seconds, 4),
            "loadgen_busiest_core_share": round(self.loadgen_busiest_share, 3),
            "loadgen_saturated": self.loadgen_saturated,
            "window_seconds": round(self.window_seconds, 4),
            "notes": self.notes,
        }
