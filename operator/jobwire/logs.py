"""Logging: structured, JSON optional, and never a secret.

Secrets are kept out at the source (no code logs a header value or a Secret's data); the filter here is the
second line: it masks values of keys that look secret in structured `extra` fields and known token shapes.
"""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from jobwire.settings import LogSettings

__all__ = ["RedactingFilter", "configure_logging"]

_SECRET_KEYS = re.compile(r"(secret|token|password|signature|authorization|dsn|api[-_]?key)", re.IGNORECASE)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


class RedactingFilter(logging.Filter):
    """Masks bearer tokens in messages and secret-looking keys in structured fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "earer" in record.msg:
            record.msg = _BEARER.sub(r"\1[redacted]", record.msg)
        for key, value in list(record.__dict__.items()):
            if _SECRET_KEYS.search(key) and isinstance(value, str | bytes):
                setattr(record, key, "[redacted]")
        return True


def configure_logging(settings: LogSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter
    if settings.json:
        formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Kopf tells of every handled event at INFO (a line per Job change); its warnings and errors still show.
    # httpx logs each request's full URL at INFO: a notify URL holds its token (it lives in a Secret for that
    # reason), and a Sensor's URL may carry credentials in its query (tests/integration/test_faults.py scans for it).
    for noisy in ("aiohttp.access", "kubernetes_asyncio", "kopf.objects", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
