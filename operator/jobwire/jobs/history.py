"""A producer's run history in its status: pure arithmetic on the wire-format dicts (camelCase, as stored).

Watches deliver a Job's events at least once and in any order after a restart, so every `record_*` function is
idempotent: it returns a new status equal to the old one when it has already seen that Job (or that skip). The
input is never mutated, so the caller can diff old against new and patch only what changed.

Status keys written here (see `ProducerStatus`): `active`, `activeCount`, `lastRun`, `recentRuns` (newest first,
at most `RECENT_RUNS_LIMIT`), `totals`, `countedBefore`, `startsCounted`, `lastSuccessfulTime` (Schedules), `lastSkip`,
`prunedJobs` (oldest first, at most `PRUNED_LIMIT`). Times are RFC 3339 UTC with a Z, to the second, like every
Kubernetes time.

Which finished Jobs are counted already, after a restart replays them all: those in `recentRuns`, and those that
ended before `countedBefore`. Every record of a finish counts, in the same write, each finished Job of the
producer's listing not counted yet (`record_finishes`), then moves `countedBefore` to the newest end among them:
a Job still running then, or made afterwards, ends at that second or later (the job controller's clock, which
stamps every end, only goes forward), so everything before it is counted. Jobs that end in the same second as
that newest one are told apart by `recentRuns` alone: a restart counts one again only if more than
`RECENT_RUNS_LIMIT` of a producer's Jobs ended within that one second.

Which running Jobs are counted already, after a restart or a takeover replays them all: those in `active`, and —
when `activeCount` says more run than `active` lists — those created at or before `startsCounted.before`. Every
start record moves `startsCounted.newest` to the newest creation time counted; the first one of a leadership term
(`term`, new in each process and at each takeover) copies it to `before`, which then stays for the whole term. A
Job the earlier terms counted was created at or before their newest (the watch delivers Jobs in the order they
were made); one made while nobody watched (by a follower during a failover) after it. `before` is fixed because a
replay comes in name order, not creation order: a Job counted during it must not make an older one look counted.
Kubernetes stamps creation to the second, so a Job made while nobody watched in the same second as the earlier
terms' newest is taken for a counted one (not counted; only possible within a second of a leader's last record).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jobwire.api.common import RunResult
from jobwire.events.model import parse_rfc3339
from jobwire.status.conditions import format_time

__all__ = [
    "ACTIVE_LIMIT",
    "PRUNED_LIMIT",
    "RECENT_RUNS_LIMIT",
    "Finished",
    "job_result",
    "job_times",
    "jobs_to_delete",
    "pruned_key",
    "record_finished",
    "record_finishes",
    "record_pruned",
    "record_skipped",
    "record_started",
]

RECENT_RUNS_LIMIT = 20
"""Runs kept in `recentRuns`: enough to see a pattern, few enough to keep the resource small."""
ACTIVE_LIMIT = 50
"""Most Jobs `status.active` lists (the newest); `activeCount` counts them all. Status must stay small: it is
written often, copied by every watcher, and an object in etcd is limited to about 1.5 MB."""
PRUNED_LIMIT = 1000
"""Deleted Jobs a producer's `prunedJobs` remembers (the newest). An event whose Job is named there is a duplicate:
a retry that comes after the history limits deleted its Job does not run it again, as long as fewer than this
many of the producer's Jobs were deleted after it. 1,000 keys of 10 characters add about 13 kB to the status."""

_FAILED_CONDITIONS = ("Failed", "FailureTarget")
"""FailureTarget comes first (Kubernetes 1.31+): the Job has failed and is only stopping its Pods."""
_SUCCEEDED_CONDITIONS = ("Complete", "SuccessCriteriaMet")
"""SuccessCriteriaMet comes first (successPolicy): the Job has succeeded and is only stopping its Pods."""
_UNKNOWN_TIME = datetime.min.replace(tzinfo=UTC)
"""Where a Job without any time sorts: with the oldest, the first to go when history is trimmed."""

Status = Mapping[str, Any]


def job_result(job: Mapping[str, Any]) -> RunResult | None:
    """Succeeded or Failed from the Job's conditions; None while it is still running."""
    condition = _ending_condition(job)
    if condition is None:
        return None
    return RunResult.FAILED if condition["type"] in _FAILED_CONDITIONS else RunResult.SUCCEEDED


