"""The bench's messages on the wire, and the bookkeeping that turns received lines into verdicts.

Every message the bench sends is one line::

    q3fa9c1 S3 #17 912873465123

a run's random marker (so lines from another run, history replays and greetings never count), the
sender's id, its sequence number (0, 1, 2, ... per sender) and the sender's ``time.monotonic_ns()``
when it sent the line. A chat server prefixes ``<nick> ``; anything around the payload is
ignored, and a line without the marker is noise (greetings, join notices).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass, field


def new_marker() -> bytes:
    """A marker unique to one run."""
    return b"q" + os.urandom(3).hex().encode()


def sender_prefix(marker: bytes, sender_id: int) -> bytes:
    """What every line of one sender starts with; also what it counts to see its own lines return."""
    return marker + b" S%d #" % sender_id


def format_messages(prefix: bytes, first_seq: int, count: int, now_ns: int) -> bytes:
    """`count` consecutive lines of one sender, ready for a single send()."""
    template = prefix + b"%d " + b"%d\n" % now_ns
    return b"".join([template % seq for seq in range(first_seq, first_seq + count)])


def line_pattern(marker: bytes) -> re.Pattern[bytes]:
    """Finds (sender, seq, sent_ns) in received bytes."""
    return re.compile(re.escape(marker) + rb" S(\d+) #(\d+) (\d+)")


def latency_bucket(micros: int) -> int:
    """Round a latency to about 1.5 % so histograms stay small and mergeable across processes."""
    shift = micros.bit_length() - 7
    return micros if shift <= 0 else (micros >> shift) << shift


def percentile(histogram: Counter, fraction: float) -> float | None:
    """The value below which `fraction` of the histogram's samples lie, or None if it is empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return float(value)
    return float(max(histogram))


@dataclass
class DeliveryCheck:
    """Loss, reordering and duplicates seen by one receiver, from the sequence numbers it got.

    Sequence numbers of a sender must arrive as 0, 1, 2, ... A number that jumps ahead opens a gap;
    a later arrival that fills the gap is a reorder; a number seen before is a duplicate; whatever
    gap is still open at the end, and whatever the sender sent past the last number received, is
    loss. The in-order case costs one dict lookup, so a receiver can check millions of lines.
    Every line also goes into a digest of the order heard, to compare receivers with each other.
    """

    last_seq: dict[bytes, int] = field(default_factory=dict)
    # The (sender, seq) sequence as received, hashed: receivers that heard one order have one digest.
    order: "hashlib.blake2b" = field(default_factory=lambda: hashlib.blake2b(digest_size=16))
    gaps: dict[bytes, set[int]] = field(default_factory=dict)
    received: int = 0
    reordered: int = 0
    duplicated: int = 0

    def feed(self, data: bytes, pattern: re.Pattern[bytes], recv_ns: int, latencies: Counter | None) -> None:
        """Account for every message line in `data` (complete lines received at `recv_ns`)."""
        last_seq = self.last_seq
        count = 0
        order = self.order
        for sender, seq_text, sent_text in pattern.findall(data):
            count += 1
            order.update(b"%s:%s," % (sender, seq_text))
            seq = int(seq_text)
            previous = last_seq.get(sender, -1)
            if seq == previous + 1:
                last_seq[sender] = seq
            elif seq > previous + 1:
                self.gaps.setdefault(sender, set()).update(range(previous + 1, seq))
                last_seq[sender] = seq
            else:
                gap = self.gaps.get(sender)
                if gap and seq in gap:
                    gap.discard(seq)
                    self.reordered += 1
                else:
                    self.duplicated += 1
            if latencies is not None:
                latencies[latency_bucket((recv_ns - int(sent_text)) // 1000)] += 1
        self.received += count

    def order_digest(self) -> str:
        """The order in which this receiver heard every message line, as a short hex digest."""
        return self.order.hexdigest()

    def lost(self, sent_by_sender: dict[int, int]) -> int:
        """Messages of the given senders this receiver never got."""
        lost = 0
        for sender_id, sent in sent_by_sender.items():
            key = b"%d" % sender_id
            lost += len(self.gaps.get(key, ())) + (sent - 1 - self.last_seq.get(key, -1))
        return lost
