"""No Docker engine runs here, so the Dockerfile is read and checked against the project itself.

The image must install the project the way the README does (``pip install .``), with every
package pyproject ships copied into the build context, and run the ``affinity`` entry point as an
unprivileged user with its state in the ``/data`` volume.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def args_of(dockerfile: list[tuple[str, str]], name: str) -> list[str]:
    return [rest for word, rest in dockerfile if word == name]


def test_instructions_parser_joins_continuations() -> None:
    parsed = instructions("FROM x\n# c\nRUN a \\\n    && b\nUSER u\n")
    assert parsed == [("FROM", "x"), ("RUN", "a      && b"), ("USER", "u")]


def test_base_is_python_311_slim(dockerfile: list[tuple[str, str]]) -> None:
    assert args_of(dockerfile, "FROM") == ["python:3.11-slim"]


def test_installs_the_project_as_the_readme_does(dockerfile: list[tuple[str, str]], pyproject: dict) -> None:  # type: ignore[type-arg]
    readme = (ROOT / "README.md").read_text()
    assert "pip install ." in readme
    installs = []
    for run in args_of(dockerfile, "RUN"):
        for command in re.split(r"&&|;", run):
            words = shlex.split(command)
            if "pip" in words and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    # The project itself, not editable (the source is deleted after), no dev extras.
    assert installs == [["."]]
    # Everything setuptools needs to build it is in the build context at that point.
    sources: set[str] = set()
    for rest in args_of(dockerfile, "COPY"):
        sources.update(shlex.split(rest)[:-1])
    assert "pyproject.toml" in sources
    assert pyproject["project"]["readme"] in sources
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = pattern.rstrip("*")
        assert top in sources, f"package {top} is not copied into the image"
    # ... and .dockerignore does not hide any of it.
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in sources:
        assert not any(fnmatch.fnmatch(source, pat.lstrip("/")) for pat in ignored), source
    for secret in ("config.yaml", "data", ".venv", ".git"):
        assert any(fnmatch.fnmatch(secret, pat.lstrip("/")) for pat in ignored), secret


def test_entry_point_exists_and_runs_the_mounted_config(
    dockerfile: list[tuple[str, str]], pyproject: dict
) -> None:  # type: ignore[type-arg]
    (entry,) = args_of(dockerfile, "ENTRYPOINT")
    (cmd,) = args_of(dockerfile, "CMD")
    assert json.loads(entry) == ["affinity"]
    assert "affinity" in pyproject["project"]["scripts"]
    assert json.loads(cmd) == ["run", "--config", "/config/config.yaml"]
    # The CMD is something our own parser accepts.
    from bots.cli import build_parser

    args = build_parser().parse_args(json.loads(cmd))
    assert args.command == "run" and args.config == "/config/config.yaml"


def test_runs_as_a_user_that_is_not_root(dockerfile: list[tuple[str, str]]) -> None:
    users = args_of(dockerfile, "USER")
    assert users, "no USER instruction: the image would run as root"
    last = users[-1].split(":")[0]
    assert last not in ("root", "0")
    # The last USER comes after the install and before the entry point.
    words = [w for w, _ in dockerfile]
    assert words.index("ENTRYPOINT") > len(words) - 1 - words[::-1].index("USER")


def test_data_volume_and_healthcheck(dockerfile: list[tuple[str, str]]) -> None:
    volumes = args_of(dockerfile, "VOLUME")
    assert any("/data" in (json.loads(v) if v.startswith("[") else v.split()) for v in volumes)
    (health,) = args_of(dockerfile, "HEALTHCHECK")
    assert "CMD" in health and "/healthz" in health
    from bots.config import MetricsConfig

    assert f":{MetricsConfig().port}/healthz" in health  # the port the listener uses by default


def test_systemd_unit_runs_the_entry_point_as_its_own_user() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "affinity.service")
    service = unit["Service"]
    exec_start = shlex.split(service["ExecStart"])
    assert Path(exec_start[0]).name == "affinity" and exec_start[1:3] == ["run", "--config"]
    assert service["User"] not in ("root", "0")
    assert service["KillSignal"] == "SIGTERM"
    assert "Install" in unit
