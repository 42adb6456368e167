"""Every example in examples/ is applied to the control plane, and what its README promises is checked."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from jobwire.api.webhook import WebhookAuth
from jobwire.events.model import format_rfc3339, parse_rfc3339
from jobwire.schedules import tick_source
from jobwire.schedules.interval import parse_duration
from jobwire.webhooks.auth import sign
from tests.support.inprocess import in_process_operator
from tests.support.jsonserver import json_server
from tests.support.kube import Cluster
from tests.support.sensors import first_poll, poll_once
from tests.support.servers import MotoServer, PostgresServer, postgres, s3, s3_client
from tests.support.wait import eventually

pytestmark = pytest.mark.cluster
__all__ = ["postgres", "s3"]  # fixtures used by this module

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(folder: str, namespace: str) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((EXAMPLES / folder).glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            document["metadata"]["namespace"] = namespace
            documents.append(document)
    return documents


def test_every_example_folder_has_a_readme_and_a_test() -> None:
    folders = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert folders == [
        "failed-job-alert",
        "github-push-build",
        "hello-schedule",
        "job-b-after-job-a",
        "no-data-by-morning",
        "postgres-rows-batch",
        "s3-new-file",
    ]
    tested = set(re.findall(r'\bload\("([a-z0-9-]+)"', Path(__file__).read_text()))
    for folder in folders:
        assert (EXAMPLES / folder / "README.md").exists()
        assert list((EXAMPLES / folder).glob("*.yaml")), f"{folder} has no YAML to apply"
        assert folder in tested, f"no test applies examples/{folder}"


def test_hello_schedule_runs_a_job_every_minute(cluster: Cluster, namespace: str) -> None:
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        [manifest] = load("hello-schedule", namespace)
        assert cluster.apply(manifest).returncode == 0
        name = manifest["metadata"]["name"]

        def ready() -> bool:
            status = cluster.get("schedules.jobwire.io", name, namespace).get("status") or {}
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])

        eventually(ready, what="the example to be Ready")
        spec = manifest["spec"]
        [tick] = tick_source(cron=spec["cron"], interval=None, time_zone=spec["timeZone"]).after(op.clock.now(), 1)
        op.clock.set(tick)
        jobs = eventually(
            lambda: cluster.kubectl(
                "get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "name"
            ).stdout.split(),
            what="the example's Job",
        )
        assert len(jobs) == 1


def ready_all(cluster: Cluster, namespace: str, manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        if manifest["kind"] == "Secret":
            continue
        resource = f"{manifest['kind'].lower()}s.jobwire.io"

        def ready(resource: str = resource, name: str = manifest["metadata"]["name"]) -> bool:
            status = cluster.get(resource, name, namespace).get("status") or {}
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])

        eventually(ready, what=f"{resource} {manifest['metadata']['name']} Ready")


def jobs_of(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "jobs", "-n", namespace, "-l", f"jobwire.io/name={name}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_job_b_runs_after_job_a(cluster: Cluster, namespace: str) -> None:
    with in_process_operator(cluster.kubeconfig, namespace):
        manifests = load("job-b-after-job-a", namespace)
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        cluster.kubectl("annotate", "schedules.jobwire.io", "extract", "-n", namespace, "jobwire.io/run-requested-at=1")
        [load_job] = eventually(lambda: jobs_of(cluster, namespace, "load-after-extract"), what="the load Job")
        [extract_job] = jobs_of(cluster, namespace, "extract")
        env = {e["name"]: e.get("value") for e in load_job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AFTER_JOB"] == extract_job["metadata"]["name"]


def test_failed_job_alert_posts_a_slack_message(cluster: Cluster, namespace: str) -> None:
    with json_server() as sink, in_process_operator(cluster.kubeconfig, namespace):
        manifests = load("failed-job-alert", namespace)
        for manifest in manifests:
            if manifest["kind"] == "Secret":
                manifest["stringData"]["url"] = sink.url  # the local sink instead of Slack
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        cluster.kubectl(
            "annotate", "schedules.jobwire.io", "billing-report", "-n", namespace, "jobwire.io/run-requested-at=1"
        )
        [message] = eventually(lambda: sink.received, what="the Slack-style message")
        [job] = jobs_of(cluster, namespace, "billing-report")
        assert message == {"text": f":red_circle: Job {job['metadata']['name']} failed in {namespace}"}


def the(manifests: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest of `kind` (and `name`) among an example's documents."""
    [found] = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    return found


