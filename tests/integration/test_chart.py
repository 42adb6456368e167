"""The Helm chart: it lints, its manifests pass the API server's own validation, it installs, upgrades and
uninstalls on the real control plane, and the permissions it grants are enough for the operator and no more.

The RBAC proof runs `jobwire run` as a separate process whose kubeconfig user is the chart's ServiceAccount (a
TokenRequest token), not the cluster admin, and drives every flow end to end through it (FLOWS). A flow that
needs a permission the chart lacks shows up as a 403 in the operator's log or as a flow that never finishes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobwire.dev import runner
from jobwire.dev.cluster import controlplane_bin
from tests.support.builders import job_template, schedule, secret, webhook
from tests.support.helm import CHART, TEMPLATE_KUBE_VERSION, Helm, service_account_kubeconfig, write_values
from tests.support.jsonserver import JsonServer
from tests.support.kube import Cluster
from tests.support.operator import OperatorProcess
from tests.support.wait import eventually

FORBIDDEN = re.compile(r"forbidden|\(403\)", re.IGNORECASE)
INSTANCE = "app.kubernetes.io/instance"
NAMESPACED_KINDS = (
    "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,ingresses,networkpolicies"
)

# The operator's rules, as templates/_helpers.tpl grants them (the comment of each says why). A change here must
# be a deliberate one: the RBAC proof below shows these are enough.
OPERATOR_RULES = [
    (["jobwire.io"], ["schedules", "sensors", "webhooks", "automations"], ["get", "list", "watch"]),
    (["jobwire.io"], ["schedules", "sensors", "webhooks", "automations"], ["patch"]),
    (
        ["jobwire.io"],
        ["schedules/status", "sensors/status", "webhooks/status", "automations/status"],
        ["update", "patch"],
    ),
    (["batch"], ["jobs"], ["get", "list", "watch"]),
    ([""], ["serviceaccounts"], ["impersonate"]),  # resourceNames: the runner ServiceAccounts only
    ([""], ["secrets"], ["get"]),
    ([""], ["events"], ["create"]),
]
READ_CONFIGMAPS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}


@pytest.fixture(scope="module")
def helm_binary() -> Path:
    return controlplane_bin() / "helm"


@pytest.fixture(scope="module")
def helm(helm_binary: Path) -> Helm:
    return Helm(helm_binary)


def rules_of(role: dict[str, Any]) -> list[tuple[list[str], list[str], list[str]]]:
    return [(r["apiGroups"], r["resources"], r["verbs"]) for r in role["rules"]]


def only(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


LEADER_ELECTION = "-leader-election"


def operator_roles(manifests: list[dict[str, Any]], kind: str = "Role") -> list[dict[str, Any]]:
    """The operator's Roles (or RoleBindings) in the watched namespaces, without the leader election's own."""
    return [m for m in only(manifests, kind) if not m["metadata"]["name"].endswith(LEADER_ELECTION)]


# --- the chart on its own ---------------------------------------------------------------------------------------

EVERYTHING_ON: dict[str, Any] = {
    "ingress": {"enabled": True, "className": "nginx", "hosts": ["hooks.example.test"]},
    "serviceMonitor": {"enabled": True},
    "networkPolicy": {"enabled": True, "webhookFrom": [{"namespaceSelector": {}}]},
    "podDisruptionBudget": {"minAvailable": 1},
    "rbac": {
        "extraRules": [READ_CONFIGMAPS],
        "extraClusterRules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
    },
}
LINT_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespace-list": {"watch": {"scope": "namespaces", "namespaces": ["team-a", "team-b"]}},
    "namespace-list-everything-on": {"watch": {"namespaces": ["team-a"]}, **EVERYTHING_ON},
    "cluster": {"watch": {"scope": "cluster"}},
    "cluster-everything-on": {"watch": {"scope": "cluster"}, **EVERYTHING_ON},
}


@pytest.mark.parametrize("case", sorted(LINT_CASES))
def test_helm_lint_strict_passes(helm: Helm, tmp_path: Path, case: str) -> None:
    values = write_values(tmp_path / "values.yaml", LINT_CASES[case])
    result = helm("lint", "--strict", str(CHART), "-f", str(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"watch": {"scope": "everywhere"}}, "/watch/scope"),
        ({"watch": {"namespaces": ["Not_A_Name"]}}, "/watch/namespaces/0"),
        ({"replicaCount": -1}, "/replicaCount"),
        ({"operator": {"logLevel": "LOUD"}}, "/operator/logLevel"),
        ({"rbac": {"extraRules": [{"resources": ["pods"]}]}}, "/rbac/extraRules/0"),
        ({"unknownValue": 1}, "unknownValue"),
        ({"ingress": {"enabled": True}}, "ingress.enabled needs at least one host"),
        ({"leaderElection": {"renewPeriodSeconds": 15}}, "renewPeriodSeconds must be below"),
    ],
)
def test_values_the_chart_cannot_honour_are_refused(
    helm: Helm, tmp_path: Path, values: dict[str, Any], complaint: str
) -> None:
    path = write_values(tmp_path / "values.yaml", values)
    result = helm("template", "jw", str(CHART), "-f", str(path), "--kube-version", TEMPLATE_KUBE_VERSION, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_namespace_scope_renders_a_role_per_namespace_and_the_flags_that_match(helm: Helm, tmp_path: Path) -> None:
    values = write_values(tmp_path / "v.yaml", {"watch": {"namespaces": ["team-a", "team-b"]}})
    manifests = helm.template(values, namespace="jobwire-system")
    roles = operator_roles(manifests)
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert all(rules_of(role) == OPERATOR_RULES for role in roles)
    bindings = [b for b in operator_roles(manifests, "RoleBinding") if b["roleRef"]["kind"] == "Role"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "jw-jobwire", "namespace": "jobwire-system"}]
    # Nothing cluster-wide but Kopf's read-only discovery: CRDs and Namespaces, list and watch.
    [discovery] = [r for r in only(manifests, "ClusterRole") if r["metadata"]["name"].endswith("-discovery")]
    assert rules_of(discovery) == [
        (["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"]),
        ([""], ["namespaces"], ["list", "watch"]),
    ]
    [deployment] = only(manifests, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]
    assert "--all-namespaces" not in args


def test_an_empty_namespace_list_means_the_release_namespace(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(write_values(tmp_path / "v.yaml", {}), namespace="jobwire-system")
    assert [r["metadata"]["namespace"] for r in operator_roles(manifests)] == ["jobwire-system"]
    [deployment] = only(manifests, "Deployment")
    assert "--namespace=jobwire-system" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_cluster_scope_renders_one_cluster_role_with_the_same_rules(helm: Helm, tmp_path: Path) -> None:
    values = write_values(tmp_path / "v.yaml", {"watch": {"scope": "cluster", "namespaces": ["ignored"]}})
    manifests = helm.template(values, namespace="jobwire-system")
    assert operator_roles(manifests) == []
    roles = {r["metadata"]["name"]: r for r in only(manifests, "ClusterRole")}
    assert rules_of(roles["jw-jobwire-jobwire-system"]) == OPERATOR_RULES
    # Cluster-wide, Kopf needs no Namespace list: only the CRDs.
    assert rules_of(roles["jw-jobwire-jobwire-system-discovery"]) == [
        (["apiextensions.k8s.io"], ["customresourcedefinitions"], ["list", "watch"])
    ]
    [deployment] = only(manifests, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args
    assert not [a for a in args if a.startswith("--namespace")]


def test_extra_rules_join_the_operators_role_and_extra_cluster_rules_get_their_own(helm: Helm, tmp_path: Path) -> None:
    nodes = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}
    values = {
        "watch": {"namespaces": ["team-a"]},
        "rbac": {"extraRules": [READ_CONFIGMAPS], "extraClusterRules": [nodes]},
    }
    manifests = helm.template(write_values(tmp_path / "v.yaml", values), namespace="jobwire-system")
    [role] = operator_roles(manifests)
    assert rules_of(role) == [*OPERATOR_RULES, ([""], ["configmaps"], ["get", "list"])]
    extra = next(r for r in only(manifests, "ClusterRole") if r["metadata"]["name"].endswith("-extra"))
    assert rules_of(extra) == [([""], ["nodes"], ["list"])]


def test_the_pod_runs_non_root_read_only_without_capabilities_and_probes_the_right_paths(
    helm: Helm, tmp_path: Path
) -> None:
    manifests = helm.template(write_values(tmp_path / "v.yaml", {}), namespace="jobwire-system")
    [deployment] = only(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"probes": 8080, "webhooks": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "probes"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    assert {"--probe-port=8080", "--webhook-port=8081", "--log-json"} <= set(container["args"])
    [service_account] = [a for a in only(manifests, "ServiceAccount") if a["metadata"]["name"] != runner.RUNNER]
    assert service_account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]


def test_the_runner_cluster_role_is_the_one_make_run_and_the_tests_use(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(write_values(tmp_path / "v.yaml", {}), namespace="jobwire-system")
    [role] = [r for r in only(manifests, "ClusterRole") if r["metadata"]["name"].endswith("-runner")]
    assert role["rules"] == runner.RUNNER_RULES
    [account] = [a for a in only(manifests, "ServiceAccount") if a["metadata"]["name"] == runner.RUNNER]
    assert account["metadata"]["namespace"] == "jobwire-system"
    without = helm.template(write_values(tmp_path / "w.yaml", {"jobs": {"impersonate": False}}), namespace="x")
    assert not [r for r in only(without, "ClusterRole") if r["metadata"]["name"].endswith("-runner")]
    [operator_role] = operator_roles(without)
    assert {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "create", "delete"]} in (
        operator_role["rules"]
    )


@pytest.mark.parametrize("scope", ["namespaces", "cluster"])
def test_leader_election_gets_one_lease_by_name_in_the_release_namespace_only(
    helm: Helm, tmp_path: Path, scope: str
) -> None:
    values = {"watch": {"scope": scope, "namespaces": ["team-a"]}, "replicaCount": 2}
    manifests = helm.template(write_values(tmp_path / "v.yaml", values), namespace="jobwire-system")
    [role] = [r for r in only(manifests, "Role") if r["metadata"]["name"].endswith(LEADER_ELECTION)]
    assert role["metadata"]["namespace"] == "jobwire-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["jw-jobwire-leader"],
            "verbs": ["get", "update"],
        },
    ]
    [binding] = [b for b in only(manifests, "RoleBinding") if b["metadata"]["name"].endswith(LEADER_ELECTION)]
    assert binding["metadata"]["namespace"] == "jobwire-system"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    # No Lease rule anywhere else, cluster-wide least of all.
    others = [r for r in [*only(manifests, "Role"), *only(manifests, "ClusterRole")] if r is not role]
    assert not [rule for r in others for rule in r["rules"] if "coordination.k8s.io" in rule.get("apiGroups", [])]
    [deployment] = only(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert "--leader-election" in container["args"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["JOBWIRE_LEADER_ELECTION_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["JOBWIRE_LEADER_ELECTION_LEASE_NAME"] == "jw-jobwire-leader"
    assert (env["JOBWIRE_LEADER_ELECTION_LEASE_SECONDS"], env["JOBWIRE_LEADER_ELECTION_RENEW_SECONDS"]) == ("15", "5")
    # Two replicas: preferably on two nodes.
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_without_leader_election_there_is_no_lease_role_and_no_flag(helm: Helm, tmp_path: Path) -> None:
    values = write_values(tmp_path / "v.yaml", {"leaderElection": {"enabled": False}})
    manifests = helm.template(values, namespace="jobwire-system")
    assert not [r for r in only(manifests, "Role") if r["metadata"]["name"].endswith(LEADER_ELECTION)]
    [deployment] = only(manifests, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "--leader-election" not in container["args"]
    assert "affinity" not in deployment["spec"]["template"]["spec"]  # one replica: nothing to spread


def test_services_ingress_and_service_monitor_point_at_the_right_ports(helm: Helm, tmp_path: Path) -> None:
    manifests = helm.template(write_values(tmp_path / "v.yaml", EVERYTHING_ON), namespace="jobwire-system")
    services = {s["metadata"]["name"]: s for s in only(manifests, "Service")}
    assert services["jw-jobwire-webhooks"]["spec"]["ports"][0]["targetPort"] == "webhooks"
    assert services["jw-jobwire-metrics"]["spec"]["ports"][0]["targetPort"] == "probes"
    [ingress] = only(manifests, "Ingress")
    [rule] = ingress["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == ("hooks.example.test", "/hooks/", "Prefix")
    assert path["backend"]["service"] == {"name": "jw-jobwire-webhooks", "port": {"name": "http"}}
    [monitor] = only(manifests, "ServiceMonitor")
    metrics = services["jw-jobwire-metrics"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= metrics["metadata"]["labels"].items()
    assert not selector.items() <= services["jw-jobwire-webhooks"]["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == (metrics["spec"]["ports"][0]["name"], "/metrics")
    [budget] = only(manifests, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in budget["spec"]


# --- the chart on the real control plane --------------------------------------------------------------------------


def fresh_namespaces(cluster: Cluster, *prefixes: str) -> list[str]:
    names = [f"{prefix}-{uuid.uuid4().hex[:8]}" for prefix in prefixes]
    for name in names:
        cluster.kubectl("create", "namespace", name)
    return names


def drop_namespaces(cluster: Cluster, names: list[str]) -> None:
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def cluster_helm(cluster: Cluster, helm_binary: Path) -> Helm:
    return Helm(helm_binary, cluster.kubeconfig)


@pytest.mark.cluster
@pytest.mark.parametrize("scope", ["namespaces", "cluster"])
def test_rendered_manifests_pass_the_api_servers_dry_run(
    cluster: Cluster, cluster_helm: Helm, tmp_path: Path, scope: str
) -> None:
    system, watched = fresh_namespaces(cluster, "jw-sys", "jw-app")
    try:
        values = {**EVERYTHING_ON, "watch": {"scope": scope, "namespaces": [watched, system]}}
        values.pop("serviceMonitor")  # its CRD (prometheus-operator's) is not on the test cluster
        rendered = cluster_helm(
            "template",
            "dry",
            str(CHART),
            "-n",
            system,
            "-f",
            str(write_values(tmp_path / "v.yaml", values)),
            "--kube-version",
            TEMPLATE_KUBE_VERSION,
        ).stdout
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered, check=False)
        assert result.returncode == 0, result.stderr
        applied = result.stdout.splitlines()
        assert all(line.endswith("(server dry run)") for line in applied)
        kinds = {line.split("/", 1)[0] for line in applied}
        expected = {
            "deployment.apps",
            "service",
            "serviceaccount",
            "ingress.networking.k8s.io",
            "networkpolicy.networking.k8s.io",
            "poddisruptionbudget.policy",
            "clusterrole.rbac.authorization.k8s.io",
            "clusterrolebinding.rbac.authorization.k8s.io",
        }
        # Roles: the operator's in each watched namespace (scope "namespaces"), and in both scopes the leader
        # election's in the release's namespace.
        expected |= {"role.rbac.authorization.k8s.io", "rolebinding.rbac.authorization.k8s.io"}
        assert kinds == expected
    finally:
        drop_namespaces(cluster, [system, watched])


def deployment(cluster: Cluster, name: str, namespace: str) -> dict[str, Any]:
    return cluster.get("deployment", name, namespace)


def labelled(cluster: Cluster, kinds: str, release: str, namespace: str | None) -> list[str]:
    where = ["-n", namespace] if namespace else []
    out = cluster.kubectl("get", kinds, *where, "-l", f"{INSTANCE}={release}", "-o", "name").stdout
    return sorted(out.split())


@pytest.mark.cluster
def test_install_upgrade_and_uninstall(cluster: Cluster, cluster_helm: Helm, tmp_path: Path) -> None:
    system, team_a, team_b = fresh_namespaces(cluster, "jw-sys", "jw-a", "jw-b")
    release = f"r{uuid.uuid4().hex[:6]}"
    name = f"{release}-jobwire"
    try:
        values = write_values(tmp_path / "install.yaml", {"watch": {"namespaces": [team_a]}})
        installed = cluster_helm(
            "install", release, str(CHART), "-n", system, "-f", str(values), "--wait", "--timeout=120s"
        )
        assert f"http://{name}-webhooks.{system}.svc:80$HOOK_PATH" in installed.stdout  # NOTES: where Webhooks are
        cluster.kubectl("wait", "deployment", name, "-n", system, "--for=condition=Available", "--timeout=60s")
        assert labelled(cluster, "roles", release, team_a) == [f"role.rbac.authorization.k8s.io/{name}"]
        assert labelled(cluster, "roles", release, team_b) == []
        args = deployment(cluster, name, system)["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--namespace={team_a}" in args

        # Another namespace, two replicas and an Ingress: each does what it says.
        upgrade = {
            "watch": {"namespaces": [team_b]},
            "replicaCount": 2,
            "ingress": {"enabled": True, "hosts": ["hooks.example.test"]},
        }
        values = write_values(tmp_path / "upgrade.yaml", upgrade)
        upgraded = cluster_helm(
            "upgrade", release, str(CHART), "-n", system, "-f", str(values), "--wait", "--timeout=120s"
        )
        assert "http://hooks.example.test$HOOK_PATH" in upgraded.stdout
        assert labelled(cluster, "roles,rolebindings", release, team_a) == []
        assert labelled(cluster, "roles,rolebindings", release, team_b) == [
            f"role.rbac.authorization.k8s.io/{name}",
            "rolebinding.rbac.authorization.k8s.io/jobwire-runner",  # the namespace's identity for its Jobs
            f"rolebinding.rbac.authorization.k8s.io/{name}",
        ]
        current = eventually(
            lambda: (
                (d := deployment(cluster, name, system))["status"].get("availableReplicas") == 2
                and d["status"].get("updatedReplicas") == 2
                and d
            ),
            what="two updated, available replicas",
        )
        assert current["spec"]["replicas"] == 2
        args = current["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--namespace={team_b}" in args
        assert f"--namespace={team_a}" not in args
        ingress = cluster.get("ingress", f"{name}-webhooks", system)
        assert ingress["spec"]["rules"][0]["host"] == "hooks.example.test"

        # Cluster-wide: the Roles go, a ClusterRole takes their place.
        values = write_values(tmp_path / "cluster.yaml", {"watch": {"scope": "cluster"}})
        cluster_helm("upgrade", release, str(CHART), "-n", system, "-f", str(values), "--wait", "--timeout=120s")
        assert labelled(cluster, "roles,rolebindings", release, team_b) == []
        cluster_wide = labelled(cluster, "clusterroles,clusterrolebindings", release, None)
        assert f"clusterrole.rbac.authorization.k8s.io/{name}-{system}" in cluster_wide
        assert f"clusterrolebinding.rbac.authorization.k8s.io/{name}-{system}" in cluster_wide
        assert labelled(cluster, "ingresses", release, system) == []

        cluster_helm("uninstall", release, "-n", system, "--wait", "--timeout=120s")
        for namespace in (system, team_a, team_b):
            assert labelled(cluster, NAMESPACED_KINDS, release, namespace) == []
        assert labelled(cluster, "clusterroles,clusterrolebindings", release, None) == []
        # Helm leaves the CRDs of crds/ in place (deleting them would delete every Schedule with them).
        assert cluster.kubectl("get", "crd", "schedules.jobwire.io", check=False).returncode == 0
    finally:
        cluster_helm("uninstall", release, "-n", system, "--ignore-not-found", check=False)
        drop_namespaces(cluster, [system, team_a, team_b])


# --- the RBAC proof: the operator with only the chart's permissions -----------------------------------------------


@dataclass
class Deployed:
    """A release of the chart and `jobwire run` logged in as its ServiceAccount."""

    scope: str
    cluster: Cluster
    release: str
    system: str
    watched: str
    outside: str
    service_account: str
    kubeconfig: Path
    operator: OperatorProcess
    server: JsonServer

    def as_operator(self, *args: str, input: str | None = None) -> Any:
        """kubectl as the operator's ServiceAccount."""
        return Cluster(kubeconfig=self.kubeconfig, kubectl_path=self.cluster.kubectl_path).kubectl(
            *args, input=input, check=False
        )

    def apply(self, *manifests: dict[str, Any]) -> None:
        result = self.cluster.apply(*manifests)
        assert result.returncode == 0, result.stderr

    def forbidden_lines(self, since: int = 0) -> list[str]:
        """403s in the log since `since`, but for writes into a namespace being deleted (the API server answers
        those 403 too; a cluster-wide operator meets them for the namespaces other tests are dropping)."""
        lines = self.operator.log()[since:].splitlines()
        return [line for line in lines if FORBIDDEN.search(line) and "because it is being terminated" not in line]


