"""HTTP header names are case-insensitive: every lookup here goes through one lower-cased copy."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["lowercase_headers"]


def lowercase_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A plain dict with lower-case names. When a name repeats (a multidict such as aiohttp's `CIMultiDictProxy`
    yields every occurrence), the first value wins, as `CIMultiDict[name]` answers."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        out.setdefault(name.lower(), value)
    return out
