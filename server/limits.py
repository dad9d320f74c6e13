"""Flood control, with the clock handed in: a token bucket per connection."""

from __future__ import annotations

import math


class TokenBucket:
    """`rate` lines a second on average, `burst` at once; `take(now)` spends one if there is one."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def take(self, now: float) -> bool:
        """Spend a token if one is available; False means the caller must wait until `ready_at`."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def ready_at(self, now: float) -> float:
        """When the next token will be there: `now` only if it is there already, else a time at
        which `take` succeeds."""
        self._refill(now)
        if self._tokens >= 1.0:
            return now
        when = now + (1.0 - self._tokens) / self.rate
        # The sum can round to `now` (or just short of the token) when the deficit is a hair:
        # step up to the first float at which the refill really reaches one token.
        while when <= now or self._tokens + (when - self._stamp) * self.rate < 1.0:
            when = math.nextafter(when, math.inf)
        return when
