from __future__ import annotations

import pytest

from jobwire.automations.matching import EventFacts, Matcher, MatchIndex, PatternSet


def facts(type: str = "t", source: str = "/s", subject: str | None = None, **labels: str) -> EventFacts:
    return EventFacts(type=type, source=source, subject=subject, labels=labels)


@pytest.mark.parametrize(
    ("patterns", "value", "expected"),
    [
        (["jobwire.job.failed"], "jobwire.job.failed", True),
        (["jobwire.job.failed"], "jobwire.job.failed.x", False),
        (["jobwire.job.*"], "jobwire.job.failed", True),
        (["jobwire.job.*"], "jobwire.schedule.tick", False),
        (["*.failed"], "jobwire.job.failed", True),
        (["a", "b"], "b", True),
        (["!jobwire.job.started"], "jobwire.job.failed", True),
        (["!jobwire.job.started"], "jobwire.job.started", False),
        (["jobwire.job.*", "!jobwire.job.started"], "jobwire.job.started", False),
        (["jobwire.job.*", "!jobwire.job.started"], "jobwire.job.succeeded", True),
        (["a.b"], "aXb", False),  # a dot is a dot, not a regex wildcard
        (["*"], None, True),
        (["x"], None, False),
    ],
)
def test_patterns(patterns: list[str], value: str | None, expected: bool) -> None:
    found = PatternSet.of(patterns)
    assert found is not None
    assert found.matches(value) is expected


def test_an_empty_list_matches_anything() -> None:
    assert PatternSet.of([]) is None
    assert Matcher.of(type=[]).matches(facts(type="anything"))


def test_labels_must_all_be_there() -> None:
    matcher = Matcher.of(type=["jobwire.job.failed"], labels={"app": "x", "tier": "batch"})
    assert matcher.matches(facts(type="jobwire.job.failed", app="x", tier="batch", other="y"))
    assert not matcher.matches(facts(type="jobwire.job.failed", app="x"))
    assert not matcher.matches(facts(type="jobwire.job.failed", app="y", tier="batch"))


def test_the_index_narrows_to_the_triggers_that_can_match() -> None:
    index: MatchIndex[str] = MatchIndex()
    for i in range(1000):
        index.add(f"exact-{i}", Matcher.of(type=[f"type.{i}"]))
    index.add("by-source", Matcher.of(type=["*"], source=["/apis/a"]))
    index.add("by-prefix", Matcher.of(type=["jobwire.job.*"]))
    index.add("anything", Matcher.of(subject=["x"]))
    assert index.candidates("type.7", "/apis/b") == {"exact-7", "anything"}
    assert index.candidates("jobwire.job.failed", "/apis/a") == {"by-source", "by-prefix", "anything"}
    index.remove("exact-7")
    index.remove("anything")
    assert index.candidates("type.7", "/apis/b") == set()
    assert len(index) == 1001


def test_re_adding_a_key_files_it_anew() -> None:
    index: MatchIndex[str] = MatchIndex()
    index.add("a", Matcher.of(type=["one"]))
    index.add("a", Matcher.of(type=["two"]))
    assert index.candidates("one", "/") == set()
    assert index.candidates("two", "/") == {"a"}


def test_negations_only_are_checked_for_every_event() -> None:
    index: MatchIndex[str] = MatchIndex()
    index.add("not-ticks", Matcher.of(type=["!jobwire.schedule.tick"]))
    assert index.candidates("jobwire.webhook.received", "/") == {"not-ticks"}
