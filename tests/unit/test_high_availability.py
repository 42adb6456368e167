"""High availability without a cluster: forwarding bounds, the Schedule timing a new leader compares, the flags, and
the Lease election's decisions, one round at a time against an in-memory Lease with the API server's concurrency."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from jobwire.cli.main import _parser as build_parser
from jobwire.cli.run import _operator_settings
from jobwire.controllers.schedules import starts_afresh, timing_of
from jobwire.events.model import Event
from jobwire.kube.api import JSON, Kube
from jobwire.kube.errors import AlreadyExists, Conflict, NotFound, Unavailable
from jobwire.leader.lease import LeaseElector, lease_path
from jobwire.settings import Settings
from jobwire.webhooks.forwarding import (
    MAX_ENTRIES,
    MAX_ENTRY_BYTES,
    ForwardRefused,
    appended,
    forward_entry,
    holds,
    without,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def event(event_id: str, data: Any = None) -> Event:
    return Event(id=event_id, source="/apis/jobwire.io/v1alpha1/namespaces/a/webhooks/h", type="t", time=NOW, data=data)


# --- forwarding ------------------------------------------------------------------------------------------------


def test_an_entry_carries_the_event_only_when_automations_may_want_it() -> None:
    with_event = forward_entry(event("e-1", {"x": 1}), publish=True, nudge=None, replica="r", now=NOW)
    assert with_event["event"]["data"] == {"x": 1}
    nudge_only = forward_entry(event("e-2"), publish=False, nudge="feed", replica="r", now=NOW)
    assert "event" not in nudge_only
    assert (nudge_only["id"], nudge_only["nudge"], nudge_only["replica"]) == ("e-2", "feed", "r")


def test_an_entry_too_large_to_wait_in_a_status_is_refused() -> None:
    with pytest.raises(ForwardRefused) as refused:
        forward_entry(event("big", "x" * MAX_ENTRY_BYTES), publish=True, nudge=None, replica="r", now=NOW)
    assert refused.value.reason == "EventTooLargeToForward"


def test_the_list_takes_an_id_once_and_no_more_than_its_bound() -> None:
    status: JSON = {"counters": {"received": 3}}
    for i in range(MAX_ENTRIES):
        status = appended(forward_entry(event(f"e-{i}"), publish=True, nudge=None, replica="r", now=NOW))(status)
    assert len(status["forwarded"]) == MAX_ENTRIES
    assert appended(status["forwarded"][0])(status) is status  # the same delivery again: already there
    extra = forward_entry(event("one-more"), publish=True, nudge=None, replica="r", now=NOW)
    full = appended(extra)(status)
    assert not holds(full, "one-more")  # the follower answers 503
    emptied = without([f"e-{i}" for i in range(MAX_ENTRIES)])(status)
    assert emptied == {"counters": {"received": 3}}
    assert holds(appended(extra)(emptied), "one-more")


def test_without_leaves_entries_it_does_not_name() -> None:
    status = {"forwarded": [{"id": "a"}, {"id": "b"}]}
    assert without(["a"])(status) == {"forwarded": [{"id": "b"}]}
    assert without(["c"])(status) is status


# --- Schedules: what a new leader compares ---------------------------------------------------------------------


def test_the_timing_kept_in_status_tells_a_change_a_new_leader_did_not_see() -> None:
    before = timing_of({"cron": "0 * * * *", "timeZone": "UTC", "jobTemplate": {}})
    assert before == {"cron": "0 * * * *", "timeZone": "UTC", "suspend": False}
    assert not starts_afresh(before, timing_of({"cron": "0 * * * *", "timeZone": "UTC", "maxRuns": 3}))
    assert starts_afresh(before, timing_of({"cron": "30 * * * *", "timeZone": "UTC"}))
    assert starts_afresh({**before, "suspend": True}, before)  # resumed
    assert not starts_afresh(before, {**before, "suspend": True})  # suspended: nothing to skip


# --- settings and flags -----------------------------------------------------------------------------------------


def test_leader_election_is_off_unless_asked_for() -> None:
    assert Settings.from_env({}).leader_election.enabled is False
    chart = Settings.from_env(
        {
            "JOBWIRE_LEADER_ELECTION": "true",
            "JOBWIRE_LEADER_ELECTION_NAMESPACE": "jobwire-system",
            "JOBWIRE_LEADER_ELECTION_LEASE_NAME": "jw-leader",
            "JOBWIRE_LEADER_ELECTION_LEASE_SECONDS": "4",
            "JOBWIRE_LEADER_ELECTION_RENEW_SECONDS": "1",
        }
    ).leader_election
    assert (chart.enabled, chart.namespace, chart.lease_name) == (True, "jobwire-system", "jw-leader")
    assert (chart.lease_seconds, chart.renew_seconds) == (4.0, 1.0)


def test_the_flag_turns_it_on_and_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBWIRE_LEADER_ELECTION", "true")
    parser = build_parser()
    assert _operator_settings(parser.parse_args(["run"])).leader_election.enabled is True
    assert _operator_settings(parser.parse_args(["run", "--no-leader-election"])).leader_election.enabled is False
    monkeypatch.delenv("JOBWIRE_LEADER_ELECTION")
    assert _operator_settings(parser.parse_args(["run", "--leader-election"])).leader_election.enabled is True


# --- the election, round by round --------------------------------------------------------------------------------


class LeaseStore:
    """One Lease with the API server's rules: create once, replace only with the resourceVersion last read."""

    def __init__(self) -> None:
        self.lease: JSON | None = None
        self.version = 0

    async def get(self, path: str, query: dict[str, str] | None = None) -> JSON:
        if self.lease is None:
            raise NotFound("no lease")
        return copy.deepcopy(self.lease)

    async def create(self, path: str, body: JSON, **_: Any) -> JSON:
        if self.lease is not None:
            raise AlreadyExists("exists")
        return self._store(body)

    async def replace(self, path: str, body: JSON) -> JSON:
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("stale resourceVersion")
        return self._store(body)

    def _store(self, body: JSON) -> JSON:
        self.version += 1
        self.lease = copy.deepcopy({**body, "metadata": {**body["metadata"], "resourceVersion": str(self.version)}})
        return copy.deepcopy(self.lease)


