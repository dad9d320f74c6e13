"""`--log-file`: the conversation as plain text, one line per log line, appended.

Each line is written as the screen shows it (marks, nicks, `[private]`, notes, the
`… N lines skipped …` count), without colours, after the local date and time it was shown:
`2026-12-02 06:58:01 <bob> morning`.  Text is cleaned again on the way out, so no escape
sequence reaches the file whatever a line went through; the file is flushed after every batch,
so `tail -f` sees lines as they come.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, TextIO

from .sanitize import clean


class Transcript:
    def __init__(self, file: TextIO, clock: Callable[[], float] = time.time) -> None:
        self.file = file
        self.clock = clock

    @classmethod
    def open(cls, path: str) -> Transcript:
        return cls(open(path, "a", encoding="utf-8", errors="replace"))

    def write(self, lines: Iterable[str]) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.clock()))
        text = "".join(f"{stamp} {clean(line)}\n" for line in lines)
        if text:
            try:
                self.file.write(text)
                self.file.flush()
            except OSError:
                pass  # a full disk must not take the chat down with it

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass
