import pytest

from credentials import PASSWORD, make_certificate
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


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, made at test time: (cert.pem, key.pem)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def password_file(tmp_path) -> str:
    """A file whose first line is `credentials.PASSWORD`, for --password-file."""
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return str(path)