def job_times(job: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """(start, completion). A failed Job has no `completionTime` (Kubernetes sets it only on success), so its
    end is when its ending condition became true."""
    status = job.get("status") or {}
    completion = _time(status.get("completionTime"))
    if completion is None and (ending := _ending_condition(job)) is not None:
        completion = _time(ending.get("lastTransitionTime"))
    return _time(status.get("startTime")), completion


def record_started(
    status: Status | None,
    *,
    job_name: str,
    job_uid: str | None,
    event_id: str,
    scheduled_time: datetime | None,
    start_time: datetime | None,
    created: datetime | None = None,
    term: str | None = None,
) -> dict[str, Any]:
    """The status after the Job `job_name` was created: it is active, it is the last run, one more was created.

    `created` is the Job's creationTimestamp and `term` the recording leadership term (see `startsCounted` in the
    module's docstring): with them, a restart's replay of the running Jobs beyond the bounded `active` list counts
    none of them again, while a Job made when nobody watched (by a follower, during a failover) is counted."""
    before = dict(status or {})
    if _is_known(before, job_name):
        return before
    marks = _term_marks(before, term)
    counted_before = _time(marks.get("before"))
    if _beyond_active(before) and created is not None and counted_before is not None and created <= counted_before:
        # One of the running Jobs an earlier term counted and `active` had no room for.
        return before if marks == (before.get("startsCounted") or {}) else {**before, "startsCounted": marks}
    newest = _time(marks.get("newest"))
    if created is not None and (newest is None or created > newest):
        marks = {**marks, "newest": _format(created)}
    entry = _without_none({"name": job_name, "uid": job_uid, "eventId": event_id})
    active = [*_active(before), entry][-ACTIVE_LIMIT:]
    after = {
        **before,
        "active": active,
        "activeCount": _active_count(before) + 1,
        "lastRun": _without_none(
            {
                "job": job_name,
                "eventId": event_id,
                "scheduledTime": _format(scheduled_time),
                "startTime": _format(start_time),
                "result": RunResult.RUNNING.value,
            }
        ),
        "totals": _counted(before, "created"),
    }
    if marks:
        after["startsCounted"] = marks
    return after


def _term_marks(status: Status, term: str | None) -> dict[str, Any]:
    """`startsCounted`, with `before` set to `newest` if `term` has not recorded a start yet: what the terms before
    it counted, fixed for the whole term (a replay in name order must not move it)."""
    marks = dict(status.get("startsCounted") or {})
    if term is None or marks.get("term") == term:
        return marks
    return _without_none({**marks, "term": term, "before": marks.get("newest")})


def _beyond_active(status: Status) -> bool:
    """Whether `activeCount` tells of running Jobs that the bounded `active` list has no room for."""
    return _active_count(status) > len(_active(status))


def record_finished(
    status: Status | None,
    *,
    job_name: str,
    event_id: str,
    result: RunResult | str,
    start_time: datetime | None,
    completion_time: datetime | None,
) -> dict[str, Any]:
    """The status after the Job `job_name` finished: no longer active, at the head of `recentRuns`, counted.

    A Job whose start was never recorded (the operator was down while it ran) is counted as created too, so
    `created` never falls below `succeeded + failed`; and it becomes `lastRun` when there is none. A Job not in
    `active` while `activeCount` says some active Jobs are beyond that bounded list is taken for one of those.
    """
    outcome = RunResult(result)
    if outcome is RunResult.RUNNING:
        raise ValueError("a finished run is Succeeded or Failed, not Running")
    before = dict(status or {})
    if _is_counted(before, job_name, completion_time):
        return before
    totals = _counted(before, "succeeded" if outcome is RunResult.SUCCEEDED else "failed")
    listed = _active(before)
    active = [entry for entry in listed if entry.get("name") != job_name]
    # Listed, or one of the active Jobs the bounded list had no room for: either way one fewer runs now.
    unlisted = _active_count(before) > len(listed)
    was_active = len(active) < len(listed) or unlisted
    if not _is_known(before, job_name) and not unlisted:
        # Its start was never recorded: it is counted as created now. While some active Jobs are beyond the
        # list, it is taken for one of them, counted when it started (else each of those counted twice).
        totals = _counted({"totals": totals}, "created")
    run = _without_none(
        {
            "job": job_name,
            "eventId": event_id,
            "result": outcome.value,
            "startTime": _format(start_time),
            "durationSeconds": _duration(start_time, completion_time),
        }
    )
    after = {
        **before,
        "active": active,
        "activeCount": max(len(active), _active_count(before) - (1 if was_active else 0)),
        "recentRuns": [run, *_runs(before)][:RECENT_RUNS_LIMIT],
        "totals": totals,
    }
    last_run = before.get("lastRun")
    if last_run is None or last_run.get("job") == job_name:
        after["lastRun"] = _without_none(
            {
                "job": job_name,
                "eventId": event_id,
                **(last_run or {}),
                "startTime": _format(start_time) or (last_run or {}).get("startTime"),
                "completionTime": _format(completion_time),
                "result": outcome.value,
            }
        )
    return after


@dataclass(frozen=True)
class Finished:
    """A finished Job, as much of it as its run record needs."""

    name: str
    uid: str
    event_id: str
    result: RunResult
    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, job: Mapping[str, Any]) -> Finished | None:
        """None while the Job runs."""
        result = job_result(job)
        if result is None:
            return None
        meta = job.get("metadata") or {}
        start, end = job_times(job)
        return cls(
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            event_id=str((meta.get("annotations") or {}).get("jobwire.io/event-id", "")),
            result=result,
            start=start,
            end=end,
        )


