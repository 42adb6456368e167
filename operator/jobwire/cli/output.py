"""Plain text output, as kubectl prints it: aligned tables, ages, times; pure (no I/O), so it is tested exactly.

Every cell goes through `clean`: values come from the cluster and from senders (event ids are delivery ids, messages
quote requests), and a control character in one must not move the cursor, ring, or recolour the user's terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jobwire.events.model import parse_rfc3339

__all__ = ["EMPTY", "age", "clean", "counts", "dumps", "parse_time", "shorten", "table", "when"]

EMPTY = "-"
"""What an empty cell shows, so columns stay readable and `awk` still counts them."""
GAP = "   "
"""Between columns (kubectl uses three spaces)."""

# C0 and C1 controls, and the bidirectional overrides that make text read in another order than it is stored.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def clean(value: object) -> str:
    """One line of printable text: None is empty, control characters (newlines, escapes) become one space."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _CONTROL.sub(" ", text).strip()


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, indent: str = "") -> str:
    """Left-aligned columns under upper-case headers, no trailing spaces; an empty cell shows `EMPTY`.

    Rows shorter than the headers are padded; longer ones are a bug (ValueError)."""
    lines = [[clean(h).upper() for h in headers]]
    for row in rows:
        if len(row) > len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns")
        cells = [clean(cell) or EMPTY for cell in row]
        lines.append(cells + [EMPTY] * (len(headers) - len(cells)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        (indent + GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))).rstrip()
        for line in lines
    )


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from status or metadata; None when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def age(moment: datetime | None, now: datetime) -> str:
    """How long ago, as kubectl says it (`45s`, `3m20s`, `2h`, `5d`); a future moment reads `in 3m`."""
    if moment is None:
        return ""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in " + _duration(-seconds)
    return _duration(seconds)


def _duration(seconds: int) -> str:
    """kubectl's HumanDuration: two units while the larger is small, one after."""
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        years = days // 365
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{days // 365}y"


def when(value: Any, now: datetime) -> str:
    """`2026-05-01T10:00:00Z (3m ago)` for a stored time; empty when there is none."""
    moment = parse_time(value)
    if moment is None:
        return clean(value)
    relative = age(moment, now)
    suffix = relative if relative.startswith("in ") else f"{relative} ago"
    return f"{clean(value)} ({suffix})"


_UNSAFE_IN_JSON = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
"""What json.dumps leaves raw (it escapes only C0 controls) but a terminal would act on: escaped as \\uXXXX."""


def dumps(value: Any) -> str:
    """JSON for `-o json`: indented, keys in the order given, non-ASCII text kept but never a control character."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


COUNT_ORDER = ("received", "accepted", "duplicates", "filtered", "created", "succeeded", "failed", "skipped")
"""Counters in the order they happen, before any others (the API server stores keys sorted)."""


def counts(values: Mapping[str, Any] | None) -> str:
    """`created 3, succeeded 2, failed 1` from a map of counters; nested maps are left out."""
    items = [(k, v) for k, v in (values or {}).items() if not isinstance(v, Mapping)]
    rank = {key: i for i, key in enumerate(COUNT_ORDER)}
    items.sort(key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    return ", ".join(f"{clean(key)} {clean(value)}" for key, value in items)
