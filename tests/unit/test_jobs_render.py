"""Rendering a run: the Job's metadata, env that neither the event nor the template can spoof, the event inline or
through a ConfigMap (with exact byte boundaries), and parameters of every CEL type."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jobwire.api.common import JobTemplate, Parameter
from jobwire.events.model import TICK, WEBHOOK_RECEIVED, Event, ProducerRef
from jobwire.jobs.naming import job_name
from jobwire.jobs.render import (
    EVENT_CONFIGMAP_LIMIT,
    EVENT_ENV_LIMIT,
    RenderedRun,
    RenderError,
    configmap_owned_by,
    parameter_text,
    render_run,
)

PRODUCER = ProducerRef(kind="Schedule", namespace="team-a", name="nightly.backup", uid="0f9c-uid")
T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
NAME = job_name(PRODUCER, "tick-20260329T010000Z")
EVENT_ENV_NAMES = ["JOBWIRE_EVENT_ID", "JOBWIRE_EVENT_TYPE", "JOBWIRE_EVENT_SOURCE"]


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {
        "restartPolicy": "Never",
        "containers": [
            {"name": "main", "image": "busybox", "env": [{"name": "KEEP", "value": "me"}]},
            {"name": "sidecar", "image": "envoy"},
        ],
        **extra,
    }


def template(spec: dict[str, Any] | None = None, **job_spec: Any) -> JobTemplate:
    return JobTemplate.model_validate(
        {
            "metadata": {
                "labels": {"team": "a", "jobwire.io/kind": "Spoofed"},
                "annotations": {"owner": "ops", "jobwire.io/event-id": "spoofed"},
            },
            "spec": {
                "backoffLimit": 2,
                "ttlSecondsAfterFinished": 600,
                "template": {"metadata": {"labels": {"app": "backup"}}, "spec": spec or pod_spec()},
                **job_spec,
            },
        }
    )


def event(data: Any = None, **changes: Any) -> Event:
    fields: dict[str, Any] = {
        "id": "tick-20260329T010000Z",
        "source": PRODUCER.source,
        "type": TICK,
        "time": T0,
        "data": data,
    }
    return Event(**{**fields, **changes})


def sized_event(size: int, filler: str = "x") -> Event:
    """An event whose JSON is exactly `size` bytes of UTF-8 (filler of one or two bytes)."""
    base = len(event(data={"pad": ""}).to_json().encode())
    width = len(filler.encode())
    count, remainder = divmod(size - base, width)
    result = event(data={"pad": filler * count + "x" * remainder})
    assert len(result.to_json().encode()) == size
    return result


def render(
    tpl: JobTemplate | None = None, ev: Event | None = None, parameters: list[Parameter] | None = None, **kw: Any
) -> RenderedRun:
    return render_run(PRODUCER, tpl or template(), ev or event(), parameters or [], **kw)


def containers(run: RenderedRun) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in run.job["spec"]["template"]["spec"]["containers"]}


def env(run: RenderedRun, container: str = "main") -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in containers(run)[container].get("env", [])}


def env_names(run: RenderedRun, container: str = "main") -> list[str]:
    return [e["name"] for e in containers(run)[container].get("env", [])]


def keys_of(value: Any) -> set[str]:
    """Every mapping key anywhere in `value`."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_of(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_of(item)}
    return set()


def parameter(name: str, expression: str, **kw: Any) -> Parameter:
    return Parameter(name=name, expression=expression, **kw)


# --- metadata ---------------------------------------------------------------------------------------------------


def test_job_metadata_names_the_producer_and_the_event() -> None:
    run = render(scheduled_time=T0)
    assert run.job["apiVersion"] == "batch/v1"
    assert run.job["kind"] == "Job"
    assert run.job["metadata"] == {
        "name": NAME,
        "namespace": "team-a",
        "labels": {"team": "a", "jobwire.io/kind": "Schedule", "jobwire.io/name": "nightly.backup"},
        "annotations": {
            "owner": "ops",
            "jobwire.io/event-id": "tick-20260329T010000Z",
            "jobwire.io/event-type": "jobwire.schedule.tick",
            "jobwire.io/event-source": "/apis/jobwire.io/v1alpha1/namespaces/team-a/schedules/nightly.backup",
            "jobwire.io/scheduled-time": "2026-03-29T01:00:00Z",
        },
        "ownerReferences": [
            {
                "apiVersion": "jobwire.io/v1alpha1",
                "kind": "Schedule",
                "name": "nightly.backup",
                "uid": "0f9c-uid",
                "controller": True,
            }
        ],
    }
    assert run.event_configmap is None