def env_of(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_github_push_to_main_builds_that_commit_and_nothing_else(cluster: Cluster, namespace: str) -> None:
    key = "gh-" + secrets.token_hex(16)
    folder = EXAMPLES / "github-push-build"
    push = (folder / "push.json").read_bytes()
    payload = json.loads(push)
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        manifests = load("github-push-build", namespace)
        the(manifests, "Secret")["stringData"]["secret"] = key
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        hook = the(manifests, "Webhook")
        name = hook["metadata"]["name"]
        path = cluster.get("webhooks.jobwire.io", name, namespace)["status"]["url"]
        auth = WebhookAuth.model_validate(hook["spec"]["auth"])

        def deliver(body: bytes, github_event: str, delivery: str, secret: str = key) -> httpx.Response:
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": github_event,
                "X-GitHub-Delivery": delivery,
                **sign(auth, secret.encode(), body, datetime.now(UTC)),  # as GitHub signs it
            }
            return httpx.post(f"http://127.0.0.1:{op.webhook_port}{path}", content=body, headers=headers, timeout=30)

        built = deliver(push, "push", "d-1")
        assert built.status_code == 202, built.text
        [job_name] = built.json()["jobs"]
        [job] = jobs_of(cluster, namespace, name)  # a 2xx means the Job exists
        assert job["metadata"]["name"] == job_name
        env = env_of(job)
        assert env["GIT_SHA"] == payload["after"] == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
        assert env["GIT_REPO"] == "https://github.com/example/app.git"
        assert env["PUSHED_BY"] == "octocat"
        event = json.loads(env["JOBWIRE_EVENT"])
        assert event["id"] == "delivery-d-1"
        assert event["data"]["head_commit"]["message"] == "Fix the build"

        redelivered = deliver(push, "push", "d-1")  # GitHub's "Redeliver": the same build, not a second one
        assert redelivered.status_code == 200, redelivered.text
        assert (redelivered.json()["duplicate"], redelivered.json()["jobs"]) == (True, [job_name])

        other_branch = json.dumps({**payload, "ref": "refs/heads/feature", "after": "f" * 40}).encode()
        ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        for body, github_event, delivery in [(other_branch, "push", "d-2"), (ping, "ping", "d-3")]:
            filtered = deliver(body, github_event, delivery)
            assert filtered.status_code == 202, filtered.text
            assert (filtered.json()["filtered"], filtered.json()["jobs"]) == (True, [])

        forged = deliver(json.dumps({**payload, "after": "e" * 40}).encode(), "push", "d-4", secret="not-the-secret")
        assert forged.status_code == 401, forged.text

        assert [j["metadata"]["name"] for j in jobs_of(cluster, namespace, name)] == [job_name]
        counters = cluster.get("webhooks.jobwire.io", name, namespace)["status"]
        assert key not in json.dumps(counters)


def put_objects(s3: MotoServer, bucket: str, objects: dict[str, str], *, create: bool = False) -> None:
    async def write() -> None:
        async with s3_client(s3.endpoint) as client:
            if create:
                await client.create_bucket(Bucket=bucket)
            for key, body in objects.items():
                await client.put_object(Bucket=bucket, Key=key, Body=body.encode())

    asyncio.run(write())


