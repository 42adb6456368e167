"""Accept or refuse each resource's spec, and say so in `Ready` and `observedGeneration`.

The API server already refuses what its schema and CEL rules can tell; this catches the rest (checks that need
code) and turns it into a condition instead of a crash.
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from jobwire.api.kinds import GROUP, VERSION, Kind
from jobwire.handlers.context import Context
from jobwire.status.conditions import Verdict, set_condition

__all__ = ["check_spec", "register"]


def check_spec(kind: Kind, spec: dict[str, Any]) -> Verdict:
    """The model's view of a spec: the first problem becomes the reason and message."""
    try:
        kind.spec.model_validate(spec)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        return Verdict(False, "InvalidSpec", f"spec.{where}: {first['msg']}")
    return Verdict(True, "Accepted", f"{kind.kind} accepted")


def register(registry: kopf.OperatorRegistry, kind: Kind) -> None:
    """Acceptance handlers for a kind whose behaviour comes with its own issue."""

    @kopf.on.resume(GROUP, VERSION, kind.plural, registry=registry)
    @kopf.on.create(GROUP, VERSION, kind.plural, registry=registry)
    @kopf.on.update(GROUP, VERSION, kind.plural, field="spec", registry=registry)
    async def accept(
        spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, memo: Context, **_: Any
    ) -> None:
        verdict = check_spec(kind, dict(spec))
        patch.status["observedGeneration"] = meta.get("generation")
        patch.status["conditions"] = set_condition(
            list(status.get("conditions") or []),
            kind="Ready",
            status="True" if verdict.ok else "False",
            reason=verdict.reason,
            message=verdict.message,
            generation=meta.get("generation"),
            now=memo.clock.now(),
        )
