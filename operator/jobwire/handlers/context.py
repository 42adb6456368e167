"""Everything the handlers use, built once at start-up and handed to Kopf as its `memo`."""

from __future__ import annotations

from dataclasses import dataclass

from jobwire.controllers.automations import AutomationController
from jobwire.controllers.schedules import ScheduleController
from jobwire.controllers.sensors import SensorController
from jobwire.controllers.webhooks import WebhookController
from jobwire.events.bus import EventBus
from jobwire.jobs.pipeline import Pipeline
from jobwire.jobs.tracker import Tracker
from jobwire.kube.api import Kube
from jobwire.kube.events import EventRecorder
from jobwire.kube.status import StatusWriter
from jobwire.leader.gate import Leadership
from jobwire.metrics import Metrics
from jobwire.settings import Settings
from jobwire.timing.clock import Clock

__all__ = ["Context"]


@dataclass
class Context:
    settings: Settings
    kube: Kube
    metrics: Metrics
    clock: Clock
    """The clock every decision reads; tests inject their own."""
    status: StatusWriter
    recorder: EventRecorder
    bus: EventBus
    pipeline: Pipeline
    tracker: Tracker
    schedules: ScheduleController
    webhooks: WebhookController
    sensors: SensorController
    automations: AutomationController
    leadership: Leadership
    """Which engines this replica feeds: all while it leads (always, without leader election)."""
    identity: str = ""
    """This replica's name: in the Lease, and the reportingInstance of its Events."""
