"""`jobwire history` and `jobwire describe` from status as the operator writes it: every record of every kind,
newest first, nothing listed twice, and pages that say what matters. No cluster: both are pure over the dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jobwire.api.kinds import AUTOMATION, SCHEDULE, SENSOR, WEBHOOK
from jobwire.cli import describe, history

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> str:
    return f"2026-05-01T11:{minute:02d}:{second:02d}Z"


PRODUCER_STATUS: dict[str, Any] = {
    "active": [{"name": "nightly-run3", "uid": "u3", "eventId": "run-3"}, {"name": "nightly-lost", "eventId": "e-x"}],
    "activeCount": 2,
    "lastRun": {"job": "nightly-run3", "eventId": "run-3", "startTime": at(50), "result": "Running"},
    "recentRuns": [
        {"job": "nightly-run2", "eventId": "tick-2", "result": "Failed", "startTime": at(40), "durationSeconds": 3.5},
        {"job": "nightly-run1", "eventId": "tick-1", "result": "Succeeded", "startTime": at(30)},
    ],
    "lastSkip": {"time": at(45), "eventId": "tick-s", "reason": "Forbidden", "message": "a Job still runs"},
    "queue": [{"id": "tick-q", "type": "jobwire.schedule.tick", "source": "/x", "time": at(55)}],
    "totals": {"skipped": 1, "created": 3, "succeeded": 1, "failed": 1},
}


def test_a_producer_lists_runs_skips_and_queue_newest_first() -> None:
    found = history.entries(SCHEDULE, PRODUCER_STATUS)
    assert [(e.type, e.outcome, e.job or e.event_id) for e in found] == [
        ("run", "Running", "nightly-lost"),  # running, start unknown: first
        ("queued", "Queued", "tick-q"),
        ("run", "Running", "nightly-run3"),
        ("skip", "Skipped", "tick-s"),
        ("run", "Failed", "nightly-run2"),
        ("run", "Succeeded", "nightly-run1"),
    ]
    skip = found[3]
    assert (skip.reason, skip.message, skip.event_id) == ("Forbidden", "a Job still runs", "tick-s")
    assert found[4].duration_seconds == 3.5


def test_a_finished_last_run_missing_from_recent_runs_is_still_shown_once() -> None:
    status: dict[str, Any] = {
        "lastRun": {
            "job": "j1",
            "eventId": "e1",
            "startTime": at(10),
            "completionTime": at(10, 12),
            "result": "Succeeded",
        },
        "recentRuns": [{"job": "j0", "eventId": "e0", "result": "Succeeded", "startTime": at(5)}],
    }
    found = history.entries(WEBHOOK, status)
    assert [(e.job, e.duration_seconds) for e in found] == [("j1", 12.0), ("j0", None)]
    status["recentRuns"].insert(0, {"job": "j1", "eventId": "e1", "result": "Succeeded", "startTime": at(10)})
    assert [e.job for e in history.entries(WEBHOOK, status)] == ["j1", "j0"]


def test_a_sensor_adds_its_polls() -> None:
    poll_failed = {"time": at(20), "durationSeconds": 0.2, "items": 0, "outcome": "Failed", "reason": "HTTP 500"}
    poll_fired = {"time": at(10), "durationSeconds": 0.1, "items": 3, "outcome": "Fired"}
    status = {
        "lastPoll": poll_failed,
        "recentPolls": [poll_failed, poll_fired],
        "recentRuns": [{"job": "s-1", "eventId": "item-a", "result": "Succeeded", "startTime": at(11)}],
    }
    found = history.entries(SENSOR, status)
    assert [(e.type, e.outcome, e.reason, e.items) for e in found] == [
        ("poll", "Failed", "HTTP 500", 0),
        ("run", "Succeeded", "", None),
        ("poll", "Fired", "", 3),
    ]
    assert found[2].detail() == "3 items, 0.1s"


def test_an_automation_adds_its_firings_with_their_outcomes() -> None:
    status = {
        "triggerCount": 2,
        "recentFirings": [
            {
                "id": "f2",
                "time": at(30),
                "reason": "Absence",
                "key": "eu",
                "eventIds": ["e1", "e2"],
                "outcomes": [
                    {"action": "page", "result": "Failed", "message": "HTTP 502"},
                    {"action": "rerun", "result": "Succeeded"},
                ],
            },
            {"id": "f1", "time": at(10), "eventIds": ["e0"]},
        ],
    }
    found = history.entries(AUTOMATION, status)
    assert [(e.type, e.outcome, e.reason, e.event_id) for e in found] == [
        ("firing", "Failed", "Absence", "e1, e2"),
        ("firing", "Triggered", "", "e0"),
    ]
    assert found[0].message == "key eu; page: Failed (HTTP 502); rerun: Succeeded"
    assert history.summary(AUTOMATION, status) == {"triggerCount": 2}


def test_json_entries_leave_out_what_is_empty() -> None:
    [run] = [e for e in history.entries(SCHEDULE, PRODUCER_STATUS) if e.job == "nightly-run2"]
    assert run.wire() == {
        "time": at(40),
        "type": "run",
        "outcome": "Failed",
        "job": "nightly-run2",
        "eventId": "tick-2",
        "durationSeconds": 3.5,
    }
    json.dumps([e.wire() for e in history.entries(SCHEDULE, PRODUCER_STATUS)])  # all of it is JSON


def test_the_table_has_one_line_per_entry_and_the_counters_below() -> None:
    status = {
        **PRODUCER_STATUS,
        "counters": {"received": 9, "accepted": 3, "duplicates": 1, "filtered": 0, "rejected": {"BadSignature": 5}},
    }
    text = history.render(WEBHOOK, "hook", status, NOW)
    lines = text.splitlines()
    assert lines[0].split() == ["TIME", "AGE", "TYPE", "OUTCOME", "REASON", "JOB", "EVENT", "DETAIL"]
    assert lines[1].split()[:4] == ["-", "-", "run", "Running"]
    assert lines[4].split()[:5] == [at(45), "15m", "skip", "Skipped", "Forbidden"]
    assert lines[4].endswith("a Job still runs")
    assert lines[7:] == [
        "Totals: created 3, succeeded 1, failed 1, skipped 1",
        "Requests: received 9, accepted 3, duplicates 1, filtered 0",
        "Refused requests by reason: BadSignature 5",
    ]


def test_limit_and_an_empty_history() -> None:
    text = history.render(SCHEDULE, "nightly", PRODUCER_STATUS, NOW, limit=2)
    assert len([line for line in text.splitlines() if " run " in line or " queued " in line]) == 2
    assert "(4 older not shown; --limit 0 shows all)" in text
    assert history.render(SCHEDULE, "fresh", {}, NOW) == "No runs, skips or polls recorded for fresh yet."


def test_long_event_ids_are_cut_in_the_table_only() -> None:
    long_id = "item-" + "x" * 80
    status = {"recentRuns": [{"job": "s-1", "eventId": long_id, "result": "Succeeded", "startTime": at(1)}]}
    assert long_id not in history.render(SENSOR, "s", status, NOW)
    assert history.entries(SENSOR, status)[0].wire()["eventId"] == long_id


def schedule_body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "nightly",
            "namespace": "reports",
            "uid": "u",
            "generation": 2,
            "creationTimestamp": "2026-04-30T12:00:00Z",
        },
        "spec": {
            "cron": "30 2 * * *",
            "timeZone": "Europe/Berlin",
            "concurrencyPolicy": "Queue",
            "maxActive": 2,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "r", "image": "report:1"}]}}}},
            "parameters": [{"name": "RUN_DATE", "expression": "x"}],
        },
        "status": {
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Scheduled",
                    "message": "waiting for the next tick",
                    "lastTransitionTime": "2026-05-01T11:00:00Z",
                }
            ],
            "lastScheduleTime": at(30),
            "nextScheduleTimes": ["2026-05-02T00:30:00Z"],
            **status,
        },
    }


def field(text: str, key: str, section: str | None = None) -> str:
    """The value of `key:` on the page (within `section` when given), however the values are aligned."""
    lines = text.splitlines()
    if section is not None:
        lines = lines[lines.index(f"{section}:") + 1 :]
    for line in lines:
        if line.strip().startswith(f"{key}:"):
            return line.strip()[len(key) + 1 :].strip()
    raise AssertionError(f"no {key!r} in:\n{text}")


def test_describe_a_schedule() -> None:
    jobs: list[dict[str, Any]] = [
        {"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}},
        {"metadata": {"name": "b"}, "status": {}},
    ]
    events = [
        {"type": "Normal", "reason": "JobCreated", "lastTimestamp": at(50), "message": "Created Job b", "count": 1},
        {"type": "Warning", "reason": "JobFailed", "lastTimestamp": at(41), "message": "Job a failed", "count": 2},
    ]
    text = describe.render(SCHEDULE, schedule_body(**PRODUCER_STATUS), events, jobs, NOW)
    lines = text.splitlines()
    assert lines[0] == "Name:            nightly"
    assert field(text, "Namespace") == "reports"
    assert field(text, "Kind") == "Schedule (jobwire.io/v1alpha1)"
    assert field(text, "Created") == "2026-04-30T12:00:00Z (24h ago)"
    assert field(text, "Generation seen") == "2 of 2"
    assert field(text, "Cron", "Spec") == "30 2 * * *"
    assert field(text, "Time zone", "Spec") == "Europe/Berlin"
    assert field(text, "Concurrency", "Spec") == "Queue (maxActive 2)"
    assert field(text, "Job", "Spec") == "r (report:1)"
    assert field(text, "Parameters", "Spec") == "RUN_DATE"
    ready = next(line for line in lines if line.startswith("  Ready"))
    assert ready.split()[:4] == ["Ready", "True", "Scheduled", "60m"]
    assert ready.endswith("waiting for the next tick")
    assert field(text, "Last run") == "job/nightly-run3 Running, started 2026-05-01T11:50:00Z (10m ago), event run-3"
    assert field(text, "Last tick") == "2026-05-01T11:30:00Z (30m ago)"
    assert field(text, "Next ticks") == "2026-05-02T00:30:00Z (in 12h)"
    assert field(text, "Active Jobs") == "2: job/nightly-run3, job/nightly-lost"
    assert field(text, "Jobs", "Status") == "2 in the cluster: 1 running, 1 succeeded, 0 failed"
    assert field(text, "Totals") == "created 3, succeeded 1, failed 1, skipped 1"
    assert field(text, "Last skip") == "2026-05-01T11:45:00Z (15m ago): Forbidden: a Job still runs (event tick-s)"
    assert field(text, "Queue") == "1 event(s) waiting"
    assert "History (newest 5 of 6; jobwire history schedule/nightly for all):" in lines
    events_at = lines.index("Events:")
    assert lines[events_at + 1].split() == ["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]
    assert lines[events_at + 2].split()[:3] == ["Warning", "JobFailed", "19m"]  # oldest first, as kubectl
    assert "(x2)" in lines[events_at + 2]
    assert lines[events_at + 3].split()[:2] == ["Normal", "JobCreated"]


def test_describe_says_when_the_operator_lags_and_what_could_not_be_listed() -> None:
    body = schedule_body()
    body["status"]["observedGeneration"] = 1
    text = describe.render(SCHEDULE, body, None, None, NOW)
    assert field(text, "Generation seen") == "1 of 2 (the operator has not acted on the newest spec yet)"
    assert "Events:\n  (could not be listed)" in text
    assert "History:  -" in text
    assert not any(line.strip().startswith("Jobs:") for line in text.splitlines())  # not listed: not shown


def test_describe_a_webhook_names_its_secret_but_never_shows_a_value() -> None:
    body = {
        "metadata": {"name": "gh", "namespace": "ci"},
        "spec": {
            "auth": {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}}},
            "filter": 'body.ref == "refs/heads/main"',
            "target": {"sensor": "exports"},
        },
        "status": {
            "url": "/hooks/abc",
            "counters": {"received": 3, "accepted": 2, "rejected": {"BadSignature": 1}},
            "lastEventId": "delivery-1",
            "lastEventTime": at(59),
        },
    }
    text = describe.render(WEBHOOK, body, [], [], NOW)
    assert field(text, "Auth") == "hmac github (Secret hook, key secret)"
    assert field(text, "Filter") == 'body.ref == "refs/heads/main"'
    assert field(text, "Target") == "sensor/exports"
    assert field(text, "URL") == "/hooks/abc"
    assert field(text, "Last event") == "2026-05-01T11:59:00Z (60s ago), delivery-1"
    assert field(text, "Requests") == "received 3, accepted 2"
    assert field(text, "Refused") == "BadSignature 1"
    assert text.splitlines()[-1] == "Events:  -"
    token = {"type": "token", "token": {"header": "X-Gitlab-Token", "secretRef": {"name": "gl", "key": "t"}}}
    text = describe.render(WEBHOOK, {**body, "spec": {"auth": token}}, [], [], NOW)
    assert field(text, "Auth") == "token in X-Gitlab-Token (Secret gl, key t)"


def test_describe_a_sensor_and_an_automation() -> None:
    sensor = {
        "metadata": {"name": "exports", "namespace": "etl"},
        "spec": {
            "interval": "30s",
            "source": {"http": {"url": "https://x/api", "items": "response.files", "key": "item.name"}},
            "batch": {"maxItems": 50},
        },
        "status": {
            "lastPoll": {"time": at(59, 30), "outcome": "Skipped", "items": 0, "reason": "NothingNew"},
            "nextPollTime": "2026-05-01T12:00:00Z",
            "consecutiveFailures": 0,
            "seenKeys": ["a", "b"],
        },
    }
    text = describe.render(SENSOR, sensor, [], [], NOW)
    assert field(text, "Source") == "http: GET https://x/api; items response.files; key item.name"
    assert field(text, "Batch") == "up to 50 items, waiting up to 0s"
    assert field(text, "Last poll") == "2026-05-01T11:59:30Z (30s ago): Skipped, 0 new item(s) (NothingNew)"
    assert field(text, "Next poll") == "2026-05-01T12:00:00Z (0s ago)"
    assert field(text, "Keys remembered") == "2"
    assert "Failures in a row" not in text
    automation = {
        "metadata": {"name": "late", "namespace": "etl"},
        "spec": {
            "trigger": {"match": {"type": ["jobwire.job.failed"]}, "threshold": 3, "within": "10m"},
            "actions": [{"name": "page", "notify": {}}, {"suspend": {"kind": "Schedule"}}],
        },
        "status": {"triggerCount": 4, "lastTriggeredTime": at(58)},
    }
    text = describe.render(AUTOMATION, automation, [], [], NOW)
    assert field(text, "Posture") == "Reactive"
    assert field(text, "Match") == "type jobwire.job.failed"
    assert field(text, "Fires on") == "3 event(s) within 10m"
    assert field(text, "Actions") == "page, suspend"
    assert field(text, "Firings") == "4"
    assert field(text, "Last fired") == "2026-05-01T11:58:00Z (2m ago)"
