"""Without tmux the demo explains how to get it, rather than failing with a traceback."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [[], ["--stop"]])
def test_missing_tmux_prints_the_install_hint(tmp_path, args):
    env = dict(os.environ, PATH=str(tmp_path))  # an empty directory: no tmux, no anything
    done = subprocess.run([sys.executable, "-m", "selchat.demo", *args], capture_output=True, text=True,
                          env=env, timeout=30)
    assert done.returncode == 1
    assert "tmux is not installed" in done.stderr
    assert "apt install tmux" in done.stderr and "brew install tmux" in done.stderr
    assert "Traceback" not in done.stderr
