"""Real servers for the Sensor source tests: PostgreSQL, an S3 API (moto's server), Prometheus, and a small HTTP
server whose answers the test sets. Each runs on 127.0.0.1 and a free port, in a temp dir, and is stopped after.

When a server cannot be had, its fixture fails with what to install: these tests never skip.

Fixtures (import them into the test module that uses them):
- `postgres` (session): its own PostgreSQL cluster; `.dsn(...)` connects over TCP with a password.
- `s3` (session): moto's S3 server; `.endpoint`, and `s3_client(endpoint)` to create buckets and objects.
- `http_server` (per test): `ReplyServer`, answering what `reply()` set, recording requests.
- `prometheus` (session): Prometheus scraping a `ReplyServer`'s /metrics that the test sets.
- `kube` (session): the operator's own Kube client on the test cluster; `poll_context()` builds a PollContext.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.session import get_session

from jobwire.kube.api import Kube
from jobwire.kube.client import make_api_client
from jobwire.kube.secrets import SecretReader
from jobwire.sources.base import PollContext
from tests.support.kube import Cluster
from tests.support.operator import free_port
from tests.support.wait import eventually

__all__ = [
    "PROMETHEUS_INSTALL",
    "MotoServer",
    "PostgresServer",
    "PrometheusServer",
    "Reply",
    "ReplyServer",
    "ensure_prometheus",
    "http_server",
    "kube",
    "poll_context",
    "postgres",
    "postgres_bindir",
    "prometheus",
    "s3",
    "s3_client",
    "wait_for_prometheus",
]

PROMETHEUS_INSTALL = "apt-get install -y --no-install-recommends prometheus"
POSTGRES_INSTALL = "apt-get install -y --no-install-recommends postgresql"
START_SECONDS = 60.0


# ---------------------------------------------------------------------------------------------------- HTTP server


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    hang: bool = False
    """Answer only once the server is released (or stopped): for timeouts, without a sleep anywhere."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is expected: no traceback."""


class ReplyServer:
    """A threaded HTTP server on 127.0.0.1 that answers each path as the test set it, and records requests."""

    def __init__(self) -> None:
        self.replies: dict[str, Reply] = {}
        self.requests: list[Request] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def reply(self, path: str, body: Any = None, *, status: int = 200, text: str | None = None, **kw: Any) -> None:
        """Answer `path` with `body` as JSON (or `text` as it is) from now on."""
        raw = text.encode() if text is not None else json.dumps(body).encode()
        content_type = kw.pop("content_type", "text/plain; version=0.0.4" if text is not None else "application/json")
        with self._lock:
            self.replies[path] = Reply(status=status, body=raw, content_type=content_type, **kw)

    def start(self) -> ReplyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with owner._lock:
                    owner.requests.append(Request(self.command, self.path, dict(self.headers.items()), body))
                    reply = owner.replies.get(path, Reply(status=404, body=b'{"error": "no reply set"}'))
                if reply.hang:
                    owner.released.wait(START_SECONDS)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _answer

        return Handler


