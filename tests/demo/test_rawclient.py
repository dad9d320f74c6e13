"""The demo's raw client: nc in a select loop, over a real server."""

import subprocess
import sys
import threading


def test_rawclient_sends_typed_lines_and_prints_what_comes_back(run_server):
    server = run_server()
    proc = subprocess.Popen([sys.executable, "-m", "selchat.demo.rawclient", server.host, str(server.port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[bytes] = []
    arrived = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            if b"<zed> hello there" in line:
                arrived.set()

    threading.Thread(target=read, daemon=True).start()
    proc.stdin.write(b"/nick zed\nhello there\n")
    proc.stdin.flush()
    assert arrived.wait(15), seen
    # End of input (Ctrl+D): the server closes the connection and the client exits cleanly.
    proc.stdin.close()
    assert proc.wait(15) == 0
    assert b"closed the connection" in proc.stderr.read()


def test_rawclient_reports_a_refused_connection():
    done = subprocess.run([sys.executable, "-m", "selchat.demo.rawclient", "127.0.0.1", "1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "cannot connect to 127.0.0.1:1" in done.stderr and "Traceback" not in done.stderr
