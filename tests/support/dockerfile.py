"""Run a Dockerfile's steps without a Docker engine: the same RUN commands, in a temporary directory.

Only what operator/Dockerfile uses is understood: FROM (the base image is stood in for by a clean virtualenv of
this machine's Python), ARG, ENV, WORKDIR, COPY (from the build context, or --from an earlier stage), RUN (cache
mounts dropped: a cache changes no result), USER, EXPOSE and ENTRYPOINT. Absolute paths of WORKDIR and COPY land
under `root`, and variables named in `overrides` (the virtualenv's path) take the given value instead of the
Dockerfile's, because a virtualenv must be built where it is used.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Image", "Instruction", "build", "clean_env", "parse"]

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Image:
    """The last stage as it would run: its environment, user, entrypoint and working directory."""

    env: dict[str, str]
    workdir: Path
    user: str = ""
    entrypoint: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    """The RUN commands of every stage, in order, as they were run."""


def parse(text: str) -> list[Instruction]:
    """Instructions, with line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    if pending:
        raise ValueError("the Dockerfile ends inside a line continuation")
    return instructions


def _substitute(value: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), value)


@dataclass
class _Stage:
    name: str
    env: dict[str, str]
    args: dict[str, str]
    workdir: Path

    def variables(self) -> dict[str, str]:
        return {**self.args, **self.env}


def build(
    dockerfile: Path,
    context: Path,
    root: Path,
    base_env: Mapping[str, str],
    overrides: Mapping[str, str],
    *,
    timeout: float = 600.0,
) -> Image:
    """Run every stage of `dockerfile` with `context` as the build context; return the last stage."""
    root.mkdir(parents=True, exist_ok=True)
    stages: dict[str, _Stage] = {}
    stage: _Stage | None = None
    image = Image(env={}, workdir=root)

    for instruction in parse(dockerfile.read_text()):
        keyword, arguments = instruction.keyword, instruction.arguments
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            stage = _Stage(name=name, env=dict(base_env), args={}, workdir=root)
            stages[name] = stage
            continue
        if stage is None:
            if keyword != "ARG":
                raise ValueError(f"{keyword} before the first FROM")
            continue  # ARGs before FROM only choose the base image, which a virtualenv stands in for
        variables = stage.variables()
        if keyword == "ARG":
            key, _, default = arguments.partition("=")
            stage.args[key] = _substitute(default, variables)
        elif keyword == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                stage.env[key] = overrides.get(key, _substitute(value, variables))
        elif keyword == "WORKDIR":
            stage.workdir = _inside(root, stage, _substitute(arguments, variables))
            stage.workdir.mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            _copy(arguments, variables, stages, context, functools.partial(_inside, root, stage))
        elif keyword == "RUN":  # a build's ARGs are in the environment of its RUN commands, under its ENV
            command = " ".join(word for word in shlex.split(arguments) if not word.startswith("--mount="))
            image.steps.append(command)
            subprocess.run(["/bin/sh", "-c", command], cwd=stage.workdir, env=variables, check=True, timeout=timeout)
        elif keyword == "USER":
            image.user = arguments
        elif keyword == "EXPOSE":
            image.exposed += arguments.split()
        elif keyword == "ENTRYPOINT":
            image.entrypoint = _json_list(arguments) if arguments.startswith("[") else shlex.split(arguments)
        else:
            raise ValueError(f"{keyword} is not understood by this runner; teach tests/support/dockerfile.py")
    if stage is None:
        raise ValueError("no FROM in the Dockerfile")
    image.env, image.workdir = stage.env, stage.workdir
    return image


def _inside(root: Path, stage: _Stage, path: str) -> Path:
    """Where a path of the image is here: under `root`, unless it is there already (an overridden variable)."""
    if not path.startswith("/"):
        return stage.workdir / path
    return Path(path) if Path(path).is_relative_to(root) else root / path.lstrip("/")


def _json_list(arguments: str) -> list[str]:
    value = json.loads(arguments)
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ValueError(f"not an exec-form list: {arguments}")
    return value


def _copy(
    arguments: str,
    variables: Mapping[str, str],
    stages: Mapping[str, _Stage],
    context: Path,
    inside: Callable[[str], Path],
) -> None:
    words = [_substitute(word, variables) for word in shlex.split(arguments)]
    flags = {word.split("=", 1)[0]: word.split("=", 1)[1] for word in words if word.startswith("--")}
    paths = [word for word in words if not word.startswith("--")]
    *sources, destination = paths
    target = inside(destination)
    if "--from" in flags:
        if flags["--from"] not in stages:
            raise ValueError(f"COPY --from={flags['--from']}: no such stage")
        # Every stage shares one root here, so the files are in place already: check they are.
        for source in sources:
            if not inside(source).exists():
                raise FileNotFoundError(f"COPY --from={flags['--from']} {source}: not built")
        return
    for source in sources:
        origin = context / source
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        elif destination.endswith("/") or len(sources) > 1:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def clean_env(base_bin: Path) -> dict[str, str]:
    """This machine's environment as a base image would give it: no virtualenv, no uv or Python settings of the
    project, the stand-in base interpreter first on PATH (network settings such as CA bundles are kept)."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("UV_")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "activate").exists()]
    env["PATH"] = os.pathsep.join([str(base_bin), *path])
    return env