def test_scheduled_time_is_written_in_utc_and_left_out_when_not_given() -> None:
    local = datetime(2026, 3, 29, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    assert render(scheduled_time=local).job["metadata"]["annotations"]["jobwire.io/scheduled-time"] == (
        "2026-03-29T01:00:00Z"
    )
    assert "jobwire.io/scheduled-time" not in render().job["metadata"]["annotations"]


def test_owner_kind_overrides_the_owner_references_kind_only() -> None:
    run = render(owner_kind="Automation")
    assert run.job["metadata"]["ownerReferences"][0]["kind"] == "Automation"
    assert run.job["metadata"]["labels"]["jobwire.io/kind"] == "Schedule"


def test_a_template_without_metadata_gets_only_our_labels_and_annotations() -> None:
    bare = JobTemplate.model_validate({"spec": {"template": {"spec": pod_spec()}}})
    run = render(bare)
    assert run.job["metadata"]["labels"] == {"jobwire.io/kind": "Schedule", "jobwire.io/name": "nightly.backup"}
    assert set(run.job["metadata"]["annotations"]) == {
        "jobwire.io/event-id",
        "jobwire.io/event-type",
        "jobwire.io/event-source",
    }
    assert run.job["spec"]["template"]["metadata"]["labels"] == run.job["metadata"]["labels"]


# --- spec -------------------------------------------------------------------------------------------------------


def test_the_spec_keeps_every_template_field_and_the_pod_gets_our_labels() -> None:
    tpl = template(pod_spec(serviceAccountName="backup-sa"), activeDeadlineSeconds=300)
    run = render(tpl, service_account="jobwire-runner")
    spec = run.job["spec"]
    assert (spec["backoffLimit"], spec["ttlSecondsAfterFinished"], spec["activeDeadlineSeconds"]) == (2, 600, 300)
    assert spec["template"]["metadata"]["labels"] == {
        "app": "backup",
        "jobwire.io/kind": "Schedule",
        "jobwire.io/name": "nightly.backup",
    }
    # The service account the Job is created with is not the Pod's identity.
    assert spec["template"]["spec"]["serviceAccountName"] == "backup-sa"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_our_pod_labels_win_over_the_templates() -> None:
    spec = {"metadata": {"labels": {"jobwire.io/name": "other"}}, "spec": pod_spec()}
    tpl = JobTemplate.model_validate({"spec": {"template": spec}})
    assert render(tpl).job["spec"]["template"]["metadata"]["labels"]["jobwire.io/name"] == "nightly.backup"


def test_rendering_changes_neither_the_template_nor_earlier_results() -> None:
    tpl = template(pod_spec(initContainers=[{"name": "init", "image": "x", "env": [{"name": "A", "value": "1"}]}]))
    before = tpl.model_dump(mode="json", by_alias=True)
    first = render(tpl, event(data={"a": 1}))
    snapshot = copy.deepcopy(first.job)
    second = render(tpl, event(data={"a": 1}))
    assert tpl.model_dump(mode="json", by_alias=True) == before
    assert first.job == snapshot == second.job


def test_the_job_is_json_ready() -> None:
    run = render(ev=event(data={"when": "now"}), parameters=[parameter("WHEN", "timestamp(event.time)")])
    assert json.loads(json.dumps(run.job)) == run.job


# --- event env --------------------------------------------------------------------------------------------------


def test_every_regular_container_gets_the_event_env_first() -> None:
    ev = event(data={"n": 1})
    run = render(ev=ev)
    for name in ("main", "sidecar"):
        assert env_names(run, name)[:4] == [*EVENT_ENV_NAMES, "JOBWIRE_EVENT"]
        assert env(run, name)["JOBWIRE_EVENT_ID"] == "tick-20260329T010000Z"
        assert env(run, name)["JOBWIRE_EVENT_TYPE"] == "jobwire.schedule.tick"
        assert env(run, name)["JOBWIRE_EVENT_SOURCE"] == PRODUCER.source
        assert env(run, name)["JOBWIRE_EVENT"] == ev.to_json()
    assert env_names(run, "main") == [*EVENT_ENV_NAMES, "JOBWIRE_EVENT", "KEEP"]


def test_init_containers_are_left_exactly_as_written() -> None:
    init = [{"name": "init", "image": "x", "env": [{"name": "JOBWIRE_EVENT_ID", "value": "mine"}]}]
    run = render(template(pod_spec(initContainers=copy.deepcopy(init))))
    assert run.job["spec"]["template"]["spec"]["initContainers"] == init


def test_our_variables_replace_same_named_template_env_wherever_it_was() -> None:
    spoofing = pod_spec()
    spoofing["containers"][0]["env"] = [
        {"name": "JOBWIRE_EVENT", "value": '{"id":"fake"}'},
        {"name": "KEEP", "value": "me"},
        {"name": "JOBWIRE_EVENT_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "JOBWIRE_EVENT_FILE", "value": "/etc/passwd"},
        {"name": "LATER", "value": "$(JOBWIRE_EVENT_ID)"},
    ]
    run = render(template(spoofing))
    main = containers(run)["main"]["env"]
    assert [e["name"] for e in main] == [*EVENT_ENV_NAMES, "JOBWIRE_EVENT", "KEEP", "LATER"]
    assert main[0] == {"name": "JOBWIRE_EVENT_ID", "value": "tick-20260329T010000Z"}
    assert env(run)["JOBWIRE_EVENT"] == event().to_json()
    # The template's own env may refer to ours, because ours come first.
    assert main[-1] == {"name": "LATER", "value": "$(JOBWIRE_EVENT_ID)"}


def test_dollar_signs_from_the_event_are_escaped_from_kubelet_expansion() -> None:
    ev = event(data={"cmd": "$(DB_PASSWORD) costs $5 $$"}, id="id-$(HOME)")
    run = render(ev=ev, parameters=[parameter("CMD", "event.data.cmd")])
    assert env(run)["CMD"] == "$$(DB_PASSWORD) costs $$5 $$$$"
    assert env(run)["JOBWIRE_EVENT_ID"] == "id-$$(HOME)"
    assert env(run)["JOBWIRE_EVENT"] == ev.to_json().replace("$", "$$")
    # Annotations are not expanded by anything: they keep the id as it is.
    assert run.job["metadata"]["annotations"]["jobwire.io/event-id"] == "id-$(HOME)"


def test_event_values_only_ever_land_in_value_fields() -> None:
    hostile = {"name": "x\n  privileged: true", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    run = render(ev=event(data=hostile), parameters=[parameter("DATA", "event.data")])
    entry = next(e for e in containers(run)["main"]["env"] if e["name"] == "DATA")
    assert entry == {"name": "DATA", "value": json.dumps(hostile, separators=(",", ":"), sort_keys=True)}
    assert not {"privileged", "privileged: true", "securityContext"} & keys_of(run.job)
    assert containers(run)["sidecar"].keys() == {"name", "image", "env"}


# --- event size ------------------------------------------------------------------------------------------------


def test_an_event_of_exactly_32_kib_goes_inline() -> None:
    ev = sized_event(EVENT_ENV_LIMIT)
    run = render(ev=ev)
    assert run.event_configmap is None
    assert env(run)["JOBWIRE_EVENT"] == ev.to_json()
    assert "JOBWIRE_EVENT_FILE" not in env(run)
    assert "volumes" not in run.job["spec"]["template"]["spec"]


def test_one_byte_more_goes_through_a_configmap() -> None:
    ev = sized_event(EVENT_ENV_LIMIT + 1)
    run = render(ev=ev)
    assert run.event_configmap == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{NAME}-event",
            "namespace": "team-a",
            "labels": {"jobwire.io/kind": "Schedule", "jobwire.io/name": "nightly.backup"},
            "annotations": {"jobwire.io/event-id": "tick-20260329T010000Z"},
        },
        "immutable": True,
        "data": {"event.json": ev.to_json()},
    }
    pod = run.job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "jobwire-event", "configMap": {"name": f"{NAME}-event"}}]
    for name in ("main", "sidecar"):
        assert "JOBWIRE_EVENT" not in env(run, name)
        assert env(run, name)["JOBWIRE_EVENT_FILE"] == "/var/run/jobwire/event.json"
        assert env_names(run, name)[:4] == [*EVENT_ENV_NAMES, "JOBWIRE_EVENT_FILE"]
        assert containers(run)[name]["volumeMounts"] == [
            {"name": "jobwire-event", "mountPath": "/var/run/jobwire", "readOnly": True}
        ]


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    ev = sized_event(EVENT_ENV_LIMIT + 2, filler="é")
    assert len(ev.to_json()) <= EVENT_ENV_LIMIT
    assert render(ev=ev).event_configmap is not None


