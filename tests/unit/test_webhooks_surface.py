"""The webhooks package's promises: its exports, pinned, and purity (importing it loads no I/O library)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jobwire import webhooks
from jobwire.webhooks import auth, intake

ROOT = Path(__file__).resolve().parents[2]


def test_public_surface() -> None:
    """A change here is a change to what the receiver may use."""
    assert sorted(webhooks.__all__) == sorted(
        [
            "DEFAULT_GENERIC_HEADER",
            "AuthFailure",
            "AuthReason",
            "FilterOutcome",
            "IntakeError",
            "IntakeReason",
            "ReplayGuard",
            "Secrets",
            "TokenBucket",
            "auth_header_names",
            "build_event",
            "delivery_event_id",
            "evaluate_filter",
            "filter_context",
            "filter_error",
            "lowercase_headers",
            "passes_filter",
            "retry_after",
            "verify",
        ]
    )
    assert all(hasattr(webhooks, name) for name in webhooks.__all__)
    assert auth.AuthFailure is webhooks.AuthFailure
    assert intake.IntakeError is webhooks.IntakeError
    assert {"build_event", "filter_context", "passes_filter", "filter_error"} <= set(intake.__all__)


def test_importing_the_package_loads_no_io() -> None:
    script = "import json, sys, jobwire.webhooks; print(json.dumps(sorted(sys.modules)))"
    loaded = set(
        json.loads(
            subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        )
    )
    forbidden = {"aiohttp", "kopf", "kubernetes_asyncio", "httpx", "jobwire.kube", "jobwire.handlers"}
    assert loaded.isdisjoint(forbidden), loaded & forbidden
