from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from jobwire.api.automation import Posture
from jobwire.automations.trigger import EVENTS_KEPT, Observed, TriggerRule, TriggerState, firing_id

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def rule(
    posture: Posture = Posture.REACTIVE,
    threshold: int = 1,
    within: timedelta | None = None,
    cooldown: timedelta | None = None,
    max_keys: int = 100,
) -> TriggerRule:
    return TriggerRule(posture=posture, threshold=threshold, within=within, cooldown=cooldown, max_keys=max_keys)


def test_threshold_one_fires_on_each_event() -> None:
    state = TriggerState(rule())
    outcome, fire = state.observe("", "e1", {"id": "e1"}, T0)
    assert outcome is Observed.FIRED
    assert fire is not None
    assert [s.id for s in fire.events] == ["e1"]
    assert fire.reason == "Threshold"
    assert state.observe("", "e2", None, T0 + S)[0] is Observed.FIRED


def test_three_within_a_minute() -> None:
    state = TriggerState(rule(threshold=3, within=timedelta(minutes=1)))
    assert state.observe("", "a", None, T0)[0] is Observed.COUNTING
    assert state.observe("", "b", None, T0 + 30 * S)[0] is Observed.COUNTING
    # a falls out of the window: b, c are two
    assert state.observe("", "c", None, T0 + 61 * S)[0] is Observed.COUNTING
    outcome, fire = state.observe("", "d", None, T0 + 80 * S)
    assert outcome is Observed.FIRED
    assert fire is not None
    assert [s.id for s in fire.events] == ["b", "c", "d"]
    # the window starts empty after a firing
    assert state.observe("", "e", None, T0 + 81 * S)[0] is Observed.COUNTING


def test_a_repeated_event_counts_once() -> None:
    state = TriggerState(rule(threshold=2))
    state.observe("", "a", None, T0)
    assert state.observe("", "a", None, T0 + S)[0] is Observed.DUPLICATE
    assert state.observe("", "b", None, T0 + 2 * S)[0] is Observed.FIRED


def test_the_same_id_from_another_source_is_another_event() -> None:
    state = TriggerState(rule(threshold=2))
    assert state.observe("", "run-1", None, T0, source="/a")[0] is Observed.COUNTING
    assert state.observe("", "run-1", None, T0, source="/a")[0] is Observed.DUPLICATE
    assert state.observe("", "run-1", None, T0, source="/b")[0] is Observed.FIRED


def test_cooldown_holds_firings_apart_and_keeps_counting() -> None:
    state = TriggerState(rule(cooldown=timedelta(minutes=5)))
    assert state.observe("", "a", None, T0)[0] is Observed.FIRED
    assert state.observe("", "b", None, T0 + 60 * S)[0] is Observed.COOLING_DOWN
    assert state.observe("", "c", None, T0 + 301 * S)[0] is Observed.FIRED


def test_for_each_keys_are_independent() -> None:
    state = TriggerState(rule(threshold=2))
    assert state.observe("eu", "1", None, T0)[0] is Observed.COUNTING
    assert state.observe("us", "2", None, T0)[0] is Observed.COUNTING
    outcome, fire = state.observe("eu", "3", None, T0 + S)
    assert outcome is Observed.FIRED
    assert fire is not None
    assert fire.key == "eu"
    assert [s.id for s in state.keys["us"].seen] == ["2"]


def test_the_least_recently_seen_key_is_evicted() -> None:
    state = TriggerState(rule(threshold=2, max_keys=2))
    state.observe("a", "1", None, T0)
    state.observe("b", "2", None, T0 + S)
    state.observe("a", "3x", None, T0 + 2 * S)  # fires a; a is now the most recent
    state.observe("c", "4", None, T0 + 3 * S)
    assert list(state.keys) == ["a", "c"]
    assert state.evicted == 1


