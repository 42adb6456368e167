"""docs/metrics.md lists every metric of operator/jobwire/metrics.py, with its type and labels, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from jobwire.metrics import Metrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(?P<name>[a-z_:]+)` \| (?P<type>\w+) \| (?P<labels>[^|]*) \| (?P<meaning>.*) \|$")

Shape = tuple[str, tuple[str, ...]]


def exported() -> dict[str, Shape]:
    """Name as scraped (counters with `_total`) -> (type, label names), for every metric `Metrics` registers."""
    metrics = Metrics()
    found: dict[str, Shape] = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            [family] = metric.describe()
            name = f"{family.name}_total" if family.type == "counter" else family.name
            found[name] = (family.type, tuple(metric._labelnames))
    registered = {family.name for family in metrics.registry.collect()}
    assert registered == {name.removesuffix("_total") for name in found}, "a metric not kept as an attribute"
    return found


def documented() -> dict[str, tuple[str, tuple[str, ...], str]]:
    rows: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for line in DOC.read_text().splitlines():
        if match := ROW.match(line):
            labels = tuple(re.findall(r"`([a-z_]+)`", match["labels"]))
            assert match["name"] not in rows, f"{match['name']} is in docs/metrics.md twice"
            rows[match["name"]] = (match["type"], labels, match["meaning"].strip())
    return rows


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    doc = documented()
    for name, (kind, labels) in exported().items():
        assert name in doc, f"{name} (operator/jobwire/metrics.py) is missing from docs/metrics.md"
        assert doc[name][:2] == (kind, labels), f"docs/metrics.md says {doc[name][:2]} for {name}, not {(kind, labels)}"
        assert len(doc[name][2]) > 20, f"{name} needs a meaning in docs/metrics.md"


def test_the_doc_lists_no_metric_that_does_not_exist() -> None:
    assert set(documented()) <= set(exported()), "docs/metrics.md lists metrics that metrics.py does not define"


def test_the_table_is_read_as_written() -> None:
    # The parser must see the table at all: a format change would otherwise pass the checks above vacuously.
    doc = documented()
    assert doc["jobwire_sensor_polls_total"][:2] == ("counter", ("source", "outcome"))
    assert doc["jobwire_queue_depth"][:2] == ("gauge", ())
    assert len(doc) == len(exported())