def record_finishes(
    status: Status | None, finished: Sequence[Finished], *, listed: bool, last_success: bool = False
) -> tuple[dict[str, Any], list[Finished]]:
    """The status after the finished Jobs `finished` were seen, and those of them counted now (oldest end first).

    Each one not counted yet is counted (`record_finished`). `listed`: `finished` holds every finished Job the
    producer has (a listing, plus the one whose finish is being recorded): then `countedBefore` moves forward to
    the newest end among them, since all of them are counted now. `last_success` (Schedules): `lastSuccessfulTime`
    follows the newest success, and only ever moves forward (a replayed older Job changes nothing)."""
    updated = dict(status or {})
    counted: list[Finished] = []
    # Most of a listing is counted already: told apart here without building a status per Job.
    recent = {run.get("job") for run in _runs(updated)}
    counted_before = _time(updated.get("countedBefore"))
    for run in sorted(finished, key=lambda f: (f.end or _UNKNOWN_TIME, f.name)):
        if run.name in recent or (counted_before is not None and run.end is not None and run.end < counted_before):
            continue
        after = record_finished(
            updated,
            job_name=run.name,
            event_id=run.event_id,
            result=run.result,
            start_time=run.start,
            completion_time=run.end,
        )
        if after.get("totals") != updated.get("totals"):
            counted.append(run)
        if last_success and run.result is RunResult.SUCCEEDED and run.end is not None:
            previous = _time(after.get("lastSuccessfulTime"))
            if previous is None or run.end > previous:
                after = {**after, "lastSuccessfulTime": format_time(run.end)}
        updated = after
    ends = [run.end for run in finished if run.end is not None]
    if listed and ends:
        before = _time(updated.get("countedBefore"))
        if before is None or max(ends) > before:
            updated = {**updated, "countedBefore": format_time(max(ends))}
    return updated, counted


def record_skipped(
    status: Status | None,
    *,
    event_id: str,
    reason: str,
    message: str,
    time: datetime,
) -> dict[str, Any]:
    """The status after an event was skipped (policy, suspension, parameters...): counted, and the last skip told.
    The same event skipped for the same reason again (a retry) is the same skip."""
    before = dict(status or {})
    last_skip = before.get("lastSkip") or {}
    if last_skip.get("eventId") == event_id and last_skip.get("reason") == reason:
        return before
    return {
        **before,
        "totals": _counted(before, "skipped"),
        "lastSkip": {"time": format_time(time), "eventId": event_id, "reason": reason, "message": message},
    }


def pruned_key(job_name: str) -> str:
    """What `prunedJobs` keeps of a Job's name: its hash, the part after the last dash (`naming`). The readable
    prefix before it is the same for all of a producer's Jobs, so the hash alone tells its runs apart, in a fifth
    of the room."""
    return job_name.rsplit("-", 1)[-1]


