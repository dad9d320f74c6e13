"""The tmux test terminal is the size the test asked for, whatever the test process exports."""

import os
import sys

import pytest

from requirements import require_program
from tmuxterm import Tmux


@pytest.fixture(autouse=True)
def tmux_installed():
    require_program("tmux")


def test_the_pane_reports_the_asked_size_not_the_test_process_columns_and_lines(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # as pytest exports them
    monkeypatch.setenv("LINES", "24")
    probe = "import shutil, time; print('size=%dx%d' % tuple(shutil.get_terminal_size())); time.sleep(60)"
    tmux = Tmux([sys.executable, "-c", f'"{probe}"'], width=123, height=37)
    try:
        tmux.wait_for("size=123x37")
    finally:
        tmux.kill()
    assert os.environ["COLUMNS"] == "80"  # the test process's own environment is left alone