def test_absence_fires_once_and_an_event_re_arms() -> None:
    state = TriggerState(rule(Posture.PROACTIVE, within=timedelta(seconds=30)))
    state.arm("", T0)
    assert state.next_deadline() == T0 + 30 * S
    assert state.expire(T0 + 29 * S) == []
    fired = state.expire(T0 + 30 * S)
    assert [(f.key, f.reason, f.deadline) for f in fired] == [("", "Absence", T0 + 30 * S)]
    assert state.expire(T0 + 300 * S) == []
    assert state.next_deadline() is None
    assert state.observe("", "late", None, T0 + 400 * S)[0] is Observed.COUNTING
    assert state.next_deadline() == T0 + 430 * S


def test_events_in_time_push_the_deadline() -> None:
    state = TriggerState(rule(Posture.PROACTIVE, threshold=2, within=timedelta(seconds=30)))
    state.arm("", T0)
    state.observe("", "a", None, T0 + 10 * S)
    state.observe("", "b", None, T0 + 20 * S)
    # two arrived; the count drops below two when a is 30 s old
    assert state.next_deadline() == T0 + 40 * S
    state.observe("", "c", None, T0 + 35 * S)
    assert state.next_deadline() == T0 + 50 * S
    assert state.expire(T0 + 49 * S) == []
    assert len(state.expire(T0 + 50 * S)) == 1


def test_a_proactive_cooldown_moves_the_deadline() -> None:
    state = TriggerState(rule(Posture.PROACTIVE, within=timedelta(seconds=10), cooldown=timedelta(minutes=1)))
    state.arm("", T0)
    assert len(state.expire(T0 + 10 * S)) == 1
    state.observe("", "a", None, T0 + 11 * S)
    assert state.next_deadline() == T0 + 70 * S


def test_checkpoint_round_trip_keeps_windows_deadlines_and_ids() -> None:
    state = TriggerState(rule(Posture.PROACTIVE, threshold=3, within=timedelta(minutes=1)))
    state.arm("", T0)
    state.observe("", "a", {"id": "a", "data": 1}, T0 + S)
    state.observe("", "b", {"id": "b"}, T0 + 2 * S)
    saved = json.loads(json.dumps(state.checkpoint()))
    back = TriggerState.restore(state.rule, saved)
    assert back.next_deadline() == state.next_deadline()
    assert [(s.id, s.at, s.event) for s in back.keys[""].seen] == [(s.id, s.at, s.event) for s in state.keys[""].seen]
    assert back.observe("", "a", None, T0 + 3 * S)[0] is Observed.DUPLICATE


def test_checkpoint_keeps_whole_events_only_for_the_newest() -> None:
    state = TriggerState(rule(threshold=50))
    for i in range(20):
        state.observe("", f"e{i}", {"id": f"e{i}"}, T0 + i * S)
    seen = state.checkpoint()["keys"][""]["seen"]
    assert len(seen) == 20
    assert sum("event" in s for s in seen) == EVENTS_KEPT
    assert "event" in seen[-1]
    assert "event" not in seen[0]


def test_checkpoint_stays_within_budget_keeping_recent_keys() -> None:
    state = TriggerState(rule(threshold=5, max_keys=1000))
    for i in range(300):
        state.observe(f"key-{i}", f"e{i}", {"id": f"e{i}", "data": "x" * 100}, T0 + i * S)
    saved = state.checkpoint(budget=10_000)
    assert len(json.dumps(saved["keys"], separators=(",", ":"))) <= 10_000
    assert "key-299" in saved["keys"]
    assert "key-0" not in saved["keys"]


def test_restore_ignores_what_it_cannot_read() -> None:
    back = TriggerState.restore(rule(), {"keys": {"good": {"touched": "2026-11-22T09:00:00Z"}, "bad": {"x": 1}}})
    assert list(back.keys) == ["good"]


def test_firing_ids_are_stable_and_distinct() -> None:
    state = TriggerState(rule(threshold=2))
    state.observe("", "a", None, T0)
    _, fire = state.observe("", "b", None, T0 + S)
    assert fire is not None
    again = TriggerState(rule(threshold=2))
    again.observe("", "a", None, T0 + 5 * S)
    _, same = again.observe("", "b", None, T0 + 6 * S)
    assert same is not None
    assert firing_id("uid", fire) == firing_id("uid", same)
    assert firing_id("uid", fire) != firing_id("other", fire)
