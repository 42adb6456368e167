from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from jobwire.logs import RedactingFilter, configure_logging
from jobwire.settings import LogSettings


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def capture(json_logs: bool) -> tuple[logging.Logger, io.StringIO]:
    configure_logging(LogSettings(level="INFO", json=json_logs))
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return logging.getLogger("jobwire.test"), stream


def test_json_logs_are_one_object_per_line() -> None:
    log, stream = capture(json_logs=True)
    log.info("job %s created", "nightly-abc", extra={"namespace": "reports"})
    record = json.loads(stream.getvalue().strip())
    assert record["message"] == "job nightly-abc created"
    assert (record["level"], record["logger"], record["namespace"]) == ("INFO", "jobwire.test", "reports")


def test_secrets_are_masked_in_messages_and_fields() -> None:
    log, stream = capture(json_logs=True)
    log.warning("calling with Authorization: Bearer abc.def.ghi", extra={"webhook_secret": "hunter2", "n": 1})
    text = stream.getvalue()
    assert "abc.def.ghi" not in text
    assert "hunter2" not in text
    assert json.loads(text)["n"] == 1


def test_the_filter_passes_every_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None)
    assert RedactingFilter().filter(record)
