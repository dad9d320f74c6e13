"""What a test needs from the machine: skip locally with how to install it, fail in CI.

The developers' rule: on a laptop a test whose real dependency is missing may skip, with a reason
that says what to install; in CI (`CI=true`) it fails, because `.ci/run` installs everything and a
skip there would hide a missing install step.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(what: str, hint: str) -> None:
    """Skip (locally) or fail (in CI) because `what` is missing; `hint` says how to get it."""
    message = f"{what} is missing: {hint}"
    if in_ci():
        pytest.fail(f"{message} (CI must run this test)")
    pytest.skip(message)


def require_program(name: str, package: str | None = None) -> str:
    """The path of program `name`, or skip/fail saying `apt-get install <package>`."""
    path = shutil.which(name)
    if path is None:
        require(name, f"apt-get install {package or name}")
    return path
