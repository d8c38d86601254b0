"""What is wrong with a template file, said so an operator with a text editor can fix it: the
file, the line and the dotted key of each problem (``protocols.herald.templates`` loads them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from protocols.errors import RuleError


class TemplateError(RuleError):
    """A template file is broken. ``issues`` holds each problem with its file, line and key."""

    def __init__(self, issues: Sequence[TemplateIssue]) -> None:
        self.issues = list(issues)
        shown = "\n".join(str(issue) for issue in self.issues[:5])
        more = len(self.issues) - 5
        if more > 0:
            shown += f"\n(and {more} more)"
        super().__init__(shown)


@dataclass(frozen=True)
class TemplateIssue:
    """One problem in a template file; ``line`` is 1-based, ``key`` a dotted path."""

    source: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}, line {self.line}"
        if self.key:
            where += f", key {self.key}"
        return f"{where}: {self.message}"


Loc = tuple[Any, ...]


def line_map(node: yaml.Node, source: str) -> tuple[dict[Loc, int], list[TemplateIssue]]:
    """Map every key path in the YAML tree to its 1-based line; report duplicated keys.

    PyYAML silently keeps the last of two equal keys; an operator who wrote a key twice meant
    something, so that is an error here.
    """
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}
    issues: list[TemplateIssue] = []

    def walk(current: yaml.Node, loc: Loc) -> None:
        if isinstance(current, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in current.value:
                key = key_node.value
                child = (*loc, key)
                if key in seen:
                    issues.append(
                        TemplateIssue(source, key_node.start_mark.line + 1, dotted(child), "key is repeated")
                    )
                seen.add(key)
                lines[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = (*loc, index)
                lines[child] = item.start_mark.line + 1
                walk(item, child)

    walk(node, ())
    return lines, issues


def dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    # A missing key has no line of its own: point at the nearest enclosing one that exists.
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def has_child(loc: Loc, locs: Sequence[Loc]) -> bool:
    return any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)


def clean_message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    if error.get("type") == "extra_forbidden":
        message = "unknown key (check its spelling)"
    elif error.get("type") == "missing":
        message = "this key is required"
    return message
