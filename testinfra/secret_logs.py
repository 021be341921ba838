"""Secrets never reach the logs. For the whole test session, every log record any test causes in
this process is written to a file (message, arguments and traceback), and every personal access
token and application key a test is issued is remembered; at the end the file is searched for
each of them, and one found fails the run, naming the log line.

Loaded with `-p testinfra.secret_logs` (pyproject.toml)."""

import logging
import tempfile
from pathlib import Path

import pytest

ISSUED = set()
_log = {}


def leaks(text, secrets):
    """The lines of `text` that hold one of `secrets`."""
    return [line for line in text.splitlines() if any(secret in line for secret in secrets)]


def _record_logs():
    """Every record from here on, into a file of the session's (after Django's LOGGING has
    configured the root logger, which would drop a handler added before)."""
    folder = Path(tempfile.mkdtemp(prefix="modelport-logs-"))
    handler = logging.FileHandler(folder / "session.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    _log.update(handler=handler, path=folder / "session.log")


def _remember(model):
    issue = model.issue.__func__

    def remembered(cls, *args, **kwargs):
        row, raw = issue(cls, *args, **kwargs)
        ISSUED.add(raw)
        return row, raw

    model.issue = classmethod(remembered)


@pytest.fixture(scope="session", autouse=True)
def remember_issued_secrets():
    from applications.models import ApiKey
    from identity.models import PersonalAccessToken

    for model in (PersonalAccessToken, ApiKey):
        _remember(model)
    _record_logs()
    yield


def pytest_sessionfinish(session, exitstatus):
    handler = _log.get("handler")
    if handler is None:
        return
    handler.flush()
    found = leaks(_log["path"].read_text(encoding="utf-8", errors="replace"), ISSUED)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter:
            reporter.write_line(
                f"A secret reached the logs ({len(found)} lines), e.g.: {found[0][:300]}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(
            f"Logs checked for the {len(ISSUED)} tokens and keys the tests were issued: none found."
        )
