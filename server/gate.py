"""The password gate: comparing a supplied password, and slowing down guessers by address.

Pure bookkeeping on the clock it is handed. The first `FREE_FAILURES` wrong passwords from one
peer address cost only their connection's penalty (so one connection's three tries are never
locked out); each later one locks the address out for a while that doubles with each failure
(2 s, 4 s, 8 s ... up to `BACKOFF_CAP`). An attempt during the lock-out is refused without being
checked, so many parallel connections from one address guess no faster than one. A right password, or `FORGET_AFTER` seconds without a failure, clears
the address. The warnings are rate-limited too: at most one per address per `LOG_INTERVAL`,
counting the ones left out, so a guesser cannot fill the log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math

from . import events as ev

# A wrong password costs its connection this many seconds of silence, and this many wrong ones end
# the connection (a JSON connection has one try).
PASSWORD_PENALTY = 1.0
MAX_PASSWORD_ATTEMPTS = 3

FREE_FAILURES = 3
BACKOFF_FIRST = 2.0
BACKOFF_CAP = 60.0
FORGET_AFTER = 600.0
LOG_INTERVAL = 60.0
# Addresses remembered at once; past this the oldest are forgotten first, so a guesser with many
# addresses costs bounded memory (each then meets only the per-connection penalty).
MAX_TRACKED = 4096


def password_digest(password: str) -> bytes:
    """What is compared: the password without surrounding whitespace, in UTF-8 (lone surrogates
    kept as their code points, so any str compares and none raises), hashed so the comparison
    takes the same time whatever the lengths."""
    return hashlib.sha256(password.strip().encode("utf-8", "surrogatepass")).digest()


class Login:
    """How far a member has got with the server's password."""

    __slots__ = ("done", "asked", "failures")

    def __init__(self) -> None:
        self.done = False
        self.asked = False  # told that this server needs one
        self.failures = 0


class _Address:
    __slots__ = ("failures", "locked_until", "last_failure", "logged_at", "unlogged")

    def __init__(self) -> None:
        self.failures = 0
        self.locked_until = -math.inf
        self.last_failure = -math.inf
        self.logged_at = -math.inf
        self.unlogged = 0  # failures and refusals not logged since the last warning


class PasswordGate:
    """Checks passwords for a room, keeping track of wrong ones by the peer address they came from."""

    def __init__(self, password: str) -> None:
        if not password.strip():
            raise ValueError("the password is empty (or only whitespace)")
        self._digest = password_digest(password)
        self._addresses: dict = {}

    def check(self, member, supplied: str | None, now: float) -> list | None:
        """None if `supplied` is right; otherwise what to tell (and do to) the member."""
        login = member.login
        if login is None:
            login = member.login = Login()
        if supplied is None:
            if member.json:
                return [(member, ev.Error("auth_required", 'this server needs a password: send it in the '
                                                           'hello\'s "password" field')),
                        (member, ev.Disconnect("no password"))]
            if login.asked:
                return []
            login.asked = True
            return [(member, ev.Notice("this server needs a password: type /pass PASSWORD", "auth_required"))]
        peer = member.peer  # None (address unknown): only the per-connection penalty applies
        locked = self.locked_for(peer, now) if peer is not None else 0.0
        if not locked and self.matches(supplied):
            self.succeeded(peer)
            login.done = True
            return None
        login.asked = True
        login.failures += 1
        if locked:
            wait = math.ceil(locked)
            out = [(member, ev.Error("bad_password", f"too many wrong passwords from your address: "
                                                     f"try again in {wait} s"))]
            logged = f"password attempt refused unchecked: address locked out for {wait} s more"
        else:
            lockout = self.failed(peer, now) if peer is not None else 0.0
            out = [(member, ev.Error("bad_password", "wrong password"))]
            logged = f"wrong password (attempt {login.failures})"
            if lockout:
                logged += f"; address locked out for {lockout:g} s"
        unlogged = self.log_due(peer, now) if peer is not None else 0
        if unlogged is not None:  # at most one warning per address a minute
            if unlogged:
                logged += f" ({unlogged} more from this address not logged)"
            out.append((member, ev.LogLine(logging.WARNING, logged)))
        if member.json or login.failures >= MAX_PASSWORD_ATTEMPTS:
            out.append((member, ev.Disconnect("wrong password", delay=PASSWORD_PENALTY)))
        else:
            out.append((member, ev.Pause(PASSWORD_PENALTY)))
        return out

    def locked_for(self, peer, now: float) -> float:
        """Seconds until `peer` may try again (0: it may try now)."""
        record = self._record(peer, now, create=False)
        return 0.0 if record is None else max(0.0, record.locked_until - now)

    def matches(self, supplied: str) -> bool:
        return hmac.compare_digest(password_digest(supplied), self._digest)

    def succeeded(self, peer) -> None:
        self._addresses.pop(peer, None)

    def failed(self, peer, now: float) -> float:
        """Record a wrong password from `peer`; returns the lock-out it earned, in seconds."""
        record = self._record(peer, now, create=True)
        self._addresses[peer] = self._addresses.pop(peer)  # the most recently active last
        record.failures += 1
        record.last_failure = now
        over = record.failures - FREE_FAILURES
        if over <= 0:
            return 0.0
        delay = min(BACKOFF_FIRST * 2 ** min(over - 1, 32), BACKOFF_CAP)
        record.locked_until = now + delay
        return delay

    def log_due(self, peer, now: float) -> int | None:
        """Whether to log this failure or refusal now: None if not (it is counted instead), else
        how many were left unlogged since the last warning for `peer`."""
        record = self._record(peer, now, create=True)
        if now - record.logged_at < LOG_INTERVAL:
            record.unlogged += 1
            return None
        unlogged, record.unlogged, record.logged_at = record.unlogged, 0, now
        return unlogged

    @property
    def tracked(self) -> int:
        return len(self._addresses)

    def _record(self, peer, now: float, create: bool) -> _Address | None:
        addresses = self._addresses
        record = addresses.get(peer)
        if record is not None and now - record.last_failure > FORGET_AFTER:  # (> any lock-out)
            del addresses[peer]
            record = None
        if record is None and create:
            if len(addresses) >= MAX_TRACKED:
                self._forget_oldest(now)
            record = addresses[peer] = _Address()
        return record

    def _forget_oldest(self, now: float) -> None:
        addresses = self._addresses
        stale = [p for p, r in addresses.items() if now - r.last_failure > FORGET_AFTER]
        for peer in stale:
            del addresses[peer]
        while len(addresses) >= MAX_TRACKED:
            del addresses[next(iter(addresses))]