def test_s3_new_file_runs_one_job_per_new_object(cluster: Cluster, namespace: str, s3: MotoServer) -> None:
    bucket = f"incoming-{uuid.uuid4().hex[:10]}"
    first = {"uploads/day-1.csv": "a,b\n1,2\n", "uploads/day-2.csv": "a,b\n3,4\n"}
    ignored = {"uploads/notes.txt": "not a csv", "archive/old.csv": "not under uploads/"}
    put_objects(s3, bucket, {**first, **ignored}, create=True)
    access_key, secret_key = "AKIAEXAMPLE" + secrets.token_hex(4).upper(), "sk-" + secrets.token_hex(16)
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        manifests = load("s3-new-file", namespace)
        the(manifests, "Secret")["stringData"] = {"accessKeyId": access_key, "secretAccessKey": secret_key}
        sensor = the(manifests, "Sensor")
        sensor["spec"]["source"]["s3"] |= {"endpoint": s3.endpoint, "bucket": bucket}  # moto instead of MinIO
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        name, interval = sensor["metadata"]["name"], parse_duration(sensor["spec"]["interval"])

        def processed() -> dict[str, dict[str, str]]:
            return {env["S3_KEY"]: env for env in map(env_of, jobs_of(cluster, namespace, name))}

        fired = first_poll(op, cluster, namespace, name)["lastPoll"]
        assert (fired["outcome"], fired["items"]) == ("Fired", 2)
        eventually(lambda: len(processed()) == 2, what="a Job for each new .csv under uploads/")
        assert sorted(processed()) == ["uploads/day-1.csv", "uploads/day-2.csv"]
        for key, env in processed().items():
            assert (env["S3_BUCKET"], env["S3_SIZE"]) == (bucket, str(len(first[key])))
            assert json.loads(env["JOBWIRE_EVENT"])["data"]["key"] == key

        quiet = poll_once(op, cluster, namespace, name, by=interval)
        assert (quiet["lastPoll"]["outcome"], quiet["lastPoll"]["reason"]) == ("Skipped", "NothingNew")

        put_objects(s3, bucket, {"uploads/day-3.csv": "a,b\n5,6\n"})
        poll_once(op, cluster, namespace, name, by=interval)
        eventually(lambda: len(processed()) == 3, what="a Job for the object put later")
        assert sorted(processed()) == ["uploads/day-1.csv", "uploads/day-2.csv", "uploads/day-3.csv"]
        shown = json.dumps(cluster.get("sensors.jobwire.io", name, namespace))
        assert access_key not in shown
        assert secret_key not in shown


def table_ddl(folder: str) -> str:
    """The CREATE TABLE the example's comment shows (so the comment is checked SQL, too)."""
    text = (EXAMPLES / folder / "sensor.yaml").read_text()
    return " ".join(line[4:].strip() for line in text.splitlines() if line.startswith("#   "))


def test_postgres_rows_batch_runs_one_job_for_several_new_rows(
    cluster: Cluster, namespace: str, postgres: PostgresServer
) -> None:
    database = f"shop_{uuid.uuid4().hex[:10]}"  # a database of its own: the example's query names its table
    postgres.psql(f"CREATE DATABASE {database} OWNER jobwire")
    postgres.psql(table_ddl("postgres-rows-batch"), database=database, user="jobwire")

    def insert(*orders: tuple[str, str]) -> None:
        values = ", ".join(f"('{customer}', {amount})" for customer, amount in orders)
        postgres.psql(f"INSERT INTO orders (customer, amount) VALUES {values}", database=database, user="jobwire")

    insert(("ada", "12.50"), ("bob", "3.20"), ("cy", "99.00"))
    with in_process_operator(cluster.kubeconfig, namespace) as op:
        manifests = load("postgres-rows-batch", namespace)
        the(manifests, "Secret")["stringData"]["dsn"] = postgres.dsn().rsplit("/", 1)[0] + "/" + database
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        sensor = the(manifests, "Sensor")
        name, interval = sensor["metadata"]["name"], parse_duration(sensor["spec"]["interval"])
        assert sensor["spec"]["batch"]["maxWaitSeconds"] == 120

        filling = first_poll(op, cluster, namespace, name)  # the batch starts waiting
        assert (filling["lastPoll"]["outcome"], filling["lastPoll"]["reason"]) == ("Skipped", "BatchWaiting")
        assert [p["data"]["customer"] for p in filling["pendingItems"]] == ["ada", "bob", "cy"]

        insert(("dee", "7.00"), ("eve", "1.05"))
        fuller = poll_once(op, cluster, namespace, name, by=interval)  # a minute on: still under two
        assert (fuller["lastPoll"]["outcome"], fuller["lastPoll"]["reason"]) == ("Skipped", "BatchWaiting")
        assert len(fuller["pendingItems"]) == 5
        assert jobs_of(cluster, namespace, name) == []

        sent = poll_once(op, cluster, namespace, name, by=interval)  # two minutes since the first rows
        assert (sent["lastPoll"]["outcome"], sent["cursor"]) == ("Fired", "5")
        assert not sent.get("pendingItems")
        [job] = eventually(lambda: jobs_of(cluster, namespace, name), what="the micro-batch Job")
        env = env_of(job)
        assert (env["ROW_COUNT"], env["FIRST_ID"], env["LAST_ID"]) == ("5", "1", "5")
        rows = json.loads(env["JOBWIRE_EVENT"])["data"]
        assert [(r["id"], r["customer"], r["amount"]) for r in rows] == [
            (1, "ada", "12.50"),
            (2, "bob", "3.20"),
            (3, "cy", "99.00"),
            (4, "dee", "7.00"),
            (5, "eve", "1.05"),
        ]
        assert all(parse_rfc3339(r["created_at"]) for r in rows)
        assert postgres.password not in json.dumps(cluster.get("sensors.jobwire.io", name, namespace))


