"""TUI load benchmark (issue 13): the `selchat` client in a real terminal, under a burst.

In a private tmux server at 120x35 it runs a real selchat-server (`--rate 0`, every other flag at
its default), the TUI in a pane and a raw JSON client that sends a burst of lines in one write.
It measures, from outside the client, as a user would see it:

- idle CPU of a fresh client (from /proc/PID/stat);
- the time from the burst's first byte until its last line is on screen (capture-pane every
  10 ms), and the client's CPU time over it;
- whether the server dropped the client as too slow (its log) or the client noted a lost connection;
- key echo during the burst: a letter is typed with send-keys and timed until the input line
  shows it (the figure includes the polling step, about 5-15 ms);
- RSS after the burst;
- client CPU while the raw client sends a steady 100 messages a second.

Then it prints one PASS/FAIL line per target.  The figures are wall-clock figures on a shared
machine: run it on a quiet one, and more than once, before trusting a single number.

    uv run python -m selchat.bench.tui [--lines 100000] [--steady-seconds 10] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .procstat import sample

WIDTH, HEIGHT = 120, 35
NICK = "meas"
LISTENING = re.compile(r"listening on (\S+):(\d+)")
PROBE_KEY = "x"  # not in any flood line, the nick or the status bar
# How often the pane is captured while timing.  Each capture spawns a tmux client: polled flat
# out (~450 a second) that took 87% of a core from the two the client, the server and tmux share,
# so the figures measured the poller as much as the client.  Every 10 ms costs ~15% of a core and
# adds at most 10 ms (5 on average) to each figure.
POLL_INTERVAL = 0.01


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    higher_is_worse: bool = True


# The targets, and what the review measured before the work ("today").
TARGETS = {
    "burst_seconds": Target("burst shown completely", 3.0, "s"),
    "key_echo_p99_ms": Target("key echo p99 during the burst", 100.0, "ms"),
    "steady_cpu_percent": Target("steady 100 msg/s client CPU", 25.0, "% of a core"),
    "rss_mb": Target("RSS after the burst", 80.0, "MB"),
    "idle_cpu_percent": Target("idle CPU", 0.5, "% of a core"),
}
BEFORE = {
    "burst_seconds": "never (dropped at ~54,000 of 100,000); 3.1 s for 20,000",
    "key_echo_p99_ms": "1,100-1,800 ms",
    "steady_cpu_percent": "50 %",
    "rss_mb": "84 MB",
    "idle_cpu_percent": "0.8 %",
}


@dataclass
class Results:
    lines: int = 0
    burst_seconds: float | None = None  # None: the last line never showed
    dropped: bool = False
    key_echo_ms: list[float] = field(default_factory=list)
    idle_key_echo_ms: list[float] = field(default_factory=list)  # the probe's own floor
    skipped: int = 0  # lines the client said it skipped (its --log-file)
    # Not targets, but what to read the wall-clock figures against on a shared machine: the
    # client's own CPU time from the burst's first byte to its last line on screen, and the
    # machine's load (1-minute average) when the burst started.
    burst_cpu_seconds: float | None = None
    load_average: float | None = None
    rss_mb: float | None = None
    steady_cpu_percent: float | None = None
    idle_cpu_percent: float | None = None

    @property
    def key_echo_p50_ms(self) -> float | None:
        return percentile(self.key_echo_ms, 50)

    @property
    def key_echo_p99_ms(self) -> float | None:
        return percentile(self.key_echo_ms, 99)


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (so p99 of 20 probes is the largest); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats creeping in
    return ordered[int(rank) - 1]


def verdicts(results: Results) -> list[tuple[str, bool, str]]:
    """(name, passed, text) per target; a figure that is missing fails."""
    out = []
    for key, target in TARGETS.items():
        value = getattr(results, key)
        passed = value is not None and value < target.limit
        if key == "burst_seconds":
            passed = passed and not results.dropped
        shown = "missing" if value is None else f"{value:.3g} {target.unit}"
        if key == "burst_seconds" and results.dropped:
            shown += " (client dropped)"
        out.append((target.name, passed,
                    f"{target.name}: {shown} (target < {target.limit:g} {target.unit}; "
                    f"before: {BEFORE[key]})"))
    return out


def dropped(server_log: str, conversation: str) -> bool:
    """Whether the server dropped our client, or the client noted a lost connection."""
    return re.search(rf"\b{NICK}\b.*dropped", server_log) is not None \
        or re.search(r"-- (not connected|disconnected)", conversation) is not None


def skipped_lines(conversation: str) -> int:
    """The lines the client said it skipped (`… 12,345 lines skipped …` notes), added up."""
    return sum(int(n.replace(",", "")) for n in re.findall(r"… ([\d,]+) lines skipped", conversation))


def report(results: Results) -> str:
    p50 = results.key_echo_p50_ms
    lines = [f"lines in the burst: {results.lines:,}",
             f"client dropped: {'yes' if results.dropped else 'no'}",
             f"lines the client skipped (said so in its log): {results.skipped:,}",
             f"key echo during the burst: {len(results.key_echo_ms)} probes, "
             f"p50 {p50:.0f} ms" if p50 is not None else "key echo: no probe answered"]
    idle = percentile(results.idle_key_echo_ms, 50)
    if idle is not None:
        lines.append(f"key echo when idle (the probe's floor: send-keys + capture-pane): "
                     f"p50 {idle:.0f} ms, max {max(results.idle_key_echo_ms):.0f} ms")
    if results.burst_cpu_seconds is not None:
        lines.append(f"client CPU from the burst's first byte to its last line shown: "
                     f"{results.burst_cpu_seconds:.2f} s")
    if results.load_average is not None:
        lines.append(f"load average when the burst started: {results.load_average:.2f} "
                     f"on {os.cpu_count()} cores (other work on the machine stretches every figure)")
    lines += [("PASS " if passed else "FAIL ") + text for _, passed, text in verdicts(results)]
    return "\n".join(lines)


# -- the parts that run --------------------------------------------------------------------------


class Tmux:
    """A detached tmux session on its own server socket, so no other tmux is touched."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"selchat-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.run("new-session", "-d", "-s", "b", "-x", str(WIDTH), "-y", str(HEIGHT),
                 "exec " + " ".join(command))

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b")

    def pid(self) -> int:
        return int(self.run("display-message", "-p", "-t", "b", "#{pane_pid}").strip())

    def keys(self, text: str) -> None:
        self.run("send-keys", "-t", "b", "-l", text)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen():
                return True
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


