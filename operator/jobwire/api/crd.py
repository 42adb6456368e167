"""Generate CustomResourceDefinitions from the API models: the types are the schema.

Pydantic gives JSON Schema (draft 2020-12); the API server wants a *structural* OpenAPI v3 schema: no `$ref`,
no `anyOf` for optional fields, every node typed, free-form JSON marked `x-kubernetes-preserve-unknown-fields`.
`structural()` is that translation, and `make crds` writes its output to crds/ and the chart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from jobwire.api.kinds import CATEGORY, GROUP, KINDS, VERSION, Kind

__all__ = ["crd_for", "main", "render_all", "structural"]

_DROPPED = {"title", "discriminator"}
_PASSED = {
    "type",
    "format",
    "description",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "maxProperties",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}


class SchemaError(ValueError):
    """The models use a construct that has no structural-schema form."""


def _is_scalar_default(value: Any) -> bool:
    if isinstance(value, str | int | float | bool):
        return True
    return isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)


def structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Translate one JSON-Schema node (pydantic's) to its structural OpenAPI v3 form."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return structural(merged, defs)
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return structural({**node["allOf"][0], **rest}, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise SchemaError(f"union types have no structural form: {node['anyOf']}")
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default") or (k == "default" and v is not None)}
        return structural({**options[0], **rest}, defs)

    out: dict[str, Any] = {k: v for k, v in node.items() if k in _PASSED}
    if "const" in node:
        out["enum"] = [node["const"]]
    if "exclusiveMinimum" in node:  # JSON Schema 2020 number -> OpenAPI v3.0 boolean
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if "default" in node and node["default"] is not None and _is_scalar_default(node["default"]):
        out["default"] = node["default"]

    kind = node.get("type")
    if "enum" in node and kind is None:
        out["type"] = "string" if all(isinstance(v, str) for v in node["enum"]) else "integer"
    if kind == "object" or (kind is None and "properties" in node):
        out["type"] = "object"
        if "properties" in node:
            out["properties"] = {name: structural(sub, defs) for name, sub in node["properties"].items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra, defs)
        elif "properties" not in node or extra is True:
            # Free-form, or declared fields plus any others (a model with extra="allow"): keep what is written.
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = structural(node.get("items", {}), defs)
    elif kind is None and "enum" not in node:
        # Any: free-form JSON, kept as it is.
        out["x-kubernetes-preserve-unknown-fields"] = True
    for key in node:
        if key not in _PASSED | _DROPPED | {
            "properties",
            "required",
            "additionalProperties",
            "items",
            "default",
            "const",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "$defs",
        }:
            raise SchemaError(f"no structural form for {key!r} in {node}")
    return out


def _schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def crd_for(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    spec_schema = _schema(kind.spec)
    status_schema = _schema(kind.status)
    columns = []
    for column in kind.columns:
        entry: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
        if column.description:
            entry["description"] = column.description
        if column.priority:
            entry["priority"] = column.priority
        if column.format:
            entry["format"] = column.format
        columns.append(entry)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "jobwire", "app.kubernetes.io/part-of": "jobwire"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (kind.spec.__doc__ or kind.kind).strip().splitlines()[0],
                            "required": ["spec"],
                            "x-kubernetes-validations": [NAME_RULE],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


# Jobs carry the producer's name as the label jobwire.io/name, and label values stop at 63 characters.
NAME_RULE = {
    "rule": "size(self.metadata.name) <= 63",
    "message": "metadata.name must be at most 63 characters: it labels the Jobs (jobwire.io/name)",
}

HEADER = "# Generated from operator/jobwire/api by `make crds`. Do not edit by hand.\n"


def render_all() -> dict[str, str]:
    """File name -> YAML text, for every kind."""
    return {
        f"{GROUP}_{kind.plural}.yaml": HEADER
        + yaml.safe_dump(crd_for(kind), sort_keys=False, width=120, allow_unicode=True)
        for kind in KINDS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write Jobwire's CRDs, generated from the API models.")
    parser.add_argument("out", nargs="+", type=Path, help="folders to write the CRD files into")
    args = parser.parse_args(argv)
    for folder in args.out:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f"{GROUP}_*.yaml"):
            stale.unlink()
        for name, text in render_all().items():
            (folder / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
