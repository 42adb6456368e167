"""The base every API model derives from, and the vocabulary for CRD schema extras.

Models use snake_case in Python and camelCase on the wire, like every Kubernetes API. They are frozen:
a spec read from the API server is a value, never mutated in place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ApiModel", "rule", "rules"]


class ApiModel(BaseModel):
    """A part of a Jobwire resource: camelCase on the wire, immutable in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        use_enum_values=True,
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready form, as the API server stores it (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def rule(expression: str, message: str, *, field_path: str | None = None, reason: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry: a CEL rule the API server checks at `kubectl apply`."""
    entry = {"rule": expression, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


def rules(*entries: dict[str, str]) -> dict[str, Any]:
    """The `json_schema_extra` that attaches CEL validation rules to a model or a field."""
    return {"x-kubernetes-validations": list(entries)}