class Server:
    """selchat-server on 127.0.0.1, port 0, `--rate 0`, the rest at its defaults."""

    def __init__(self) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", prefix="selchat-bench-tui-", suffix=".log")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "selchat.server", "--host", "127.0.0.1", "--port", "0",
             "--rate", "0"], stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_text())
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("selchat-server did not start:\n" + self.log_text())

    def log_text(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as file:
            return file.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


class RawSender:
    """A JSON client that sends lines and drains its own copies (so it is never the slow one)."""

    def __init__(self, host: str, port: int, nick: str = "flood") -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.sendall(json.dumps({"type": "hello", "protocol": 1, "nick": nick}).encode() + b"\n")
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        try:
            while self.sock.recv(1 << 16):
                pass
        except OSError:
            pass

    @staticmethod
    def line(text: str) -> bytes:
        return json.dumps({"type": "message", "text": text}).encode() + b"\n"

    @classmethod
    def burst_bytes(cls, count: int) -> bytes:
        return b"".join(cls.line(f"flood line {n:06d}") for n in range(count))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def steady(self, per_second: float, seconds: float) -> None:
        start = time.monotonic()
        for n in range(int(per_second * seconds)):
            delay = start + n / per_second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.sock.sendall(self.line(f"steady line {n:06d}"))

    def close(self) -> None:
        self.sock.close()


def cpu_percent(pid: int, seconds: float, during=None) -> float | None:
    """The process's CPU use over `seconds` (while `during()` runs, if given), in % of a core."""
    before, start = sample(pid), time.monotonic()
    if during is not None:
        during()
    remaining = seconds - (time.monotonic() - start)
    if remaining > 0:
        time.sleep(remaining)
    after, elapsed = sample(pid), time.monotonic() - start
    if before is None or after is None:
        return None
    return 100 * (after.cpu_seconds - before.cpu_seconds) / elapsed


def pace(due: float) -> float:
    """Wait until `due` (if it is still ahead) and return when the poll after it is due."""
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    return max(due, time.monotonic() - POLL_INTERVAL) + POLL_INTERVAL


def measure_burst(tmux: Tmux, sender: RawSender, lines: int, results: Results,
                  timeout: float = 60.0) -> None:
    """Send the burst; poll the pane for its last line and time key probes meanwhile."""
    last = f"flood line {lines - 1:06d}"
    # Made before the clock starts: the figure is from the burst's first byte, not its encoding.
    thread = threading.Thread(target=sender.send, args=(sender.burst_bytes(lines),), daemon=True)
    pid = tmux.pid()
    results.load_average = os.getloadavg()[0]
    cpu_before = sample(pid)
    start = time.monotonic()
    thread.start()
    typed, probe_sent = 0, None
    next_probe = start + 0.05
    next_poll = start
    while time.monotonic() - start < timeout:
        next_poll = pace(next_poll)
        now = time.monotonic()
        if probe_sent is None and now >= next_probe:
            tmux.keys(PROBE_KEY)
            typed, probe_sent = typed + 1, time.monotonic()
        screen = tmux.screen()
        now = time.monotonic()
        if probe_sent is not None and PROBE_KEY * typed in screen:
            results.key_echo_ms.append(1000 * (now - probe_sent))
            probe_sent, next_probe = None, now + 0.1
        if results.burst_seconds is None and last in screen:
            results.burst_seconds = now - start
            cpu_after = sample(pid)
            if cpu_before is not None and cpu_after is not None:
                results.burst_cpu_seconds = cpu_after.cpu_seconds - cpu_before.cpu_seconds
        if results.burst_seconds is not None and probe_sent is None and len(results.key_echo_ms) >= 10:
            break
    thread.join(timeout)
    tmux.run("send-keys", "-t", "b", "C-u")  # leave the input empty again


def measure_idle_echo(tmux: Tmux, results: Results, probes: int = 5) -> None:
    """Key echo with nothing else going on: what the probe itself costs."""
    for typed in range(1, probes + 1):
        tmux.keys(PROBE_KEY)
        sent = next_poll = time.monotonic()
        while time.monotonic() - sent < 5 and PROBE_KEY * typed not in tmux.screen():
            next_poll = pace(next_poll)
        results.idle_key_echo_ms.append(1000 * (time.monotonic() - sent))
        time.sleep(0.1)
    tmux.run("send-keys", "-t", "b", "C-u")


def run(lines: int, steady_seconds: float, idle_seconds: float) -> Results:
    results = Results(lines=lines)
    server = Server()
    tmux = sender = None
    workdir = tempfile.mkdtemp(prefix="selchat-bench-tui-")
    try:
        transcript = os.path.join(workdir, "conversation.log")
        tmux = Tmux([sys.executable, "-m", "selchat.client", "--host", server.host,
                     "--port", str(server.port), "--nick", NICK, "--log-file", transcript])
        if not tmux.wait_for("connected  │", 20):
            raise RuntimeError("the client never connected:\n" + tmux.screen())
        pid = tmux.pid()
        sender = RawSender(server.host, server.port)
        if not tmux.wait_for("flood has joined", 10):
            raise RuntimeError("the sender never showed up:\n" + tmux.screen())
        time.sleep(1.0)  # let start-up work settle before calling the client idle
        results.idle_cpu_percent = cpu_percent(pid, idle_seconds)
        measure_idle_echo(tmux, results)
        time.sleep(0.3)
        measure_burst(tmux, sender, lines, results)
        time.sleep(0.5)
        with open(transcript, encoding="utf-8") as file:
            conversation = file.read()
        results.dropped = dropped(server.log_text(), conversation)
        results.skipped = skipped_lines(conversation)
        after = sample(pid)
        results.rss_mb = after.rss_bytes / 2**20 if after else None
        results.steady_cpu_percent = cpu_percent(
            pid, steady_seconds, lambda: sender.steady(100, steady_seconds))
    finally:
        if sender is not None:
            sender.close()
        if tmux is not None:
            tmux.kill()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selchat-bench tui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="lines in the burst (%(default)s)")
    parser.add_argument("--steady-seconds", type=float, default=10.0,
                        help="how long the steady 100 msg/s phase runs (%(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=10.0,
                        help="how long idle CPU is measured (%(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; 0 when every target passed, 1 otherwise."""
    args = build_parser().parse_args(argv)
    if shutil.which("tmux") is None:
        print("selchat-bench tui: tmux is not installed", file=sys.stderr)
        return 2
    results = run(args.lines, args.steady_seconds, args.idle_seconds)
    print(report(results))
    return 0 if all(passed for _, passed, _ in verdicts(results)) else 1


if __name__ == "__main__":
    sys.exit(main())