def record_pruned(status: Status | None, job_names: Sequence[str]) -> dict[str, Any]:
    """The status after the Jobs `job_names` were deleted (by the history limits, or by anyone once finished):
    their keys appended to `prunedJobs`, the oldest dropped beyond `PRUNED_LIMIT`. Keys already there stay where
    they are, so recording a deletion twice changes nothing."""
    before = dict(status or {})
    pruned = list(before.get("prunedJobs") or [])
    known = set(pruned)
    fresh = [key for key in dict.fromkeys(pruned_key(name) for name in job_names) if key not in known]
    if not fresh:
        return before
    return {**before, "prunedJobs": [*pruned, *fresh][-PRUNED_LIMIT:]}


def jobs_to_delete(finished: Sequence[Mapping[str, Any]], successful_limit: int, failed_limit: int) -> list[str]:
    """Names of one producer's finished Jobs beyond the history limits, oldest first: per result, the newest
    `limit` runs are kept — newest by when the run was due (its scheduled time, else the Job's creation), then by
    completion, since Jobs that finish within the same second would otherwise tie. Unfinished Jobs are never named."""
    by_result: dict[RunResult, list[tuple[tuple[datetime, datetime], str]]] = {
        RunResult.SUCCEEDED: [],
        RunResult.FAILED: [],
    }
    for job in finished:
        result = job_result(job)
        if result is not None:
            by_result[result].append((_age_key(job), str((job.get("metadata") or {}).get("name", ""))))
    limits = {RunResult.SUCCEEDED: successful_limit, RunResult.FAILED: failed_limit}
    doomed: list[tuple[tuple[datetime, datetime], str]] = []
    for result, jobs in by_result.items():
        newest_first = sorted(jobs, reverse=True)
        doomed.extend(newest_first[max(0, limits[result]) :])
    return [name for _, name in sorted(doomed)]


def _ending_condition(job: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The true condition that ends the Job; a failure wins over a success should a Job carry both."""
    conditions: list[Mapping[str, Any]] = [
        c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
    ]
    for kinds in (_FAILED_CONDITIONS, _SUCCEEDED_CONDITIONS):
        for condition in conditions:
            if condition.get("type") in kinds:
                return condition
    return None


def _age_key(job: Mapping[str, Any]) -> tuple[datetime, datetime]:
    meta = job.get("metadata") or {}
    created = _time(meta.get("creationTimestamp")) or _UNKNOWN_TIME
    due = _time((meta.get("annotations") or {}).get("jobwire.io/scheduled-time")) or created
    _, completion = job_times(job)
    return due, completion or created


def _is_counted(status: Status, job_name: str, end: datetime | None) -> bool:
    """Whether the finish of this Job is in `totals` already: in `recentRuns`, or ended before `countedBefore`."""
    if any(run.get("job") == job_name for run in _runs(status)):
        return True
    counted_before = _time(status.get("countedBefore"))
    return counted_before is not None and end is not None and end < counted_before


def _is_known(status: Status, job_name: str) -> bool:
    """Whether the status already tells of this Job: active, last run, or finished."""
    return (
        any(entry.get("name") == job_name for entry in _active(status))
        or (status.get("lastRun") or {}).get("job") == job_name
        or any(run.get("job") == job_name for run in _runs(status))
    )


def _active(status: Status) -> list[dict[str, Any]]:
    return list(status.get("active") or [])


def _active_count(status: Status) -> int:
    """Running Jobs; more than `active` lists once that list is full."""
    return max(int(status.get("activeCount") or 0), len(_active(status)))


def _runs(status: Status) -> list[dict[str, Any]]:
    return list(status.get("recentRuns") or [])


def _counted(status: Status, counter: str) -> dict[str, int]:
    totals = {"created": 0, "succeeded": 0, "failed": 0, "skipped": 0, **(status.get("totals") or {})}
    totals[counter] += 1
    return totals


def _duration(start: datetime | None, completion: datetime | None) -> float | None:
    if start is None or completion is None:
        return None
    return max(0.0, (completion - start).total_seconds())


def _format(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _without_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if value is not None}
