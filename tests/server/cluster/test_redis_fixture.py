"""The cluster tests' rule: without redis-server they skip locally and fail in CI."""

import sys

import pytest
from redis_fixture import redis_server_path, require_hiredis


def test_a_missing_redis_server_skips_locally_with_the_install_command(monkeypatch):
    monkeypatch.setenv("SELCHAT_REDIS_SERVER", "/nonexistent/redis-server")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        redis_server_path()


def test_a_missing_redis_server_fails_in_ci(monkeypatch):
    monkeypatch.setenv("SELCHAT_REDIS_SERVER", "/nonexistent/redis-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        redis_server_path()


def test_a_missing_hiredis_fails_in_ci(monkeypatch):
    monkeypatch.setitem(sys.modules, "hiredis", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="hiredis is missing"):
        require_hiredis()
