"""The async Kubernetes client: in-cluster credentials when there, else $KUBECONFIG (or ~/.kube/config)."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import client, config

__all__ = ["make_api_client"]

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


async def make_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient for the cluster the operator runs against; the caller closes it."""
    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path is None and os.path.exists(SERVICE_ACCOUNT_TOKEN):  # noqa: ASYNC240 - one stat at start-up
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=path, client_configuration=configuration)
    api = client.ApiClient(configuration=configuration)
    if not any(os.environ.get(name) for name in PROXY_VARIABLES):
        # kubernetes_asyncio's session trusts the environment, which costs every API request two thread hops (a
        # netrc read and a proxy lookup, benchmarks/RESULTS.md). With no proxy configured
        # there is nothing to find; when one is, it is honoured, as client-go does. aiohttp lists the attribute
        # as one that may be set.
        api.rest_client.pool_manager._trust_env = False
    return api
