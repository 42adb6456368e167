"""Sensor sources: each polls one kind of external system behind one small interface (see `base`).

    make_source(spec.source) -> Source;  await source.poll(cursor, context) -> PollResult;  await source.close()

One module per kind (http, s3, sql, kubernetes, prometheus), registered by one line in `registry`; source modules
import `base` only, never each other.
"""

from jobwire.sources.base import Item, PollContext, PollResult, Source, SourceError
from jobwire.sources.registry import make_source, source_kind

__all__ = ["Item", "PollContext", "PollResult", "Source", "SourceError", "make_source", "source_kind"]
