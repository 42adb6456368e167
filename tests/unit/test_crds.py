"""The CRDs are generated from the models: the committed YAML must be what the models generate now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobwire.api.crd import SchemaError, crd_for, render_all, structural
from jobwire.api.kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder", ["crds", "charts/jobwire/crds"])
def test_committed_crds_match_the_models(folder: str) -> None:
    expected = render_all()
    committed = {p.name: p.read_text() for p in (ROOT / folder).glob("jobwire.io_*.yaml")}
    assert set(committed) == set(expected), f"{folder}: files differ; run `make crds`"
    for name, text in expected.items():
        assert committed[name] == text, f"{folder}/{name} is stale; run `make crds`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schemas_are_structural(kind: Any) -> None:
    schema = crd_for(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert not {"$ref", "anyOf", "allOf"} & set(node), path
        if path.endswith("/properties") or path.endswith("x-kubernetes-validations") or "additionalPrinter" in path:
            continue
        if "properties" in node or "items" in node or "type" in node:
            assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), f"untyped node at {path}"


def test_status_fields_are_declared_so_nothing_is_pruned() -> None:
    schedule = crd_for(KINDS[0])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status = schedule["properties"]["status"]["properties"]
    for field in ("observedGeneration", "conditions", "active", "lastRun", "recentRuns", "nextScheduleTimes"):
        assert field in status


def test_an_unsupported_union_is_an_error_not_a_silent_schema() -> None:
    with pytest.raises(SchemaError, match="union"):
        structural({"anyOf": [{"type": "string"}, {"type": "integer"}]}, {})


def test_generated_yaml_parses_back() -> None:
    for text in render_all().values():
        crd = yaml.safe_load(text)
        assert crd["spec"]["names"]["categories"] == ["jobwire"]
