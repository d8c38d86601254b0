"""Reading the config file's text, before validation: YAML without anchors, aliases or deep
nesting, and ``${VAR}`` expanded only in secret fields.

Kept apart from the models in :mod:`bots.config` so each file is one concern. An alias bomb
never returns and deep nesting exhausts Python's recursion limit, so the loader refuses both;
a ``${VAR}`` outside a secret field is refused so a secret cannot leak into, say, the public
device name.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import BaseModel, SecretStr

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_YAML_DEPTH = 16


class ConfigError(ValueError):
    """The file cannot be used; ``str(exc)`` names the file and the exact key."""


class _YamlRefused(Exception):
    """Raised inside the loader; parse_config turns it into a ConfigError."""


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors, aliases or deep nesting.

    Refusing anchors outright (instead of counting expansions) is simplest and costs nothing:
    config.example.yaml uses none, and each bot's block is short.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise _YamlRefused(
                f"line {line}: YAML aliases (*{event.anchor}) are not allowed in the config; "
                "write the value out in full"
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _YamlRefused(
                f"line {line}: YAML anchors (&{anchor}) are not allowed in the config; "
                "write each value out in full"
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlRefused(
                    f"line {line}: nested more than {MAX_YAML_DEPTH} levels deep; no setting needs that"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader subclass
    except _YamlRefused as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        # int() of a number with thousands of digits, and any recursion the depth cap missed.
        raise ConfigError(f"{source}: not a usable YAML document: {type(exc).__name__}") from None


def _unwrap(annotation: Any) -> list[Any]:
    """``X | None`` and ``Optional[X]`` -> [X, None]; anything else -> [itself]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return list(typing.get_args(annotation))
    return [annotation]


def _is_secret(annotation: Any) -> bool:
    return SecretStr in _unwrap(annotation)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _item_of(annotation: Any) -> Any:
    for candidate in _unwrap(annotation):
        if typing.get_origin(candidate) is list:
            return typing.get_args(candidate)[0]
    return None


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        out[name] = field.annotation
        if field.alias:
            out[field.alias] = field.annotation
    return out


def secret_field_names(model: type[BaseModel]) -> list[str]:
    """The keys whose values may be ``${VAR}``: every field typed ``SecretStr``."""
    names: set[str] = set()
    for key, annotation in _fields_by_key(model).items():
        if _is_secret(annotation):
            names.add(key)
        sub = _model_of(annotation) or _model_of(_item_of(annotation))
        if sub is not None:
            names |= set(secret_field_names(sub))
    return sorted(names)


def _expand_env(
    node: Any, path: str, annotation: Any, environ: Mapping[str, str], source: str, root: type[BaseModel]
) -> Any:
    """Replace ``${VAR}`` in secret fields; refuse it anywhere else."""
    if isinstance(node, str) and _is_secret(annotation):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{source}: {path}: environment variable {name} is not set")
            return environ[name]

        return _ENV_REF.sub(repl, node)
    if isinstance(node, dict):
        model = _model_of(annotation)
        fields = _fields_by_key(model) if model is not None else {}
        out = {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            # An unknown key is left as it is: validation names it as unknown, which says more.
            out[key] = (
                _expand_env(value, child, fields[key], environ, source, root) if key in fields else value
            )
        return out
    if isinstance(node, list):
        item = _item_of(annotation)
        return [_expand_env(v, f"{path}[{i}]", item, environ, source, root) for i, v in enumerate(node)]
    if isinstance(node, str):
        match = _ENV_REF.search(node)
        if match:
            raise ConfigError(
                f"{source}: {path}: ${{{match.group(1)}}} is read from the environment only in secret "
                f"fields ({', '.join(secret_field_names(root))}); write this value itself"
            )
    return node


def expand_secrets(
    raw: dict[str, Any], model: type[BaseModel], environ: Mapping[str, str], source: str
) -> Any:
    """``raw`` with ``${VAR}`` replaced in ``model``'s secret fields; ConfigError elsewhere."""
    return _expand_env(raw, "", model, environ, source, model)
