"""The operator under test, run as people run it: `jobwire run`, a separate process, against the test cluster."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.wait import eventually

__all__ = ["OperatorProcess", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    kubeconfig: Path
    log_path: Path
    namespaces: tuple[str, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)
    probe_port: int = field(default_factory=free_port)
    webhook_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def probe_url(self) -> str:
        return f"http://127.0.0.1:{self.probe_port}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start and wait until ready. At the first start, ports taken by someone else between picking and binding
        them are picked again (a few times at most); a restart keeps its ports, as the tests' URLs do."""
        first = self.process is None
        for _ in range(3 if first else 1):
            mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn()
            eventually(self._exited_or_ready, timeout=timeout, what=f"the operator to start (log: {self.log_path})")
            if not (first and self._exited() and "address already in use" in self.log()[mark:]):
                break
            self.probe_port, self.webhook_port = free_port(), free_port()
        self.wait_ready(timeout)

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def _exited_or_ready(self) -> bool:
        if self._exited():
            return True
        try:
            return httpx.get(f"{self.probe_url}/readyz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def _spawn(self) -> None:
        args = [
            sys.executable,
            "-m",
            "jobwire.cli.main",
            "run",
            "--probe-port",
            str(self.probe_port),
            "--webhook-port",
            str(self.webhook_port),
            "--log-level",
            "DEBUG",
        ]
        for namespace in self.namespaces:
            args += ["-n", namespace]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "JOBWIRE_HTTP_HOST": "127.0.0.1", **self.extra_env}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float) -> None:
        eventually(self._ready, timeout=timeout, what=f"the operator to be ready (log: {self.log_path})")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}; log: {self.log_path}")
        try:
            return httpx.get(f"{self.probe_url}/readyz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Stop it (SIGTERM: gracefully; SIGKILL: a crash) and return its exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")
