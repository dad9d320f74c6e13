"""The network layer must be usable without the TUI (STYLE.md section 5)."""

import subprocess
import sys


def test_net_imports_without_textual():
    code = ("import sys, selchat.client.net, selchat.client.session; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
