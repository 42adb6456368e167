from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobwire.status.conditions import Verdict, find_condition, format_time, set_condition, with_verdict

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_a_new_condition_gets_the_current_time_and_generation() -> None:
    conditions = set_condition(None, kind="Ready", status="True", reason="Ok", message="", generation=3, now=T0)
    assert conditions == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ok",
            "message": "",
            "lastTransitionTime": "2026-01-01T12:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = set_condition(None, kind="Ready", status="True", reason="A", message="", generation=1, now=T0)
    later = T0 + timedelta(minutes=5)
    same = set_condition(first, kind="Ready", status="True", reason="B", message="m", generation=2, now=later)
    ready = find_condition(same, "Ready")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert (ready["reason"], ready["observedGeneration"]) == ("B", 2)
    flipped = set_condition(same, kind="Ready", status="False", reason="C", message="", generation=2, now=later)
    assert find_condition(flipped, "Ready") == {
        **ready,
        "status": "False",
        "reason": "C",
        "message": "",
        "lastTransitionTime": "2026-01-01T12:05:00Z",
    }


def test_other_conditions_are_kept_in_place() -> None:
    base = set_condition(None, kind="Healthy", status="True", reason="Ok", message="", generation=1, now=T0)
    both = set_condition(base, kind="Ready", status="True", reason="Ok", message="", generation=1, now=T0)
    assert [c["type"] for c in both] == ["Healthy", "Ready"]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))


def test_a_verdict_sets_the_observed_generation_and_its_condition_and_keeps_the_rest() -> None:
    before = {"url": "/hooks/x", "conditions": [{"type": "Stalled", "status": "False", "reason": "No"}]}

    failed = with_verdict(before, Verdict(False, "SecretNotFound", "Secret x not found"), generation=4, now=T0)

    assert failed["url"] == "/hooks/x"
    assert failed["observedGeneration"] == 4
    assert find_condition(failed["conditions"], "Stalled") == before["conditions"][0]
    assert find_condition(failed["conditions"], "Ready") == {
        "type": "Ready",
        "status": "False",
        "reason": "SecretNotFound",
        "message": "Secret x not found",
        "lastTransitionTime": "2026-01-01T12:00:00Z",
        "observedGeneration": 4,
    }
    assert before == {"url": "/hooks/x", "conditions": [{"type": "Stalled", "status": "False", "reason": "No"}]}
    healthy = with_verdict(failed, Verdict(True, "Polling"), generation=5, now=T0, kind="Healthy")
    assert [(c["type"], c["status"]) for c in healthy["conditions"]] == [
        ("Stalled", "False"),
        ("Ready", "False"),
        ("Healthy", "True"),
    ]
