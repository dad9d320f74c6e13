"""The network layer and the sans-I/O session must be usable without the TUI (STYLE.md section 5)."""

import subprocess
import sys


def test_net_imports_without_textual():
    code = ("import sys, selchat.client.net, selchat.client.session, selchat.client.events, "
            "selchat.client.conversation, selchat.client.errors; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wire_vocabulary_imports_nothing_of_the_client_but_sanitize():
    """client/events.py moves to a shared wire/ package later: keep it free of client state."""
    code = ("import sys, selchat.client.events; "
            "mine = sorted(m for m in sys.modules if m.startswith('selchat.client.')); "
            "print(mine); sys.exit(mine != ['selchat.client.events', 'selchat.client.sanitize'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
