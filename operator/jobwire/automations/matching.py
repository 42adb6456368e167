"""Which events a trigger takes, and an index so that an event meets only the triggers that can take it.

Patterns: each list means any-of; `*` matches any run of characters (dots included); a leading `!` excludes. A list
of only exclusions takes everything else. A missing subject reads as the empty string.

The index: a trigger whose `type` patterns are all literal is filed under each type; else, if its `source`
patterns are, under each source; else under the literal prefix of its type patterns (`jobwire.job.*` under
`jobwire.job.`); only a trigger with nothing literal to file under is checked for every event. With 10,000
Automations that name their event types, an event meets the handful filed under its type.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["EventFacts", "MatchIndex", "Matcher", "PatternSet"]

K = TypeVar("K", bound=Hashable)


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


@dataclass(frozen=True)
class PatternSet:
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    _include: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    _exclude: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, patterns: Sequence[str] | None) -> PatternSet | None:
        """Compiled once, with the Automation: matching then costs a regex match per pattern, no compiling."""
        if not patterns:
            return None
        include = tuple(p for p in patterns if not p.startswith("!"))
        exclude = tuple(p[1:] for p in patterns if p.startswith("!"))
        return cls(include, exclude, tuple(_glob(p) for p in include), tuple(_glob(p) for p in exclude))

    def matches(self, value: str | None) -> bool:
        text = value or ""
        if self._include and not any(p.fullmatch(text) for p in self._include):
            return False
        return not any(p.fullmatch(text) for p in self._exclude)

    @property
    def literals(self) -> tuple[str, ...] | None:
        """The values this set can match, when it can match only listed ones; else None."""
        if self.include and all("*" not in p for p in self.include):
            return self.include
        return None

    @property
    def prefixes(self) -> tuple[str, ...] | None:
        """The literal prefixes every matching value starts with, when each include pattern has one."""
        if not self.include:
            return None
        heads = tuple(p.split("*", 1)[0] for p in self.include)
        return heads if all(heads) else None


@dataclass(frozen=True)
class EventFacts:
    """What matching looks at: the event's attributes and the labels of the resource that emitted it."""

    type: str
    source: str
    subject: str | None
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Matcher:
    type: PatternSet | None
    source: PatternSet | None
    subject: PatternSet | None
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(
        cls,
        *,
        type: Sequence[str] | None = None,
        source: Sequence[str] | None = None,
        subject: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Matcher:
        return cls(
            type=PatternSet.of(type),
            source=PatternSet.of(source),
            subject=PatternSet.of(subject),
            labels=tuple(sorted((labels or {}).items())),
        )

    def matches(self, facts: EventFacts) -> bool:
        return (
            (self.type is None or self.type.matches(facts.type))
            and (self.source is None or self.source.matches(facts.source))
            and (self.subject is None or self.subject.matches(facts.subject))
            and all(facts.labels.get(k) == v for k, v in self.labels)
        )


class MatchIndex(Generic[K]):
    """Triggers filed by what an event must have to match them; `candidates` narrows, `Matcher.matches` decides."""

    def __init__(self) -> None:
        self._by_type: dict[str, set[K]] = {}
        self._by_source: dict[str, set[K]] = {}
        self._by_prefix: dict[str, set[K]] = {}
        self._everywhere: set[K] = set()
        self._filed: dict[K, list[tuple[dict[str, set[K]] | None, str]]] = {}

    def __len__(self) -> int:
        return len(self._filed)

    def add(self, key: K, matcher: Matcher) -> None:
        self.remove(key)
        places: list[tuple[dict[str, set[K]] | None, str]] = []
        types = matcher.type.literals if matcher.type else None
        sources = matcher.source.literals if matcher.source else None
        prefixes = matcher.type.prefixes if matcher.type else None
        if types is not None:
            places = [(self._by_type, t) for t in types]
        elif sources is not None:
            places = [(self._by_source, s) for s in sources]
        elif prefixes is not None:
            places = [(self._by_prefix, p) for p in prefixes]
        else:
            places = [(None, "")]
        for table, value in places:
            (self._everywhere if table is None else table.setdefault(value, set())).add(key)
        self._filed[key] = places

    def remove(self, key: K) -> None:
        for table, value in self._filed.pop(key, []):
            if table is None:
                self._everywhere.discard(key)
                continue
            keys = table.get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del table[value]

    def candidates(self, type: str, source: str) -> set[K]:
        found = set(self._everywhere)
        found.update(self._by_type.get(type, ()))
        found.update(self._by_source.get(source, ()))
        for prefix, keys in self._by_prefix.items():
            if type.startswith(prefix):
                found.update(keys)
        return found

    def keys(self) -> Iterable[K]:
        return self._filed.keys()
