"""The package layout promises: `operator/` never shadows the standard library's `operator` module."""

from __future__ import annotations

import operator
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_stdlib_operator_is_not_shadowed() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert hasattr(operator, "itemgetter")


def test_stdlib_operator_wins_even_from_the_repo_root() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import operator, jobwire; print(operator.itemgetter.__module__, jobwire.__name__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["operator", "jobwire"]