def test_configmap_delivery_keeps_template_volumes_and_mounts_but_replaces_ours() -> None:
    spec = pod_spec(
        volumes=[{"name": "data", "emptyDir": {}}, {"name": "jobwire-event", "emptyDir": {}}],
        initContainers=[{"name": "init", "image": "x"}],
    )
    spec["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"},
        {"name": "other", "mountPath": "/var/run/jobwire"},
        {"name": "jobwire-event", "mountPath": "/elsewhere"},
    ]
    spec["containers"][0]["env"] = [{"name": "JOBWIRE_EVENT", "value": "fake"}]
    run = render(template(spec), sized_event(EVENT_ENV_LIMIT + 100))
    pod = run.job["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "data", "emptyDir": {}},
        {"name": "jobwire-event", "configMap": {"name": f"{NAME}-event"}},
    ]
    assert containers(run)["main"]["volumeMounts"] == [
        {"name": "data", "mountPath": "/data"},
        {"name": "jobwire-event", "mountPath": "/var/run/jobwire", "readOnly": True},
    ]
    assert "JOBWIRE_EVENT" not in env(run)
    assert pod["initContainers"] == [{"name": "init", "image": "x"}]


def test_an_event_of_exactly_the_configmap_limit_is_accepted() -> None:
    run = render(ev=sized_event(EVENT_CONFIGMAP_LIMIT))
    assert run.event_configmap is not None
    assert len(run.event_configmap["data"]["event.json"].encode()) == EVENT_CONFIGMAP_LIMIT


