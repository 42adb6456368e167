"""`jobwire run --wait`, `history`, `send` and `describe` — and `kubectl jobwire` — against `jobwire run` on the real
control plane. Most calls run the command in this process (`main(argv)`, exactly what the console script calls,
without paying the interpreter's start each time); `run --wait` and the kubectl plugin run as real processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jobwire.cli.main import main
from tests.support.builders import job_template, schedule, secret, webhook
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster

VENV_BIN = Path(sys.executable).parent
"""Where the console scripts `jobwire` and `kubectl-jobwire` are installed."""
NEVER = "0 0 1 1 *"
"""A cron expression that does not fire during a test: every run here is asked for."""
GITHUB = {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}}}
SECRET_VALUE = "s3cret-never-printed"

Result = subprocess.CompletedProcess[str]


def jobwire(cluster: Cluster, *args: str, kubeconfig: Path | None = None) -> Result:
    """The command run in this process with `--kubeconfig` (the test cluster's unless given)."""
    argv = [*args, "--kubeconfig", str(kubeconfig or cluster.kubeconfig)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def jobwire_process(cluster: Cluster, *args: str) -> Result:
    """The console script in its own process, finding the cluster through $KUBECONFIG."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([str(VENV_BIN / "jobwire"), *args], env=env, capture_output=True, text=True, timeout=120)


def ok(result: Result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def ready(cluster: Cluster, resource: str, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = cluster.get(resource, name, namespace).get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return status if ready else None

    return eventually(check, what=f"{resource} {name} to be Ready")


def published(cluster: Cluster, namespace: str, name: str) -> None:
    """Wait until the operator has published the Webhook's URL (also when it is not Ready)."""
    eventually(
        lambda: (cluster.get("webhooks.jobwire.io", name, namespace).get("status") or {}).get("url"),
        what=f"the URL of webhook {name}",
    )


def answer(stdout: str) -> tuple[str, dict[str, Any]]:
    """`send`'s output: the status line, then the receiver's JSON."""
    status_line, _, body = stdout.partition("\n")
    parsed: dict[str, Any] = json.loads(body)
    return status_line, parsed


def history_json(cluster: Cluster, target: str, namespace: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ok(jobwire(cluster, "history", target, "-n", namespace, "-o", "json")))
    return document


def finished_in_history(cluster: Cluster, target: str, namespace: str, job: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        entries = history_json(cluster, target, namespace)["entries"]
        return next((e for e in entries if e.get("job") == job and e["outcome"] != "Running"), None)

    return eventually(check, what=f"the finished run of {job} in the history of {target}")


@pytest.fixture
def nightly(cluster: Cluster, operator: OperatorProcess, namespace: str) -> str:
    assert cluster.apply(schedule("nightly", namespace, cron=NEVER, timeZone="Europe/Berlin")).returncode == 0
    ready(cluster, "schedules.jobwire.io", namespace, "nightly")
    return "nightly"


def test_run_wait_then_history_and_describe_of_a_schedule(cluster: Cluster, namespace: str, nightly: str) -> None:
    run = jobwire_process(cluster, "run", f"schedule/{nightly}", "-n", namespace, "--wait")
    created, succeeded = ok(run).splitlines()
    job = created.removeprefix("job/").removesuffix(" created")
    assert succeeded == f"job/{job} Succeeded"
    assert cluster.get("job", job, namespace)["metadata"]["labels"]["jobwire.io/name"] == nightly
    # What it waited for went to stderr, stdout holds only the result.
    assert f"waiting for the operator to run schedule/{nightly}" in run.stderr
    assert f"waiting for job/{job} to finish" in run.stderr

    entry = finished_in_history(cluster, f"schedule/{nightly}", namespace, job)
    assert entry["outcome"] == "Succeeded"
    assert entry["type"] == "run"
    assert entry["eventId"].startswith("run-")
    document = history_json(cluster, f"jws/{nightly}", namespace)
    assert (document["kind"], document["namespace"], document["name"]) == ("Schedule", namespace, nightly)
    assert document["totals"]["created"] == 1

    table = ok(jobwire(cluster, "history", f"schedules.jobwire.io/{nightly}", "-n", namespace)).splitlines()
    assert table[0].split() == ["TIME", "AGE", "TYPE", "OUTCOME", "REASON", "JOB", "EVENT", "DETAIL"]
    row = table[1].split()
    assert (row[2], row[3], row[5], row[6]) == ("run", "Succeeded", job, entry["eventId"])
    assert table[-1] == "Totals: created 1, succeeded 1, failed 0, skipped 0"

    def described() -> str | None:
        text = ok(jobwire(cluster, "describe", f"schedule/{nightly}", "-n", namespace))
        return text if "JobSucceeded" in text else None  # Events are posted in the background

    text = eventually(described, what="describe to show the JobSucceeded Event")
    lines = [line.strip() for line in text.splitlines()]
    assert f"Name:            {nightly}" in lines
    assert "Cron:           0 0 1 1 *" in lines
    assert "Time zone:      Europe/Berlin" in lines
    assert "Job:            c0 (busybox:1.36)" in lines
    assert next(line for line in lines if line.startswith("Ready")).split()[:3] == ["Ready", "True", "Scheduled"]
    last_run = next(line for line in lines if line.startswith("Last run:"))
    assert f"job/{job} Succeeded" in last_run
    assert entry["eventId"] in last_run
    assert any(line.startswith("Next ticks:") and "(in " in line for line in lines)
    assert "Jobs:         1 in the cluster: 0 running, 1 succeeded, 0 failed" in lines
    events = lines[lines.index("Events:") + 1 :]
    assert sorted(line.split()[1] for line in events[1:]) == ["JobCreated", "JobSucceeded"]


def test_a_skipped_run_now_exits_1_and_shows_in_history_with_its_reason(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    busy = schedule("busy", namespace, cron=NEVER, outcome="hang", concurrencyPolicy="Forbid")
    assert cluster.apply(busy).returncode == 0
    ready(cluster, "schedules.jobwire.io", namespace, "busy")
    first = ok(jobwire(cluster, "run", "jws/busy", "-n", namespace)).strip()
    running = first.removeprefix("job/").removesuffix(" created")

    refused = jobwire(cluster, "run", "jws/busy", "-n", namespace)
    assert refused.returncode == 1
    assert "jobwire: the run was skipped: Forbidden" in refused.stderr

    entries = history_json(cluster, "schedule/busy", namespace)["entries"]
    skip = next(e for e in entries if e["type"] == "skip")
    assert (skip["outcome"], skip["reason"]) == ("Skipped", "Forbidden")
    assert skip["eventId"].startswith("run-")
    assert any(e["job"] == running and e["outcome"] == "Running" for e in entries if e["type"] == "run")
    table = ok(jobwire(cluster, "history", "schedule/busy", "-n", namespace))
    assert any(line.split()[2:5] == ["skip", "Skipped", "Forbidden"] for line in table.splitlines()[1:])


def test_a_queued_run_now_returns_at_once(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    queued = schedule("queued", namespace, cron=NEVER, outcome="hang", concurrencyPolicy="Queue", maxActive=1)
    assert cluster.apply(queued).returncode == 0
    ready(cluster, "schedules.jobwire.io", namespace, "queued")
    assert ok(jobwire(cluster, "run", "schedule/queued", "-n", namespace)).endswith(" created\n")
    waiting = ok(jobwire(cluster, "run", "schedule/queued", "-n", namespace))
    assert waiting.startswith("queued: event run-")
    [entry] = [e for e in history_json(cluster, "schedule/queued", namespace)["entries"] if e["type"] == "queued"]
    assert waiting.split()[2] == entry["eventId"]


def test_run_now_of_a_sensor_reports_the_poll_and_waits_for_its_jobs(
    cluster: Cluster, operator: OperatorProcess, namespace: str
) -> None:
    sensor = {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": "configs", "namespace": namespace},
        # A day between polls: the only poll in this test is the one asked for.
        "spec": {
            "interval": "24h",
            "source": {"kubernetes": {"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": "watched=yes"}},
            "jobTemplate": job_template(),
        },
    }
    assert cluster.apply(sensor).returncode == 0
    ready(cluster, "sensors.jobwire.io", namespace, "configs")
    labels = {"watched": "yes"}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "one", "namespace": namespace, "labels": labels},
    }
    assert cluster.apply(config_map).returncode == 0
    polled = ok(jobwire(cluster, "run", "sensor/configs", "-n", namespace, "--wait")).splitlines()
    assert polled[0] == "polled: Fired, 1 new item(s)"
    job = polled[1].removeprefix("job/").removesuffix(" created")
    assert polled[2:] == [f"job/{job} Succeeded"]
    again = ok(jobwire(cluster, "run", "jwsn/configs", "-n", namespace, "--wait"))
    assert again == "polled: Skipped, 0 new item(s) (NothingNew)\n"
    entries = history_json(cluster, "sensor/configs", namespace)["entries"]
    assert [(e["type"], e["outcome"]) for e in entries if e["type"] == "poll"] == [
        ("poll", "Skipped"),
        ("poll", "Fired"),
    ]
    assert any(e.get("job") == job for e in entries)


AUTHS: dict[str, dict[str, Any]] = {
    "github": GITHUB,
    "stripe": {"type": "hmac", "hmac": {"preset": "stripe", "secretRef": {"name": "hook", "key": "secret"}}},
    "slack": {"type": "hmac", "hmac": {"preset": "slack", "secretRef": {"name": "hook", "key": "secret"}}},
    "generic": {
        "type": "hmac",
        "hmac": {
            "secretRef": {"name": "hook", "key": "secret"},
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
        },
    },
    "bearer": {"type": "token", "token": {"secretRef": {"name": "hook", "key": "secret"}}},
    "gitlab": {"type": "token", "token": {"header": "X-Gitlab-Token", "secretRef": {"name": "hook", "key": "secret"}}},
    "open": {"type": "none"},
}


def test_send_signs_as_each_webhook_expects_and_its_job_exists(
    cluster: Cluster, operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    assert cluster.apply(secret("hook", namespace, secret=SECRET_VALUE)).returncode == 0
    parameters = [{"name": "GIT_REF", "expression": "event.data.ref"}]
    hooks = [webhook(name, namespace, auth, parameters=parameters) for name, auth in AUTHS.items()]
    assert cluster.apply(*hooks).returncode == 0
    body = tmp_path / "push.json"
    body.write_text(json.dumps({"ref": "refs/heads/main"}))
    for name in AUTHS:
        ready(cluster, "webhooks.jobwire.io", namespace, name)
        args = ["send", f"webhook/{name}", "-n", namespace, "--url", operator.webhook_url, "--data", f"@{body}"]
        sent = jobwire(cluster, *args, "--header", f"X-GitHub-Delivery=d-{name}")
        status_line, reply = answer(ok(sent))
        assert status_line == "202 Accepted", name
        assert reply["eventId"] == f"delivery-d-{name}"
        [job] = reply["jobs"]
        [container] = cluster.get("job", job, namespace)["spec"]["template"]["spec"]["containers"]
        assert {"name": "GIT_REF", "value": "refs/heads/main"} in container["env"]
        assert f"POST {operator.webhook_url}/hooks/" in sent.stderr
        assert SECRET_VALUE not in sent.stdout + sent.stderr
        if name == "github":
            assert "(hmac github (Secret hook, key secret)" in sent.stderr
            again = jobwire(cluster, *args, "--header", f"X-GitHub-Delivery: d-{name}", "-o", "json")
            assert json.loads(ok(again)) == {"status": 200, "body": {**reply, "duplicate": True}}


def test_send_and_history_of_a_webhook(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    assert cluster.apply(secret("hook", namespace, secret=SECRET_VALUE)).returncode == 0
    assert cluster.apply(webhook("gh", namespace, GITHUB)).returncode == 0
    ready(cluster, "webhooks.jobwire.io", namespace, "gh")
    sent = jobwire_process(
        cluster, "send", "jwh/gh", "-n", namespace, "--url", operator.webhook_url, "--data", '{"n": 1}'
    )
    _, reply = answer(ok(sent))
    assert SECRET_VALUE not in sent.stdout + sent.stderr
    [job] = reply["jobs"]
    assert reply["eventId"].startswith("sha256-")  # no delivery header: the body's hash

    entry = finished_in_history(cluster, "webhook/gh", namespace, job)
    assert (entry["outcome"], entry["eventId"]) == ("Succeeded", reply["eventId"])

    def counted() -> dict[str, Any] | None:
        counters = history_json(cluster, "webhook/gh", namespace).get("counters") or {}
        return counters if counters.get("accepted") == 1 else None

    assert eventually(counted, what="the request counters")["received"] == 1
    text = ok(jobwire(cluster, "describe", "webhook/gh", "-n", namespace))
    lines = [line.strip() for line in text.splitlines()]
    assert "Auth:           hmac github (Secret hook, key secret)" in lines
    url = cluster.get("webhooks.jobwire.io", "gh", namespace)["status"]["url"]
    assert f"URL:         {url}" in lines
    assert next(line for line in lines if line.startswith("Ready")).split()[:2] == ["Ready", "True"]
    assert any(line.startswith("Last run:") and job in line for line in lines)
    assert SECRET_VALUE not in text


def test_send_fails_clearly(cluster: Cluster, operator: OperatorProcess, namespace: str) -> None:
    assert cluster.apply(secret("hook", namespace, secret=SECRET_VALUE)).returncode == 0
    broken_key = {"type": "token", "token": {"secretRef": {"name": "hook", "key": "nope"}}}
    no_secret = {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "gone", "key": "secret"}}}
    assert cluster.apply(webhook("wrongkey", namespace, broken_key)).returncode == 0
    assert cluster.apply(webhook("nosecret", namespace, no_secret)).returncode == 0
    assert cluster.apply(webhook("paused", namespace, GITHUB, suspend=True)).returncode == 0
    for name in ("wrongkey", "nosecret", "paused"):
        published(cluster, namespace, name)
    url = ["--url", operator.webhook_url, "-n", namespace]

    cases = {
        "webhook/missing": f"jobwire: webhook/missing not found in namespace {namespace}",
        "webhook/nosecret": f"jobwire: Secret {namespace}/gone not found (named by webhook/nosecret "
        "spec.auth.hmac.secretRef)",
        "webhook/wrongkey": f"jobwire: Secret {namespace}/hook has no key 'nope' (named by webhook/wrongkey "
        "spec.auth.token.secretRef)",
    }
    for target, message in cases.items():
        result = jobwire(cluster, "send", target, *url, "--data", "{}")
        assert (result.returncode, result.stdout) == (1, ""), target
        assert result.stderr.strip() == message

    suspended = jobwire(cluster, "send", "webhook/paused", *url, "--data", "{}")
    assert suspended.returncode == 1
    assert suspended.stdout.startswith("503 Service Unavailable\n")
    assert "jobwire: the receiver answered 503: Suspended: the webhook is suspended" in suspended.stderr

    nobody = jobwire(cluster, "send", "webhook/paused", "-n", namespace, "--url", "http://127.0.0.1:1", "--data", "{}")
    assert nobody.returncode == 1
    assert "no answer from the receiver at http://127.0.0.1:1" in nobody.stderr
    for result in (suspended, nobody):
        assert SECRET_VALUE not in result.stdout + result.stderr


def test_kubectl_runs_it_as_a_plugin(cluster: Cluster, namespace: str, nightly: str) -> None:
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    plain = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}

    def kubectl(*args: str, kubeconfig_env: bool = False) -> Result:
        env = {**plain, "PATH": path, **({"KUBECONFIG": str(cluster.kubeconfig)} if kubeconfig_env else {})}
        return subprocess.run([str(cluster.kubectl_path), *args], env=env, capture_output=True, text=True, timeout=120)

    plugins = kubectl("plugin", "list")
    assert str(VENV_BIN / "kubectl-jobwire") in plugins.stdout, plugins.stderr
    # kubectl hands the plugin its environment ($KUBECONFIG) and every argument after the plugin's name.
    history = kubectl("jobwire", "history", f"jws/{nightly}", "-n", namespace, "-o", "json", kubeconfig_env=True)
    assert json.loads(ok(history))["name"] == nightly
    kubeconfig = str(cluster.kubeconfig)
    described = kubectl("jobwire", "describe", f"schedule/{nightly}", "-n", namespace, "--kubeconfig", kubeconfig)
    assert f"Name:            {nightly}" in ok(described)
    assert "Kind:            Schedule (jobwire.io/v1alpha1)" in described.stdout
    assert ok(kubectl("jobwire", "--help")).startswith("usage: kubectl jobwire")
    wrong = kubectl("jobwire", "history", f"jws/{nightly}", "--kubeconfig", kubeconfig, "--context", "nope")
    assert wrong.returncode == 1
    assert "jobwire: cannot load the kubeconfig context 'nope'" in wrong.stderr


def test_the_context_namespace_is_the_default(cluster: Cluster, namespace: str, nightly: str, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(cluster.kubeconfig.read_text())
    subprocess.run(
        [
            str(cluster.kubectl_path),
            "--kubeconfig",
            str(kubeconfig),
            "config",
            "set-context",
            "--current",
            f"--namespace={namespace}",
        ],
        check=True,
        capture_output=True,
    )
    result = jobwire(cluster, "history", f"schedule/{nightly}", "-o", "json", kubeconfig=kubeconfig)
    assert json.loads(ok(result))["namespace"] == namespace
    missing = jobwire(cluster, "describe", "schedule/other", kubeconfig=kubeconfig)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        f"jobwire: schedule/other not found in namespace {namespace}",
    )