def test_no_data_by_morning_alerts_once_per_missing_load(cluster: Cluster, namespace: str) -> None:
    token = "tok-" + secrets.token_hex(16)
    with json_server() as sink, in_process_operator(cluster.kubeconfig, namespace) as op:
        manifests = load("no-data-by-morning", namespace)
        the(manifests, "Secret", "slack-webhook")["stringData"]["url"] = sink.url  # the local sink, not Slack
        the(manifests, "Secret", "data-loaded-token")["stringData"]["token"] = token
        watch = the(manifests, "Automation")
        applied = op.clock.now()
        assert cluster.apply(*manifests).returncode == 0
        ready_all(cluster, namespace, manifests)
        loaded_by = op.clock.now()  # the Automation was loaded (and armed) in between
        name, within = watch["metadata"]["name"], parse_duration(watch["spec"]["trigger"]["within"])
        assert within == timedelta(hours=27)

        def rearmed() -> datetime | None:
            """When the window was armed again, as the checkpoint says, once that is later than the first arming."""
            status = cluster.get("automations.jobwire.io", name, namespace).get("status") or {}
            armed = ((status.get("checkpoint") or {}).get("keys") or {}).get("", {}).get("armedAt")
            return parse_rfc3339(armed) if armed and parse_rfc3339(armed) > loaded_by else None

        def alert(deadline: datetime) -> dict[str, str]:
            when = format_rfc3339(deadline)
            return {"text": f":warning: No data loaded: no data.loaded event arrived by {when} ({namespace}/{name})"}

        # Nothing has loaded since the Automation started: 27 hours on, one message.
        op.clock.advance(within)
        eventually(lambda: len(sink.received) == 1, what="the first alert")
        [first] = re.findall(r"arrived by (\S+) ", sink.received[0]["text"])
        assert applied + within <= parse_rfc3339(first) <= loaded_by + within
        assert sink.received == [alert(parse_rfc3339(first))]

        # The loader reports a load: that re-arms the window, 27 hours from the load.
        hook = the(manifests, "Webhook")
        path = cluster.get("webhooks.jobwire.io", hook["metadata"]["name"], namespace)["status"]["url"]
        body = json.dumps({"rows": 1234}).encode()
        headers = sign(WebhookAuth.model_validate(hook["spec"]["auth"]), token.encode(), body, datetime.now(UTC))
        loaded = httpx.post(
            f"http://127.0.0.1:{op.webhook_port}{path}",
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )
        assert loaded.status_code == 202, loaded.text
        armed = eventually(rearmed, what="the window re-armed by the load")
        assert armed >= parse_rfc3339(first)
        op.clock.advance(within)
        eventually(lambda: len(sink.received) == 2, what="the alert after the load")
        assert sink.received[1] == alert(armed + within)

        status = cluster.get("automations.jobwire.io", name, namespace)["status"]
        assert [f["reason"] for f in status["recentFirings"]] == ["Absence", "Absence"]
        assert token not in json.dumps(status)