def test_a_larger_event_is_refused() -> None:
    with pytest.raises(RenderError) as caught:
        render(ev=sized_event(EVENT_CONFIGMAP_LIMIT + 1))
    assert caught.value.reason == "EventTooLarge"
    assert str(caught.value) == caught.value.message == "event is 921601 bytes; the most a Job can receive is 921600"


def test_the_configmap_is_owned_by_the_job_once_created() -> None:
    configmap = render(ev=sized_event(EVENT_ENV_LIMIT + 1)).event_configmap
    assert configmap is not None
    before = copy.deepcopy(configmap)
    owned = configmap_owned_by(configmap, NAME, "job-uid")
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": NAME, "uid": "job-uid", "controller": True}
    ]
    assert {**owned, "metadata": {k: v for k, v in owned["metadata"].items() if k != "ownerReferences"}} == before
    assert configmap == before


def test_the_configmap_name_of_the_longest_job_name_is_valid() -> None:
    long = ProducerRef(kind="Webhook", namespace="ns", name="w" * 253, uid="u")
    configmap = render_run(long, template(), sized_event(EVENT_ENV_LIMIT + 1), []).event_configmap
    assert configmap is not None
    assert len(configmap["metadata"]["name"]) == 63 + len("-event")


# --- parameters -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("event.data.s", "plain text, no quotes"),
        ("event.data.unicode", "ünïcødé ✓"),
        ("event.data.empty", ""),
        ("event.data.i", "42"),
        ("event.data.negative", "-7"),
        ("event.data.f", "1.5"),
        ("2.0", "2.0"),
        ("event.data.t", "true"),
        ("event.data.no", "false"),
        ("event.data.nothing", "null"),
        ("event.data.list", '[1,"two",null,{"k":false}]'),
        ("event.data.map", '{"a":["é"],"b":1}'),
        ("event.data.i + 1", "43"),
        ("uint(event.data.i)", "42"),
        ("string(event.data.i)", "42"),
        ("event.data.s.size() > 3", "true"),
        ("timestamp(event.time)", "2026-03-29T01:00:00Z"),
        ("event.time", "2026-03-29T01:00:00Z"),
        ("duration('1h30m')", "5400s"),
        ("b'ab'", "YWI="),
        ("[timestamp(event.time)]", '["2026-03-29T01:00:00Z"]'),
        ("event.id + '/' + event.type", "tick-20260329T010000Z/jobwire.schedule.tick"),
    ],
)
def test_parameter_results_become_env_values(expression: str, value: str) -> None:
    data = {
        "s": "plain text, no quotes",
        "unicode": "ünïcødé ✓",
        "empty": "",
        "i": 42,
        "negative": -7,
        "f": 1.5,
        "t": True,
        "no": False,
        "nothing": None,
        "list": [1, "two", None, {"k": False}],
        "map": {"b": 1, "a": ["é"]},
    }
    run = render(ev=event(data=data), parameters=[parameter("VALUE", expression)])
    assert env(run)["VALUE"] == value
    assert env(run, "sidecar")["VALUE"] == value


