"""Prometheus metrics: one registry, every metric Jobwire exports, documented in docs/metrics.md.

Labels never carry secrets or unbounded values from requests (no paths, no event ids).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """All of Jobwire's metrics, on a registry of their own (so tests can make a fresh set)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "jobwire_events_total",
            "Events received, by producer kind and event type.",
            ["kind", "type"],
            registry=r,
        )
        self.jobs_created = Counter(
            "jobwire_jobs_created_total", "Jobs created, by producer kind.", ["kind"], registry=r
        )
        self.runs_skipped = Counter(
            "jobwire_runs_skipped_total",
            "Events that made no Job, by kind and reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.event_to_job = Histogram(
            "jobwire_event_to_job_seconds",
            "From an event's time to its Job existing in the API server.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.webhook_responses = Counter(
            "jobwire_webhook_responses_total", "Webhook responses, by status code.", ["code"], registry=r
        )
        self.webhook_latency = Histogram(
            "jobwire_webhook_request_seconds",
            "Webhook request handling time.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sensor_polls = Counter(
            "jobwire_sensor_polls_total",
            "Sensor polls, by source and outcome.",
            ["source", "outcome"],
            registry=r,
        )
        self.sensor_poll_seconds = Histogram(
            "jobwire_sensor_poll_seconds",
            "Sensor poll duration.",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.automation_firings = Counter("jobwire_automation_firings_total", "Automation firings.", registry=r)
        self.automation_action_failures = Counter(
            "jobwire_automation_action_failures_total",
            "Automation actions that failed, by action type.",
            ["action"],
            registry=r,
        )
        self.automation_keys_evicted = Counter(
            "jobwire_automation_keys_evicted_total",
            "forEach keys dropped (least recently seen first) because an Automation had maxKeys of them.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "jobwire_queue_depth",
            "Events waiting under concurrencyPolicy Queue, over all producers.",
            registry=r,
        )
        self.reconcile_errors = Counter(
            "jobwire_reconcile_errors_total", "Handler errors, by kind.", ["kind"], registry=r
        )
        self.leader = Gauge(
            "jobwire_leader",
            "1 while this replica leads (runs Schedules, Sensors, Automations and the Job tracker), else 0.",
            registry=r,
        )
        self.forwarded = Counter(
            "jobwire_webhook_forwarded_total",
            "Webhook requests handed to the leader through the Webhook's status, by step (sent, consumed).",
            ["step"],
            registry=r,
        )
        self.schedule_lateness = Histogram(
            "jobwire_schedule_lateness_seconds",
            "From a tick's scheduled instant (with jitter) to its Job existing.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
