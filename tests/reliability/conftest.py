"""Reliability tests: soak, fuzzing and faults (issue 5).

The `soak` marker names the minute-long soak test so it can be selected (`-m soak`) or skipped
(`-m "not soak"`) by hand; it is not deselected by default, so CI runs it.
"""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "soak: the minute-long soak test (hundreds of clients); runs by default"
    )
