"""`selchat --server` (several times), `SELCHAT_SERVERS` and the old `--host`/`--port`: which
servers the client is given, in which order (no app, no network)."""

import pytest

from selchat.client import cli


def servers(argv, env=None):
    parser = cli.build_parser()
    return [str(s) for s in cli.resolve_servers(parser.parse_args(argv), parser, env or {})]


def test_servers_in_the_order_given():
    assert servers(["--server", "a:1", "--server", "[::1]:2", "--server", "c"]) \
        == ["a:1", "[::1]:2", "c:8081"]


def test_the_environment_list_and_what_wins_over_it():
    env = {"SELCHAT_SERVERS": "a:1,b:2", "SELCHAT_HOST": "h", "SELCHAT_PORT": "3"}
    assert servers([], env) == ["a:1", "b:2"]
    assert servers(["--server", "z:9"], env) == ["z:9"]  # --server wins over the environment
    assert servers(["--host", "x"], env) == ["x:3"]  # so does --host (with SELCHAT_PORT)
    assert servers(["--port", "7"], env) == ["h:7"]


def test_without_a_list_the_old_host_and_port_stay():
    assert servers([]) == ["127.0.0.1:8081"]
    assert servers(["--host", "example.org", "--port", "9"]) == ["example.org:9"]
    assert servers([], {"SELCHAT_HOST": "e", "SELCHAT_PORT": "5"}) == ["e:5"]
    assert servers([], {"SELCHAT_SERVERS": " "}) == ["127.0.0.1:8081"]


@pytest.mark.parametrize("argv, env, message", [
    (["--server", "::1"], {}, "write an IPv6 address in brackets"),
    (["--server", "a:x"], {}, "'x' is not a port number"),
    (["--server", "a:1", "--host", "b"], {}, "--server replaces --host and --port"),
    ([], {"SELCHAT_SERVERS": "a:1,b:99999"}, "SELCHAT_SERVERS: 'b:99999': 99999 is not a port"),
    ([], {"SELCHAT_PORT": "many"}, "SELCHAT_PORT: 'many' is not a port number"),
])
def test_unusable_servers_are_usage_errors(argv, env, message, capsys):
    with pytest.raises(SystemExit) as exited:
        servers(argv, env)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err

