"""Look up a producer's current Target (for the tracker: history limits and the queue)."""

from __future__ import annotations

from pydantic import ValidationError

from jobwire.api.automation import AutomationSpec
from jobwire.api.kinds import KINDS
from jobwire.controllers.automations import run_spec
from jobwire.events.model import ProducerRef
from jobwire.jobs.pipeline import RunSpec, Target
from jobwire.jobs.tracker import TargetResolver
from jobwire.kube.errors import NotFound
from jobwire.kube.status import StatusWriter

__all__ = ["resolver"]


def resolver(status: StatusWriter) -> TargetResolver:
    by_kind = {k.kind: k for k in KINDS}

    async def resolve(kind: str, namespace: str, name: str) -> Target | None:
        info = by_kind.get(kind)
        if info is None:
            return None
        try:
            body = await status.read(info.plural, namespace, name)
        except NotFound:
            return None
        try:
            spec = info.spec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None
        run = _automation_run(spec) if isinstance(spec, AutomationSpec) else RunSpec.of(spec)  # type: ignore[arg-type]
        if run is None:
            return None
        ref = ProducerRef(kind=kind, namespace=namespace, name=name, uid=body["metadata"].get("uid", ""))
        return Target(ref=ref, plural=info.plural, run=run)

    return resolve


def _automation_run(spec: AutomationSpec) -> RunSpec | None:
    """An Automation's Jobs keep its history limits; the first runJob stands for all (limits are the Automation's)."""
    first = next((a.run_job for a in spec.actions if a.run_job is not None), None)
    return run_spec(spec, first) if first is not None else None
