import pytest

from serverproc import ServerProcess, start_server


@pytest.fixture
def run_server():
    """Factory: `run_server("--mode", "echo")` starts a real server; all are stopped at teardown."""
    started: list[ServerProcess] = []

    def factory(*args: str, **kwargs) -> ServerProcess:
        server = start_server(*args, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