def test_parameter_text_is_the_single_encoding_rule() -> None:
    values: list[Any] = ["a", True, 0, 0.25, None, [], {}]
    assert [parameter_text(v) for v in values] == [
        "a",
        "true",
        "0",
        "0.25",
        "null",
        "[]",
        "{}",
    ]
    with pytest.raises(ValueError, match="Out of range float values"):
        parameter_text(float("inf"))


def test_parameters_follow_the_event_env_in_order_and_replace_the_template_env() -> None:
    spec = pod_spec()
    spec["containers"][0]["env"] = [{"name": "B", "value": "template"}, {"name": "KEEP", "value": "me"}]
    params = [parameter("B", "'from event'"), parameter("A", "1")]
    run = render(template(spec), parameters=params)
    assert env_names(run) == [*EVENT_ENV_NAMES, "JOBWIRE_EVENT", "B", "A", "KEEP"]
    assert env(run)["B"] == "from event"


def test_a_failing_parameter_takes_its_default() -> None:
    params = [
        parameter("BRANCH", "event.data.ref", default="main"),
        parameter("EMPTY", "event.data.missing", default=""),
        parameter("NAN", "0.0 / 0.0", default="n/a"),
    ]
    run = render(ev=event(data={}), parameters=params)
    assert (env(run)["BRANCH"], env(run)["EMPTY"], env(run)["NAN"]) == ("main", "", "n/a")


def test_a_default_is_not_used_when_the_expression_works() -> None:
    run = render(ev=event(data={"ref": "dev"}), parameters=[parameter("BRANCH", "event.data.ref", default="main")])
    assert env(run)["BRANCH"] == "dev"


def test_a_failing_parameter_without_default_refuses_the_run() -> None:
    with pytest.raises(RenderError) as caught:
        render(ev=event(data={}), parameters=[parameter("BRANCH", "event.data.ref")])
    assert caught.value.reason == "ParameterFailed"
    assert caught.value.message == "parameter BRANCH: expression `event.data.ref`: no such key: ref"


def test_a_parameter_failure_never_quotes_the_event() -> None:
    with pytest.raises(RenderError) as caught:
        render(ev=event(data={"token": "s3cr3t-value"}), parameters=[parameter("T", "duration(event.data.token)")])
    assert "s3cr3t" not in caught.value.message
    assert (
        caught.value.message
        == "parameter T: expression `duration(event.data.token)`: function duration() failed on its arguments"
    )


def test_a_result_without_json_form_is_a_parameter_failure() -> None:
    with pytest.raises(RenderError) as caught:
        render(parameters=[parameter("INF", "1.0 / 0.0")])
    assert caught.value.reason == "ParameterFailed"
    assert caught.value.message.startswith("parameter INF: expression `1.0 / 0.0`: the result has no JSON form")


def test_a_syntax_error_is_a_parameter_failure_too() -> None:
    with pytest.raises(RenderError) as caught:
        render(parameters=[parameter("X", "event.data.(")])
    assert caught.value.reason == "ParameterFailed"
    assert caught.value.message.startswith("parameter X: expression `event.data.(`: syntax error at 1:")


def test_parameters_go_only_to_the_containers_they_name() -> None:
    spec = pod_spec(initContainers=[{"name": "init", "image": "x"}])
    run = render(template(spec), parameters=[parameter("ONLY_SIDECAR", "'x'", containers=["sidecar"])])
    assert "ONLY_SIDECAR" not in env(run, "main")
    assert env(run, "sidecar")["ONLY_SIDECAR"] == "x"
    assert run.job["spec"]["template"]["spec"]["initContainers"] == [{"name": "init", "image": "x"}]


def test_an_empty_container_list_means_every_container() -> None:
    run = render(parameters=[parameter("ALL", "'x'", containers=[])])
    assert env(run, "main")["ALL"] == env(run, "sidecar")["ALL"] == "x"


