from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobwire.api.automation import AutomationSpec
from jobwire.automations.firing import Firing, plan
from jobwire.automations.rule import KEY_LIMIT, Rule
from jobwire.automations.trigger import Fire, Seen
from jobwire.events.model import AUTOMATION_TRIGGERED, Event, ProducerRef
from jobwire.jobs.naming import job_name

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ME = ProducerRef(kind="Automation", namespace="ns", name="alert", uid="uid-1")
JOB_TEMPLATE: dict[str, Any] = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
}


def spec(trigger: dict[str, Any] | None = None, actions: list[dict[str, Any]] | None = None) -> AutomationSpec:
    return AutomationSpec.model_validate(
        {
            "trigger": trigger or {"match": {"type": ["jobwire.job.failed"]}},
            "actions": actions or [{"emit": {"type": "x"}}],
        }
    )


def event(
    type: str = "jobwire.job.failed", source: str = "/apis/jobwire.io/v1alpha1/namespaces/ns/schedules/a", **data: Any
) -> Event:
    return Event(id=f"e-{type}-{len(data)}", source=source, type=type, time=T0, subject="job-1", data=data)


def test_admits_matching_events_and_says_why_not() -> None:
    rule = Rule.of(
        ME, spec({"match": {"type": ["jobwire.job.failed"], "labels": {"app": "x"}}, "filter": "event.data.n > 1"})
    )
    assert rule.admits(event(n=2), {"app": "x"}) == (True, "")
    assert rule.admits(event(n=1), {"app": "x"}) == (False, "Filtered")
    assert rule.admits(event(n=2), {"app": "y"}) == (False, "NoMatch")
    assert rule.admits(event("jobwire.job.started", n=2), {"app": "x"}) == (False, "NoMatch")
    ok, why = rule.admits(event(), {"app": "x"})  # no data.n: the filter fails on this event
    assert not ok
    assert why.startswith("FilterError: expression `event.data.n > 1`")


def test_an_automation_never_counts_its_own_events() -> None:
    rule = Rule.of(ME, spec({"match": {"type": ["*"]}}))
    assert rule.admits(event(source=ME.source), {}) == (False, "OwnEvent")


def test_bad_expressions_are_refused_with_their_place() -> None:
    with pytest.raises(ValueError, match=r"spec\.trigger\.forEach\[0\]"):
        Rule.of(ME, spec({"match": {"type": ["t"]}, "forEach": ["event.("]}))
    with pytest.raises(ValueError, match=r"spec\.actions\[1\]\.emit\.data"):
        Rule.of(ME, spec(actions=[{"emit": {"type": "a"}}, {"emit": {"type": "b", "data": "{"}}]))


def test_for_each_keys() -> None:
    one = Rule.of(ME, spec({"match": {"type": ["t"]}, "forEach": ["event.subject"]}))
    assert one.key_of(event("t")) == "job-1"
    two = Rule.of(ME, spec({"match": {"type": ["t"]}, "forEach": ["event.subject", "event.data.n"]}))
    assert two.key_of(event("t", n=3)) == '["job-1", 3]'
    long = Rule.of(ME, spec({"match": {"type": ["t"]}, "forEach": ["event.data.s"]}))
    key = long.key_of(event("t", s="x" * 1000))
    assert len(key) == KEY_LIMIT
    assert key != long.key_of(event("t", s="x" * 999 + "y"))


def firing(*events: Event, key: str = "") -> Firing:
    fire = Fire(key=key, at=T0, events=tuple(Seen(e.id, T0, e.to_dict()) for e in events))
    return Firing.of(ME, fire)


def test_plan_gives_each_action_its_values() -> None:
    automation = spec(
        actions=[
            {"runJob": {"jobTemplate": JOB_TEMPLATE}},
            {"runJob": {"jobTemplate": JOB_TEMPLATE}},
            {
                "name": "page",
                "notify": {
                    "urlSecretRef": {"name": "hook", "key": "url"},
                    "body": "{'text': 'failed: ' + events[0].subject, 'count': size(firing.eventIds)}",
                },
            },
            {"notify": {"urlSecretRef": {"name": "hook", "key": "url"}, "format": "slack"}},
            {"suspend": {"kind": "Schedule", "name": "nightly"}},
            {"emit": {"type": "app.alerted", "subject": "firing.key", "data": "{'n': size(events)}"}},
        ]
    )
    fired = firing(event(n=1), key="k")
    planned = plan(automation, fired)
    assert [p.name for p in planned] == ["0-runJob", "1-runJob", "page", "3-notify", "4-suspend", "5-emit"]
    assert planned[0].values == {"eventId": fired.id, "job": job_name(ME, fired.id)}
    assert planned[1].values["eventId"] == f"{fired.id}-1"
    assert planned[2].values["body"] == {"text": "failed: job-1", "count": 1}
    assert planned[3].values["body"]["text"].startswith("Jobwire: ns/alert [k] fired on 1 event(s): jobwire.job.failed")
    assert planned[4].values == {"kind": "Schedule", "name": "nightly"}
    emitted = planned[5].values["event"]
    assert (emitted["type"], emitted["subject"], emitted["data"], emitted["source"]) == (
        "app.alerted",
        "k",
        {"n": 1},
        ME.source,
    )
    assert all(p.error is None for p in planned)


def test_a_failing_expression_fails_only_its_action() -> None:
    automation = spec(
        actions=[
            {"notify": {"urlSecretRef": {"name": "hook", "key": "url"}, "body": "{'x': events[5].id}"}},
            {"emit": {"type": "ok"}},
        ]
    )
    planned = plan(automation, firing(event()))
    assert planned[0].error is not None
    assert "events[5].id" in planned[0].error
    assert planned[1].error is None


def test_the_default_json_notification_and_the_triggered_event() -> None:
    automation = spec(actions=[{"notify": {"urlSecretRef": {"name": "hook", "key": "url"}}}])
    fired = firing(event(n=1))
    body = plan(automation, fired)[0].values["body"]
    assert body["automation"] == {"namespace": "ns", "name": "alert"}
    assert body["firing"]["eventIds"] == [fired.event_ids[0]]
    assert body["events"][0]["data"] == {"n": 1}
    triggered = fired.as_event()
    assert (triggered.type, triggered.id, triggered.source) == (AUTOMATION_TRIGGERED, fired.id, ME.source)


def test_an_absence_firing_round_trips_through_json() -> None:
    fire = Fire(key="orders", at=T0 + timedelta(seconds=31), events=(), deadline=T0 + timedelta(seconds=30))
    fired = Firing.of(ME, fire)
    assert fired.reason == "Absence"
    assert Firing.from_json(ME, fired.to_json()) == fired
