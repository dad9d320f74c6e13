import logging

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


class _InternalErrors(logging.Handler):
    """Collects the log records of bugs the loop and the transports contained."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("internal error"):
            self.records.append(record)


@pytest.fixture(autouse=True)
def no_internal_errors(request):
    """A contained bug is still a bug: an in-process test that makes one fails, unless it is
    marked `internal_errors` (the containment's own tests)."""
    catcher = _InternalErrors()
    logger = logging.getLogger("selchat")
    logger.addHandler(catcher)
    yield
    logger.removeHandler(catcher)
    if catcher.records and request.node.get_closest_marker("internal_errors") is None:
        record = catcher.records[0]
        pytest.fail(f"{len(catcher.records)} internal error(s) contained during the test; first: "
                    f"{record.getMessage()}\n{logging.Formatter().formatException(record.exc_info) if record.exc_info else ''}")
