"""Generate docs/reference.md, the API reference, from the same schema as the CRDs.

Every field of each kind's spec and status, with its type, default and description, and the rules the API server
checks at `kubectl apply`. It reads the structural schema `crd.crd_for` makes from the models, so the reference says
exactly what the API server enforces. `make reference` (and `make crds`) writes it; a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from jobwire.api.common import DURATION_PATTERN
from jobwire.api.crd import crd_for
from jobwire.api.kinds import GROUP, KINDS, VERSION, Kind

__all__ = ["Row", "main", "model_defaults", "render", "rows", "rules", "type_of"]

HEADER = "<!-- Generated from operator/jobwire/api by `make reference` (and `make crds`). Do not edit by hand. -->\n"

CONCEPTS = {
    "Schedule": "concepts/schedule.md",
    "Sensor": "concepts/sensor.md",
    "Webhook": "concepts/webhook.md",
    "Automation": "concepts/automation.md",
}


@dataclass(frozen=True)
class Row:
    """One field: its dotted path (`[]` for the items of a list, `<key>` for the values of a map), and what it is."""

    path: str
    type: str
    default: str
    description: str


def _text(value: str) -> str:
    """One table cell: whitespace collapsed, pipes escaped."""
    return " ".join(value.split()).replace("|", "\\|")


def _code(value: Any) -> str:
    shown = value if isinstance(value, str) and value else json.dumps(value)
    return f"`{shown}`".replace("|", "\\|")


def _range(node: dict[str, Any]) -> str:
    low, high = node.get("minimum"), node.get("maximum")
    above = ">" if node.get("exclusiveMinimum") else "≥"
    below = "<" if node.get("exclusiveMaximum") else "≤"
    if low is not None and high is not None and not node.get("exclusiveMinimum") and not node.get("exclusiveMaximum"):
        return f"{low} to {high}"
    parts = [f"{above} {low}" if low is not None else "", f"{below} {high}" if high is not None else ""]
    return ", ".join(p for p in parts if p)


def type_of(node: dict[str, Any]) -> str:
    """The type of a structural-schema node in words: `string`, `duration`, `list of object`, `map of string`..."""
    if "enum" in node:
        return " \\| ".join(_code(v) for v in node["enum"])
    kind = node.get("type")
    if kind is None:
        return "any JSON" if node.get("x-kubernetes-preserve-unknown-fields") else "any"
    if kind == "string":
        if node.get("pattern") == DURATION_PATTERN:
            return "duration (`90s`, `15m`, `1h30m`)"
        if node.get("format") == "date-time":
            return "timestamp (RFC 3339)"
        return "string"
    if kind in ("integer", "number"):
        bounds = _range(node)
        return f"{kind}, {bounds}" if bounds else kind
    if kind == "array":
        items = node.get("items") or {}
        limit = f" (at most {node['maxItems']})" if "maxItems" in node else ""
        return f"list of {type_of(items)}{limit}"
    if kind == "object":
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in node:
            return f"map of {type_of(extra)}"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            return "object (more fields kept as written)" if "properties" in node else "object (any fields)"
        return "object"
    return str(kind)


def _description(node: dict[str, Any]) -> str:
    text = node.get("description")
    if not text and node.get("type") == "array":
        text = (node.get("items") or {}).get("description")
    return _text(text or "")


def model_defaults(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Path -> default of every field under `model` that has one, factories included.

    The schema (and so the API server) knows only plain defaults; a list default such as `methods: [POST]` comes
    from a factory that the operator applies when it reads the spec. Both are what a field left out means."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{info.alias or name}" if prefix else info.alias or name
        value = info.get_default(call_default_factory=True)
        if value is not PydanticUndefined and value is not None:
            found[path] = getattr(value, "value", value)  # an enum member: its wire value
        for inner, suffix in _models_in(info.annotation):
            found |= model_defaults(inner, path + suffix)
    return found


def _models_in(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds (`X`, `X | None`, `list[X]`, `dict[str, X]`) and the path suffix to them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, suffix
        return
    origin = getattr(annotation, "__origin__", None)
    args = get_args(annotation)
    if origin is list:
        yield from _models_in(args[0], suffix + "[]")
    elif origin is dict:
        yield from _models_in(args[1], suffix + ".<key>")
    else:
        for arg in args:
            yield from _models_in(arg, suffix)


def rows(node: dict[str, Any], defaults: dict[str, Any] | None = None, prefix: str = "") -> Iterator[Row]:
    """Every field under `node`, depth first in the order the models declare them. `defaults` (by path) fill in
    the defaults the schema does not hold."""
    defaults = defaults or {}
    required = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        kind = type_of(child) + (", **required**" if name in required else "")
        default = child["default"] if "default" in child else defaults.get(path)
        yield Row(path, kind, "" if default is None else _code(default), _description(child))
        yield from _nested(child, defaults, path)


def _nested(node: dict[str, Any], defaults: dict[str, Any], path: str) -> Iterator[Row]:
    if node.get("type") == "object" and "properties" in node:
        yield from rows(node, defaults, path)
    elif node.get("type") == "array":
        yield from _nested(node.get("items") or {}, defaults, f"{path}[]")
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        yield from _nested(node["additionalProperties"], defaults, f"{path}.<key>")


def rules(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, str]]:
    """(path of the field the rule names, its message) for every `x-kubernetes-validations` rule under `node`."""
    for rule in node.get("x-kubernetes-validations") or ():
        yield path + rule.get("fieldPath", ""), rule["message"]
    for name, child in (node.get("properties") or {}).items():
        yield from rules(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from rules(node["additionalProperties"], f"{path}.<key>")


def _table(found: Sequence[Row]) -> list[str]:
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{r.path}` | {r.type} | {r.default} | {r.description} |" for r in found]
    return lines


def _kind(kind: Kind) -> list[str]:
    schema = crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec, status = schema["properties"]["spec"], schema["properties"]["status"]
    names = ", ".join(f"`{n}`" for n in (kind.plural, kind.singular, *kind.short_names))
    about = " ".join(
        part
        for part in (
            f"`apiVersion: {kind.api_version}`, `kind: {kind.kind}`, namespaced; kubectl names {names}.",
            _text(spec.get("description", "")),
            f"How it behaves: [{CONCEPTS[kind.kind]}]({CONCEPTS[kind.kind]}).",
        )
        if part
    )
    lines = [
        f"## {kind.kind}",
        "",
        about,
        "",
        "### spec",
        "",
        *_table(list(rows(spec, model_defaults(kind.spec)))),
        "",
    ]
    checked = [_text(rule["message"]) for rule in schema.get("x-kubernetes-validations") or ()]
    checked += [f"`{path.lstrip('.')}`: {_text(message)}" for path, message in rules(spec, ".spec")]
    lines += ["Checked by the API server at `kubectl apply`, besides the types and ranges above:", ""]
    lines += [f"- {line}" for line in checked]
    status_rows = list(rows(status, model_defaults(kind.status)))
    lines += ["", "### status", "", "Written by the operator only.", "", *_table(status_rows), ""]
    return lines


def render() -> str:
    """The whole reference, as Markdown."""
    kinds = ", ".join(f"[{k.kind}](#{k.kind.lower()})" for k in KINDS)
    lines = [
        HEADER,
        "# API reference",
        "",
        f"The four kinds of the API group `{GROUP}`, version `{VERSION}`: {kinds}.",
        "",
        "Fields are written in camelCase, as in YAML: `a.b` is the field `b` inside `a`, `a[]` an item of the list",
        "`a`, `a.<key>` a value of the map `a`. The default is what a field left out means; an empty cell means none",
        "(the description may say what leaving it out does). The fields every producer shares (`jobTemplate`,",
        "`parameters`, `concurrencyPolicy`, `maxActive`, `maxQueued`, the history limits, `suspend`,",
        "`serviceAccountName`, and in status `conditions`, `active`, `lastRun`, `recentRuns`, `totals`, `queue`,",
        "`lastSkip`) mean the same in every kind:",
        "see [events and the pipeline](concepts/events.md).",
        "",
    ]
    for kind in KINDS:
        lines += _kind(kind)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write Jobwire's API reference, generated from the API models.")
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/reference.md"), help="the file to write")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