@pytest.fixture(scope="module", params=["namespaces", "cluster"])
def deployed(
    request: pytest.FixtureRequest, cluster: Cluster, helm_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    scope: str = request.param
    helm = Helm(helm_binary, cluster.kubeconfig)
    tmp = tmp_path_factory.mktemp(f"rbac-{scope}")
    system, watched, outside = fresh_namespaces(cluster, "jw-sys", "jw-app", "jw-out")
    release = f"rbac{uuid.uuid4().hex[:6]}"
    service_account = f"{release}-jobwire"
    values = {
        "watch": {"scope": scope, "namespaces": [watched]},
        # The namespace's own identity for its Jobs (made by default only with scope "namespaces").
        "jobs": {"runnerNamespaces": [watched]},
        # What a user grants for Sensors of the kubernetes source that read ConfigMaps.
        "rbac": {"extraRules": [READ_CONFIGMAPS]},
    }
    server = JsonServer()
    server.start()
    operator: OperatorProcess | None = None
    try:
        values_file = write_values(tmp / "values.yaml", values)
        helm("install", release, str(CHART), "-n", system, "-f", str(values_file), "--wait", "--timeout=120s")
        kubeconfig = service_account_kubeconfig(cluster, system, service_account, tmp / "kubeconfig")
        operator = OperatorProcess(
            kubeconfig=kubeconfig,
            log_path=tmp / "operator.log",
            namespaces=(watched,) if scope == "namespaces" else (),
            # Leader election as the chart's Deployment turns it on (templates/deployment.yaml).
            extra_env={
                "JOBWIRE_LEADER_ELECTION": "true",
                "JOBWIRE_LEADER_ELECTION_NAMESPACE": system,
                "JOBWIRE_LEADER_ELECTION_LEASE_NAME": f"{service_account}-leader",
                "JOBWIRE_LEADER_ELECTION_IDENTITY": "rbac-proof",
            },
        )
        operator.start()
        yield Deployed(scope, cluster, release, system, watched, outside, service_account, kubeconfig, operator, server)
    finally:
        code = operator.stop() if operator is not None and operator.process is not None else 0
        server.stop()
        helm("uninstall", release, "-n", system, check=False)
        drop_namespaces(cluster, [system, watched, outside])
    assert code == 0, f"the operator did not stop cleanly (exit {code}); log: {operator.log_path}"


def jobs_of(d: Deployed, producer: str) -> list[dict[str, Any]]:
    out = d.cluster.kubectl("get", "jobs", "-n", d.watched, "-l", f"jobwire.io/name={producer}", "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def status_of(d: Deployed, resource: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = d.cluster.get(resource, name, d.watched).get("status") or {}
    return found


def ready(d: Deployed, resource: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = status_of(d, resource, name)
        ok = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return status if ok else None

    return eventually(check, what=f"{resource} {name} Ready")


def run_now(d: Deployed, resource: str, name: str, value: str) -> None:
    d.cluster.kubectl(
        "annotate", resource, name, "-n", d.watched, "--overwrite", f"jobwire.io/run-requested-at={value}"
    )


def event_data(job: dict[str, Any]) -> Any:
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    return json.loads(env["JOBWIRE_EVENT"])["data"]


def succeeded(d: Deployed, resource: str, name: str, job: str) -> dict[str, Any]:
    """The producer's status once the tracker (watching Jobs) has recorded `job` as succeeded."""

    def check() -> dict[str, Any] | None:
        status = status_of(d, resource, name)
        last = status.get("lastRun") or {}
        return status if last.get("job") == job and last.get("result") == "Succeeded" else None

    return eventually(check, what=f"{job} recorded as succeeded in {name}'s status")


def events_about(d: Deployed, name: str) -> set[str]:
    out = d.cluster.kubectl(
        "get", "events", "-n", d.watched, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return {e["reason"] for e in json.loads(out)["items"]}


def schedule_runs_now(d: Deployed) -> None:
    """Run-now twice: a Job each (create, watch), both recorded (status), the older deleted by the history limit
    (delete), Events posted (create events)."""
    d.apply(schedule("nightly", d.watched, cron="0 3 1 1 *", successfulJobsHistoryLimit=1))
    ready(d, "schedules.jobwire.io", "nightly")
    run_now(d, "schedules.jobwire.io", "nightly", "first")
    [first] = eventually(lambda: jobs_of(d, "nightly"), what="the first Job")
    succeeded(d, "schedules.jobwire.io", "nightly", first["metadata"]["name"])
    run_now(d, "schedules.jobwire.io", "nightly", "second")
    second = eventually(
        lambda: [j for j in jobs_of(d, "nightly") if j["metadata"]["name"] != first["metadata"]["name"]],
        what="the second Job",
    )[0]
    status = succeeded(d, "schedules.jobwire.io", "nightly", second["metadata"]["name"])
    assert status["totals"]["succeeded"] == 2
    eventually(
        lambda: [j["metadata"]["name"] for j in jobs_of(d, "nightly")] == [second["metadata"]["name"]],
        what="the older Job deleted",
    )
    eventually(lambda: "JobCreated" in events_about(d, "nightly"), what="a JobCreated Event")


def webhook_creates_a_job(d: Deployed) -> None:
    """A signed request (the Secret read by name) with an event too large for an env var (its ConfigMap created)."""
    d.apply(secret("hook", d.watched, secret="s3cret"))
    auth = {"type": "hmac", "hmac": {"preset": "github", "secretRef": {"name": "hook", "key": "secret"}}}
    d.apply(webhook("push", d.watched, auth))
    url = ready(d, "webhooks.jobwire.io", "push")["url"]
    body = json.dumps({"ref": "refs/heads/main", "padding": "x" * 40_000}).encode()
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signature}
    answer = httpx.post(f"{d.operator.webhook_url}{url}", content=body, headers=headers, timeout=30)
    assert answer.status_code == 202, answer.text
    [job_name] = answer.json()["jobs"]
    job = d.cluster.get("job", job_name, d.watched)  # a 202 means the Job exists
    configmap = d.cluster.get("configmap", f"{job_name}-event", d.watched)
    assert configmap["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    succeeded(d, "webhooks.jobwire.io", "push", job_name)


def http_sensor_polls(d: Deployed) -> None:
    d.server.serve({"items": [{"id": "file-1"}]})
    source = {"http": {"url": f"{d.server.url}/items", "items": "response.items", "key": "item.id"}}
    d.apply(sensor("files", d.watched, source))
    ready(d, "sensors.jobwire.io", "files")
    run_now(d, "sensors.jobwire.io", "files", "now-1")
    [job] = eventually(lambda: jobs_of(d, "files"), what="the Job of the poll")
    assert event_data(job)["id"] == "file-1"
    succeeded(d, "sensors.jobwire.io", "files", job["metadata"]["name"])


def kubernetes_sensor_reads_what_extra_rules_grant(d: Deployed) -> None:
    d.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "release-42", "namespace": d.watched, "labels": {"flow": "k8s"}},
            "data": {"state": "ready"},
        }
    )
    d.apply(
        sensor(
            "releases",
            d.watched,
            {"kubernetes": {"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": "flow=k8s"}},
        )
    )
    ready(d, "sensors.jobwire.io", "releases")
    run_now(d, "sensors.jobwire.io", "releases", "now-1")
    [job] = eventually(lambda: jobs_of(d, "releases"), what="the Job of the ConfigMap")
    assert event_data(job)["metadata"]["name"] == "release-42"


def automation_notifies_suspends_and_runs_a_job(d: Deployed) -> None:
    """On a Schedule's Job succeeding: a notification (its URL from a Secret), the Schedule suspended (patch), and
    a Job of the Automation's own (as the runner ServiceAccount)."""
    d.apply(secret("alerts", d.watched, url=f"{d.server.url}/alerts"))
    d.apply(schedule("feeder", d.watched, cron="0 3 1 1 *"))
    source = f"/apis/jobwire.io/v1alpha1/namespaces/{d.watched}/schedules/feeder"
    d.apply(
        {
            "apiVersion": "jobwire.io/v1alpha1",
            "kind": "Automation",
            "metadata": {"name": "after-feeder", "namespace": d.watched},
            "spec": {
                "trigger": {"match": {"type": ["jobwire.job.succeeded"], "source": [source]}},
                "actions": [
                    {
                        "notify": {
                            "urlSecretRef": {"name": "alerts", "key": "url"},
                            "body": "{'job': events[0].subject}",
                        }
                    },
                    {"suspend": {"kind": "Schedule", "name": "feeder"}},
                    {"runJob": {"jobTemplate": job_template()}},
                ],
            },
        }
    )
    ready(d, "schedules.jobwire.io", "feeder")
    ready(d, "automations.jobwire.io", "after-feeder")
    run_now(d, "schedules.jobwire.io", "feeder", "go")
    [job] = eventually(lambda: jobs_of(d, "feeder"), what="the Schedule's Job")
    name = job["metadata"]["name"]
    eventually(lambda: {"job": name} in d.server.received, what="the notification")
    eventually(
        lambda: d.cluster.get("schedules.jobwire.io", "feeder", d.watched)["spec"].get("suspend") is True,
        what="the Schedule suspended",
    )
    [own] = eventually(lambda: jobs_of(d, "after-feeder"), what="the Automation's Job")
    succeeded(d, "automations.jobwire.io", "after-feeder", own["metadata"]["name"])


def sensor(name: str, namespace: str, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "jobwire.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"interval": "1h", "source": source, "jobTemplate": job_template()},
    }


# One entry per end-to-end flow.
FLOWS: dict[str, Callable[[Deployed], None]] = {
    "automation": automation_notifies_suspends_and_runs_a_job,
    "schedule": schedule_runs_now,
    "webhook": webhook_creates_a_job,
    "sensor-http": http_sensor_polls,
    "sensor-kubernetes": kubernetes_sensor_reads_what_extra_rules_grant,
}


@pytest.mark.cluster
def test_the_operator_is_the_charts_service_account_and_no_admin(deployed: Deployed) -> None:
    who = deployed.as_operator("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert who.stdout == f"system:serviceaccount:{deployed.system}:{deployed.service_account}"
    assert deployed.as_operator("auth", "can-i", "*", "*", "--all-namespaces").stdout.strip() == "no"


@pytest.mark.cluster
def test_the_operator_leads_with_the_charts_lease_rules_and_no_other_lease(deployed: Deployed) -> None:
    d = deployed
    lease = f"{d.service_account}-leader"
    holder = ["get", "lease", lease, "-n", d.system, "-o", "jsonpath={.spec.holderIdentity}"]
    eventually(lambda: d.as_operator(*holder).stdout == "rbac-proof", what="the operator to hold its Lease")
    # That one Lease, in the release's namespace only.
    assert 'cannot get resource "leases"' in refused(d, "get", "lease", "someone-elses", "-n", d.system)
    assert 'cannot get resource "leases"' in refused(d, "get", "lease", lease, "-n", d.watched)
    elsewhere = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": lease}}
    assert 'cannot create resource "leases"' in refused(
        d, "create", "-n", d.watched, "-f", "-", input=json.dumps(elsewhere)
    )


@pytest.mark.cluster
@pytest.mark.parametrize("flow", list(FLOWS))
def test_each_flow_works_with_only_the_charts_permissions(deployed: Deployed, flow: str) -> None:
    mark = len(deployed.operator.log())
    FLOWS[flow](deployed)
    assert deployed.forbidden_lines(since=mark) == [], f"403s in the operator's log: {deployed.operator.log_path}"


def refused(d: Deployed, *args: str, input: str | None = None) -> str:
    result = d.as_operator(*args, input=input)
    assert result.returncode != 0, f"kubectl {' '.join(args)} was allowed"
    assert "forbidden" in result.stderr.lower(), result.stderr
    return str(result.stderr)


@pytest.mark.cluster
def test_what_the_chart_does_not_grant_is_refused(deployed: Deployed) -> None:
    d = deployed
    d.apply(secret("elsewhere", d.outside, password="hunter2"), secret("mine", d.watched, password="pw"))
    # Allowed, as a control: the token works and the operator's own calls pass.
    assert d.as_operator("get", "secret", "mine", "-n", d.watched, "-o", "name").returncode == 0
    # Jobs: only as the namespace's runner ServiceAccount (impersonation), never with the operator's own rights.
    runner = f"--as=system:serviceaccount:{d.watched}:jobwire-runner"
    probe = ("create", "job", "probe", "--image=busybox", "-n", d.watched, "--dry-run=server")
    assert d.as_operator(*probe, runner).returncode == 0
    assert 'cannot create resource "jobs"' in refused(d, *probe)
    assert "cannot impersonate" in refused(d, *probe, f"--as=system:serviceaccount:{d.watched}:default")
    # Never granted in any scope.
    assert 'cannot list resource "secrets"' in refused(d, "get", "secrets", "-n", d.watched)
    assert 'cannot create resource "pods"' in refused(d, "run", "p", "--image=busybox", "-n", d.watched)
    assert 'cannot delete resource "schedules"' in refused(d, "delete", "schedules.jobwire.io", "any", "-n", d.watched)
    assert 'cannot list resource "nodes"' in refused(d, "get", "nodes")
    assert 'cannot create resource "rolebindings"' in refused(
        d,
        "create",
        "rolebinding",
        "grab",
        "--clusterrole=admin",
        f"--serviceaccount={d.system}:{d.service_account}",
        "-n",
        d.watched,
    )
    if d.scope == "namespaces":
        # Outside the watched namespaces: no Jobs (not even as a runner there), no Secrets.
        assert 'cannot create resource "jobs"' in refused(d, "create", "job", "x", "--image=busybox", "-n", d.outside)
        elsewhere = f"--as=system:serviceaccount:{d.outside}:jobwire-runner"
        assert "cannot impersonate" in refused(d, "create", "job", "x", "--image=busybox", "-n", d.outside, elsewhere)
        assert 'cannot get resource "secrets"' in refused(d, "get", "secret", "elsewhere", "-n", d.outside)


@pytest.mark.cluster
def test_a_sensor_reading_a_kind_nobody_granted_is_told_forbidden(deployed: Deployed) -> None:
    d = deployed
    d.apply(sensor("pods", d.watched, {"kubernetes": {"apiVersion": "v1", "kind": "Pod"}}))
    ready(d, "sensors.jobwire.io", "pods")
    run_now(d, "sensors.jobwire.io", "pods", "now-1")

    def healthy_false() -> dict[str, Any] | None:
        conditions = status_of(d, "sensors.jobwire.io", "pods").get("conditions") or []
        return next((c for c in conditions if c["type"] == "Healthy" and c["status"] == "False"), None)

    condition = eventually(healthy_false, what="the Sensor's Healthy=False")
    assert condition["reason"] == "Forbidden"
    assert "pods" in condition["message"]
    assert jobs_of(d, "pods") == []