class Candidate:
    def __init__(self, store: LeaseStore, identity: str) -> None:
        self.events: list[str] = []
        self.elector = LeaseElector(
            cast(Kube, store),
            namespace="ns",
            name="jobwire-leader",
            identity=identity,
            lease_seconds=15,
            renew_seconds=5,
            on_started=self._started,
            on_stopped=self._stopped,
        )

    async def _started(self) -> None:
        self.events.append("started")

    async def _stopped(self) -> None:
        self.events.append("stopped")

    async def round(self) -> None:
        await self.elector._round()

    def age(self, seconds: float) -> None:
        """As if this candidate had last seen the Lease change `seconds` earlier."""
        self.elector._seen_at -= seconds


async def test_the_first_creates_the_lease_and_the_other_follows_until_it_expires() -> None:
    store = LeaseStore()
    a, b = Candidate(store, "a"), Candidate(store, "b")
    await a.round()
    await b.round()
    assert (a.elector.leading, b.elector.leading) == (True, False)
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "a"
    b.age(14)
    await b.round()  # 14s < 15s: still a's
    assert not b.elector.leading
    await a.round()  # a renews: b sees the Lease move and starts counting again
    await b.round()
    b.age(14)
    await b.round()
    assert not b.elector.leading
    b.age(2)  # a renewed nothing for 16s (a was killed)
    await b.round()
    assert b.elector.leading
    assert b.events == ["started"]
    assert store.lease["spec"]["holderIdentity"] == "b"
    assert store.lease["spec"]["leaseTransitions"] == 1
    await a.round()  # a comes back: the Lease is b's, a steps down at once
    assert a.events == ["started", "stopped"]
    assert not a.elector.leading


async def test_of_two_followers_taking_an_expired_lease_over_exactly_one_wins() -> None:
    store = LeaseStore()
    old, b, c = Candidate(store, "old"), Candidate(store, "b"), Candidate(store, "c")
    await old.round()
    await b.round()
    await c.round()
    b.age(16)
    c.age(16)
    lease = await store.get("")
    # Both read the same version; b writes first, c's write carries a stale resourceVersion.
    await b.elector._write(lease, lease["spec"], 0.0, acquired=True)
    await c.elector._write(lease, lease["spec"], 0.0, acquired=True)
    assert (b.elector.leading, c.elector.leading) == (True, False)
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] == "b"


async def test_a_released_lease_is_taken_at_the_next_look_and_never_retaken_by_who_released_it() -> None:
    store = LeaseStore()
    a, b = Candidate(store, "a"), Candidate(store, "b")
    await a.round()
    await b.round()
    await a.elector.release()
    assert store.lease is not None
    assert "holderIdentity" not in store.lease["spec"]
    await a.round()
    assert not a.elector.leading  # it is stopping
    await b.round()  # no holder: no need to wait the Lease out
    assert b.elector.leading
    assert lease_path("ns", "x") == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x"


async def test_a_leader_that_cannot_renew_steps_down_before_anyone_may_take_over() -> None:
    store = LeaseStore()
    a = Candidate(store, "a")
    await a.round()

    async def unavailable(path: str, body: JSON) -> JSON:
        raise Unavailable("the API server is away")

    store.replace = unavailable  # type: ignore[method-assign]
    with pytest.raises(Unavailable):
        await a.round()
    a.elector._renewed -= 9.9  # lease 15 - renew 5 = 10: not yet
    await a.elector._step_down_if_stale()
    assert a.elector.leading
    a.elector._renewed -= 0.2
    await a.elector._step_down_if_stale()
    assert (a.elector.leading, a.events) == (False, ["started", "stopped"])


def test_renewing_must_be_quicker_than_the_lease() -> None:
    store = LeaseStore()
    a = Candidate(store, "a")
    with pytest.raises(ValueError, match="renew_seconds < lease_seconds"):
        LeaseElector(
            cast(Kube, store),
            namespace="ns",
            name="n",
            identity="x",
            lease_seconds=5,
            renew_seconds=5,
            on_started=a._started,
            on_stopped=a._stopped,
        )