def test_one_name_may_carry_different_values_to_different_containers() -> None:
    params = [parameter("ROLE", "'main'", containers=["main"]), parameter("ROLE", "'side'", containers=["sidecar"])]
    run = render(parameters=params)
    assert (env(run, "main")["ROLE"], env(run, "sidecar")["ROLE"]) == ("main", "side")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            [parameter("X", "1", containers=["main", "missing"])],
            "parameter X names container missing, which the jobTemplate does not have",
        ),
        (
            [parameter("X", "1", containers=["init"])],
            "parameter X names container init, which the jobTemplate does not have",
        ),
        (
            [parameter("JOBWIRE_EVENT", "'{}'")],
            "parameter JOBWIRE_EVENT: names starting with JOBWIRE_ are reserved for Jobwire",
        ),
        ([parameter("JOBWIRE_X", "1")], "parameter JOBWIRE_X: names starting with JOBWIRE_ are reserved for Jobwire"),
        ([parameter("X", "1"), parameter("X", "2")], "parameter X is given twice to container main"),
    ],
)
def test_invalid_parameters_are_template_errors(params: list[Parameter], message: str) -> None:
    spec = pod_spec(initContainers=[{"name": "init", "image": "x"}])
    with pytest.raises(RenderError) as caught:
        render(template(spec), parameters=params)
    assert (caught.value.reason, caught.value.message) == ("InvalidJobTemplate", message)


def test_template_errors_come_before_parameter_evaluation() -> None:
    params = [parameter("BROKEN", "event.data.missing"), parameter("JOBWIRE_X", "1")]
    with pytest.raises(RenderError) as caught:
        render(parameters=params)
    assert caught.value.reason == "InvalidJobTemplate"


def test_lowercase_jobwire_names_are_not_reserved() -> None:
    assert env(render(parameters=[parameter("jobwire_x", "1")]))["jobwire_x"] == "1"


def test_parameters_see_the_whole_event() -> None:
    ev = event(data={"n": 1}, subject="refs/heads/main", type=WEBHOOK_RECEIVED)
    params = [
        parameter("SUBJECT", "event.subject"),
        parameter("SOURCE", "event.source"),
        parameter("SPEC", "event.specversion"),
        parameter("HOUR", "timestamp(event.time).getHours()"),
    ]
    values = env(render(ev=ev, parameters=params))
    assert (values["SUBJECT"], values["SOURCE"], values["SPEC"], values["HOUR"]) == (
        "refs/heads/main",
        PRODUCER.source,
        "1.0",
        "1",
    )


# --- invalid templates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pod_template", "message"),
    [
        ({}, "jobTemplate.spec.template.spec is missing"),
        ({"spec": "nope"}, "jobTemplate.spec.template.spec is missing"),
        ({"spec": {}}, "jobTemplate.spec.template.spec.containers is missing or empty"),
        ({"spec": {"containers": []}}, "jobTemplate.spec.template.spec.containers is missing or empty"),
        ({"spec": {"containers": {"name": "x"}}}, "jobTemplate.spec.template.spec.containers is missing or empty"),
        ({"spec": {"containers": [{"image": "x"}]}}, "container 0 of the jobTemplate has no name"),
        ({"spec": {"containers": ["x"]}}, "container 0 of the jobTemplate has no name"),
        ({"spec": {"containers": [{"name": "a", "env": {"A": 1}}]}}, "env of container a must be a list of objects"),
        ({"spec": {"containers": [{"name": "a", "env": ["A=1"]}]}}, "env of container a must be a list of objects"),
        (
            {"spec": {"containers": [{"name": "a", "volumeMounts": "x"}]}},
            "volumeMounts of container a must be a list of objects",
        ),
        (
            {"spec": {"containers": [{"name": "a"}], "volumes": {}}},
            "jobTemplate.spec.template.spec.volumes must be a list of objects",
        ),
        (
            {"metadata": "x", "spec": {"containers": [{"name": "a"}]}},
            "jobTemplate.spec.template.metadata must be an object",
        ),
    ],
)
def test_a_template_rendering_cannot_use_is_refused(pod_template: dict[str, Any], message: str) -> None:
    tpl = JobTemplate.model_validate({"spec": {"template": pod_template}})
    with pytest.raises(RenderError) as caught:
        render(tpl)
    assert (caught.value.reason, caught.value.message) == ("InvalidJobTemplate", message)
    assert isinstance(caught.value, ValueError)