@pytest.fixture
def http_server() -> Iterator[ReplyServer]:
    server = ReplyServer().start()
    try:
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl, postgres): `pg_config --bindir`, else the newest
    /usr/lib/postgresql/*/bin. Fails with what to install when there is none."""
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _version(p.parent.name), reverse=True)
    candidates += versions
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    pytest.fail(
        f"PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found in {[str(c) for c in candidates]}: "
        f"install them with `{POSTGRES_INSTALL}`",
        pytrace=False,
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _run_as() -> str | None:
    """The system user to run PostgreSQL as: it refuses to run as root, so `postgres` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root, and there is no `postgres` system user to run PostgreSQL as", pytrace=False)
    return "postgres"


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster: TCP on 127.0.0.1 with a password (scram), a Unix socket in its own dir with
    trust for setting up; a role and database `jobwire`."""

    bindir: Path
    workdir: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: "pw-" + secrets.token_hex(12))
    user: str | None = None

    @property
    def socket_dir(self) -> Path:
        return self.workdir / "socket"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def dsn(self, *, password: str | None = None, port: int | None = None) -> str:
        return f"postgresql://jobwire:{password or self.password}@127.0.0.1:{port or self.port}/jobwire"

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir(parents=True)
        if self.user:
            shutil.chown(self.workdir, self.user)
            shutil.chown(self.socket_dir, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off"
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.workdir / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
        )
        self.psql(f"CREATE ROLE jobwire LOGIN PASSWORD '{self.password}'", "CREATE DATABASE jobwire OWNER jobwire")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def psql(self, *statements: str, database: str = "postgres", user: str = "postgres") -> str:
        """Run SQL as a superuser over the Unix socket (trust); the output, unaligned."""
        args = ["psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", user, "-d", database, "-XAtq"]
        args += ["-v", "ON_ERROR_STOP=1"]
        for statement in statements:
            args += ["-c", statement]
        return self._run(*args).stdout

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
        if check and result.returncode != 0:
            log = self.workdir / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}", pytrace=False)
        return result


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's tmp dirs: those are 0700 and root's, and the server runs as `postgres`.
    server = PostgresServer(
        bindir=postgres_bindir(), workdir=Path(tempfile.mkdtemp(prefix="jobwire-pg-")), user=_run_as()
    )
    try:
        yield server.start()
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------------------------- S3


@dataclass
class MotoServer:
    """moto's S3-compatible server (a real HTTP API) in its own process."""

    workdir: Path
    require_auth: bool = False
    """Check signatures against moto's IAM: any access key it did not issue is refused."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        if self.require_auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        log = self.workdir / f"moto-{self.port}.log"
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"moto's server exited with {self.process.returncode}; see {log}")
            with suppress(httpx.HTTPError):
                return httpx.get(f"{self.endpoint}/moto-api/", timeout=1.0).status_code < 500
            return False

        eventually(ready, timeout=START_SECONDS, what="moto's S3 server to answer")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(workdir=tmp_path_factory.mktemp("moto")).start()
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def s3_client(endpoint: str) -> AsyncIterator[Any]:
    """An aiobotocore S3 client for setting up buckets and objects (moto accepts any credentials)."""
    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ) as client:
        yield client


# ----------------------------------------------------------------------------------------------------- Prometheus


def ensure_prometheus() -> Path:
    """The Prometheus server binary. When it is missing and we are root with apt-get, Debian's package is installed
    (PROMETHEUS_INSTALL); otherwise this fails saying what to install."""
    if found := shutil.which("prometheus"):
        return Path(found)
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        command = [apt, *PROMETHEUS_INSTALL.split()[1:]]
        if subprocess.run(command, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run([apt, "update"], env=env, capture_output=True, check=False)
            subprocess.run(command, env=env, capture_output=True, check=False)
        if found := shutil.which("prometheus"):
            return Path(found)
    pytest.fail(f"Prometheus is not installed: install Debian's package with `{PROMETHEUS_INSTALL}`", pytrace=False)


@dataclass
class PrometheusServer:
    """Prometheus on 127.0.0.1, scraping `target` (a ReplyServer whose /metrics the test sets) twice a second."""

    binary: Path
    workdir: Path
    target: ReplyServer
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PrometheusServer:
        config = self.workdir / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": "500ms", "scrape_timeout": "400ms", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "jobwire-test", "static_configs": [{"targets": [f"127.0.0.1:{self.target.port}"]}]}
                    ],
                }
            )
        )
        log = self.workdir / "prometheus.log"
        command = [
            str(self.binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=self.workdir)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"prometheus exited with {self.process.returncode}; see {self.workdir}/prometheus.log"
                )
            with suppress(httpx.HTTPError):
                return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
            return False

        eventually(ready, timeout=START_SECONDS, what="Prometheus to be ready")
        return self

    def value(self, query: str) -> str | None:
        """The first sample's value of an instant query right now, or None."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=5.0).json()
        result = answer.get("data", {}).get("result") or []
        return str(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    binary = ensure_prometheus()
    target = ReplyServer().start()
    target.reply("/metrics", text="")
    server = PrometheusServer(binary=binary, workdir=tmp_path_factory.mktemp("prometheus"), target=target)
    try:
        yield server.start()
    finally:
        server.stop()
        target.stop()


# ----------------------------------------------------------------------------------------------------- Kubernetes


@pytest.fixture(scope="session")
async def kube(cluster: Cluster) -> AsyncIterator[Kube]:
    """The operator's own JSON client, on the test cluster."""
    api = await make_api_client(str(cluster.kubeconfig))
    try:
        yield Kube(api)
    finally:
        await api.close()


def poll_context(kube: Kube, namespace: str, *, timeout: float = 10.0) -> PollContext:
    """What the engine hands a source: Secrets of `namespace`, read fresh (no cache) so tests see their changes."""
    return PollContext(namespace=namespace, secrets=SecretReader(kube, ttl_seconds=0), kube=kube, timeout=timeout)


def wait_for_prometheus(server: PrometheusServer, query: str, expected: str, *, timeout: float = 30.0) -> str:
    """Wait until Prometheus has scraped `expected` for `query`."""

    def seen() -> str | None:
        value = server.value(query)
        return value if value == expected else None

    return eventually(seen, timeout=timeout, what=f"Prometheus to see {query} == {expected}")


if __name__ == "__main__":
    # `python -m tests.support.servers`: make sure Prometheus is there (as `make test` may), print its path.
    print(ensure_prometheus())
