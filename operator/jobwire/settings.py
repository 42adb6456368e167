"""Operator settings: read once at start-up, frozen, passed down (never a mutable global)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "AutomationSettings",
    "HttpSettings",
    "LeaderElectionSettings",
    "LogSettings",
    "SensorSettings",
    "Settings",
    "WatchSettings",
]


@dataclass(frozen=True)
class WatchSettings:
    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means the whole cluster."""

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


@dataclass(frozen=True)
class HttpSettings:
    host: str = "0.0.0.0"  # noqa: S104 - the probes and metrics must be reachable from the kubelet and Prometheus
    """Address the probe/metrics and webhook servers listen on."""
    probe_port: int = 8080
    """Port of /healthz, /readyz and /metrics."""
    webhook_port: int = 8081
    """Port of the webhook receiver."""


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    """Root log level."""
    json: bool = False
    """One JSON object per line instead of text."""


@dataclass(frozen=True)
class SensorSettings:
    max_polls_in_flight: int = 64
    """Polls running at once over all Sensors."""
    quiet_linger_seconds: float = 15.0
    """How long the status write of a poll that changed nothing may wait to be shared with the next polls'."""
    quiet_writes_per_second: float = 40.0
    """The most status writes a second, on average, that quiet polls cost over all Sensors: with many Sensors their
    records wait longer than `quiet_linger_seconds` (Sensors / this rate), so the API server's load stays bounded."""


@dataclass(frozen=True)
class AutomationSettings:
    checkpoint_linger_seconds: float = 2.0
    """How long a changed trigger state waits before it is written, so one write carries every change since."""
    checkpoint_writes_per_second: float = 50.0
    """The most checkpoint writes a second over all Automations. A crash loses what changed since the last write:
    at most `checkpoint_linger_seconds` plus (Automations changed) / this rate."""
    notify_backoff_seconds: float = 1.0
    """The first wait before a notification is retried; it doubles with each attempt (up to a minute)."""
    retry_seconds: float = 10.0
    """Wait before a firing interrupted by an API error is tried again."""


@dataclass(frozen=True)
class LeaderElectionSettings:
    """Several replicas: one leader, elected with a coordination.k8s.io Lease (docs/high-availability.md)."""

    enabled: bool = False
    """Off for `jobwire run` and `make run` (one process); the chart turns it on."""
    lease_name: str = "jobwire-leader"
    namespace: str = ""
    """Namespace of the Lease; empty means the operator's own (in a Pod), else `default`."""
    identity: str = ""
    """This replica's name in the Lease; empty means host name (the Pod's name) plus a random suffix."""
    lease_seconds: float = 15.0
    """How long a Lease not renewed stays the leader's: a replica takes over this long after it last saw it move."""
    renew_seconds: float = 5.0
    """How often the leader renews (and a follower looks); the leader steps down when it could not renew for
    `lease_seconds - renew_seconds`, before anyone else can take over."""


@dataclass(frozen=True)
class Settings:
    watch: WatchSettings = field(default_factory=WatchSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)
    sensors: SensorSettings = field(default_factory=SensorSettings)
    automations: AutomationSettings = field(default_factory=AutomationSettings)
    leader_election: LeaderElectionSettings = field(default_factory=LeaderElectionSettings)
    impersonate: bool = True
    """Create (and delete) Jobs as a ServiceAccount of the resource's own namespace, not as the operator: nobody
    gets a Job through Jobwire that their namespace has not allowed."""
    default_service_account: str = "jobwire-runner"
    """The ServiceAccount Jobs are created as when a resource names none (`spec.serviceAccountName`)."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from JOBWIRE_* environment variables (the chart sets them); flags override them later."""
        env = os.environ if environ is None else environ
        namespaces = tuple(ns.strip() for ns in env.get("JOBWIRE_NAMESPACES", "").split(",") if ns.strip())
        return cls(
            watch=WatchSettings(namespaces=namespaces),
            http=HttpSettings(
                host=env.get("JOBWIRE_HTTP_HOST", HttpSettings.host),
                probe_port=int(env.get("JOBWIRE_PROBE_PORT", HttpSettings.probe_port)),
                webhook_port=int(env.get("JOBWIRE_WEBHOOK_PORT", HttpSettings.webhook_port)),
            ),
            log=LogSettings(
                level=env.get("JOBWIRE_LOG_LEVEL", LogSettings.level).upper(),
                json=env.get("JOBWIRE_LOG_JSON", "").lower() in ("1", "true", "yes"),
            ),
            impersonate=env.get("JOBWIRE_IMPERSONATE", "true").lower() not in ("0", "false", "no"),
            default_service_account=env.get("JOBWIRE_DEFAULT_SERVICE_ACCOUNT", "jobwire-runner"),
            leader_election=LeaderElectionSettings(
                enabled=env.get("JOBWIRE_LEADER_ELECTION", "").lower() in ("1", "true", "yes"),
                lease_name=env.get("JOBWIRE_LEADER_ELECTION_LEASE_NAME", LeaderElectionSettings.lease_name),
                namespace=env.get("JOBWIRE_LEADER_ELECTION_NAMESPACE", ""),
                identity=env.get("JOBWIRE_LEADER_ELECTION_IDENTITY", ""),
                lease_seconds=float(env.get("JOBWIRE_LEADER_ELECTION_LEASE_SECONDS", 15.0)),
                renew_seconds=float(env.get("JOBWIRE_LEADER_ELECTION_RENEW_SECONDS", 5.0)),
            ),
        )
