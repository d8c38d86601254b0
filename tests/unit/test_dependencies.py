"""Every runtime dependency declared in pyproject.toml is imported by the code that ships."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("bots", "protocols", "storage")
# Used without an import statement of ours, and why.
INDIRECT = {"tzdata": "zoneinfo reads its time zone files where the system has none"}


def _distribution(requirement: str) -> str:
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return name.lower().replace("_", "-")


def _imported_distributions() -> set[str]:
    by_module = packages_distributions()
    found: set[str] = set()
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    for dist in by_module.get(module.split(".")[0], []):
                        found.add(dist.lower().replace("_", "-"))
    return found


def test_every_declared_dependency_is_used() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_distribution(r) for r in project["dependencies"]}
    unused = declared - _imported_distributions() - set(INDIRECT)
    assert not unused, f"declared in pyproject.toml but imported nowhere in {SHIPPED}: {sorted(unused)}"
