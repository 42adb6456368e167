"""docs/reference.md is generated from the models: the committed file must be what they generate now, and it must
list every field of every kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from jobwire.api.common import DURATION_PATTERN
from jobwire.api.crd import crd_for
from jobwire.api.kinds import KINDS, SENSOR, WEBHOOK, Kind
from jobwire.api.reference import Row, model_defaults, render, rows, rules, type_of

ROOT = Path(__file__).resolve().parents[2]


def test_committed_reference_matches_the_models() -> None:
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == render(), "docs/reference.md is stale: run `make reference` (or `make crds`)"


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    """Every field path under a model, found from the Python types (independently of the schema walk)."""
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.alias or name}" if prefix else info.alias or name
        yield path
        yield from _under(info.annotation, path)


def _under(annotation: Any, path: str) -> Iterator[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from field_paths(annotation, path)
        return
    origin = getattr(annotation, "__origin__", None)
    for arg in getattr(annotation, "__args__", ()):
        suffix = "[]" if origin is list else ".<key>" if origin is dict else ""
        yield from _under(arg, path + suffix)


def schema_of(kind: Kind, part: str) -> dict[str, Any]:
    found: dict[str, Any] = crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][part]
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_every_field_of_spec_and_status_is_listed(kind: Kind) -> None:
    reference = render()
    section = reference.split(f"## {kind.kind}\n", 1)[1].split("\n## ", 1)[0]
    for part, model in (("spec", kind.spec), ("status", kind.status)):
        listed = [row.path for row in rows(schema_of(kind, part))]
        assert len(listed) == len(set(listed)), f"{kind.kind} {part}: a path is listed twice"
        assert set(field_paths(model)) <= set(listed), f"{kind.kind} {part}: fields missing from the reference"
        table = section.split(f"### {part}\n", 1)[1]
        for path in listed:
            assert f"| `{path}` |" in table, f"{kind.kind} {part}.{path} is not in docs/reference.md"


def by_path(kind: Kind, part: str, path: str) -> Row:
    model = kind.spec if part == "spec" else kind.status
    [row] = [r for r in rows(schema_of(kind, part), model_defaults(model)) if r.path == path]
    return row


def test_rows_give_type_default_and_description() -> None:
    interval = by_path(SENSOR, "spec", "interval")
    assert interval == Row("interval", "duration (`90s`, `15m`, `1h30m`)", "`30s`", "Time between polls (at least 1s).")
    bucket = by_path(SENSOR, "spec", "source.s3.bucket")
    assert (bucket.type, bucket.default) == ("string, **required**", "")
    policy = by_path(SENSOR, "spec", "concurrencyPolicy")
    assert (policy.type, policy.default) == ("`Allow` \\| `Forbid` \\| `Replace` \\| `Queue`", "`Allow`")
    assert by_path(SENSOR, "spec", "batch.maxItems").type == "integer, 1 to 10000"
    assert by_path(SENSOR, "spec", "source.http.headers[].secretRef.key").type == "string, **required**"
    assert by_path(SENSOR, "status", "lastPoll.time").type == "timestamp (RFC 3339), **required**"


def test_defaults_made_by_a_factory_are_shown_too() -> None:
    # The schema has no default for these (pydantic does not call factories for it); the model applies one.
    assert "default" not in schema_of(WEBHOOK, "spec")["properties"]["methods"]
    assert by_path(WEBHOOK, "spec", "methods").default == '`["POST"]`'
    assert by_path(WEBHOOK, "spec", "auth.hmac.preset").default == "`generic`"


def test_type_words() -> None:
    assert type_of({"type": "string", "pattern": DURATION_PATTERN}) == "duration (`90s`, `15m`, `1h30m`)"
    assert type_of({"type": "object", "additionalProperties": {"type": "integer"}}) == "map of integer"
    assert type_of({"type": "array", "maxItems": 3, "items": {"type": "string"}}) == "list of string (at most 3)"
    assert type_of({"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 5}) == "number, > 0, ≤ 5"
    assert type_of({"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == "object (any fields)"
    assert type_of({"x-kubernetes-preserve-unknown-fields": True}) == "any JSON"


def test_the_api_servers_rules_are_listed_with_their_fields() -> None:
    found = list(rules(schema_of(SENSOR, "spec"), ".spec"))
    assert (".spec.source", "set exactly one of http, s3, sql, kubernetes, prometheus") in found
    assert (".spec.source.http.key", "items and key go together") in found
    assert "- `spec.source`: set exactly one of http, s3, sql, kubernetes, prometheus" in render()
