"""Features register themselves; the app finds them by the name the config gives.

    @register
    class Lottery(ContractFeature[LotteryConfig]):
        name = "lottery"

A name in a bot's ``features`` list is found by importing it, then looking it up here:
- a plain name (``lottery``) is a built-in feature: the package ``bots.<name>`` is imported,
  and it must register a feature of that name;
- a dotted path (``mygroup.rota``) is a module of the operator's: it is imported, and it must
  register exactly one feature, which the bot then runs.

So adding a feature touches no central table. An unknown name is a :class:`ConfigError` that
names the config key. Importing registers; nothing else happens at import (no I/O, no jobs).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import TYPE_CHECKING, Any

from bots.config import AppConfig, ConfigError
from bots.runtime.contract import ContractFeature, factory

if TYPE_CHECKING:
    from bots.runtime.bot import FeatureFactory

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")

FeatureClass = type[ContractFeature[Any]]


class Registry:
    """Feature classes by name. One per process (:data:`REGISTRY`); tests may make their own."""

    def __init__(self) -> None:
        self._by_name: dict[str, FeatureClass] = {}

    def register(self, cls: FeatureClass) -> FeatureClass:
        """Class decorator: add ``cls`` under ``cls.name``. Registering it again is harmless;
        another class under a taken name is an error (two features would share tables)."""
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{cls.__qualname__}.name must be lower-case letters, digits and _")
        if not isinstance(getattr(cls, "title", None), str):
            raise ValueError(f"{cls.__qualname__} needs a title")
        known = self._by_name.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(f"a feature named '{name}' is already registered ({known.__module__})")
        self._by_name[name] = cls
        return cls

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def find(self, ref: str, key: str = "features") -> FeatureClass:
        """The feature a config names (importing it first); ``key`` is the config key, for errors."""
        if _NAME.match(ref):
            module = f"bots.{ref}"
        elif _DOTTED.match(ref):
            module = ref
        else:
            raise ConfigError(f"{key}: '{ref}' is not a feature name or a dotted module path")
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                raise ConfigError(f"{key}: unknown feature '{ref}' (no module {module})") from None
            raise  # the module exists but one of its own imports is missing: a real error
        if module != ref:  # a built-in name
            found = self._by_name.get(ref)
            if found is None:
                raise ConfigError(
                    f"{key}: unknown feature '{ref}' ({module} registers no feature of that name)"
                )
            return found
        mine = [
            c for c in self._by_name.values() if c.__module__ == ref or c.__module__.startswith(ref + ".")
        ]
        if len(mine) != 1:
            raise ConfigError(
                f"{key}: module '{ref}' must register exactly one feature (it registers {len(mine)})"
            )
        return mine[0]


REGISTRY = Registry()
register = REGISTRY.register


def shipped_features(*, registry: Registry = REGISTRY) -> list[FeatureClass]:
    """Every feature the suite ships: each package under ``bots/`` that registers a feature of
    its own name (``bots.lottery`` -> ``lottery``), found by looking, not from a table. What
    ``affinity forget`` forgets with even when no bot runs it any more."""
    import bots

    found: list[FeatureClass] = []
    for module in sorted(pkgutil.iter_modules(bots.__path__), key=lambda m: m.name):
        if not module.ispkg or not _NAME.match(module.name):
            continue
        try:
            found.append(registry.find(module.name))
        except ConfigError:
            continue  # a package of the runtime's (bots.runtime), not a feature
    return found


def feature_section(config: AppConfig, name: str) -> dict[str, Any]:
    """The raw ``features.<name>`` of the config (``FeaturesConfig`` keeps each section as
    written), for the feature's own model to validate. A feature without a section gets ``{}``:
    its defaults."""
    extra = config.features.model_extra or {}
    section = extra.get(name)
    return dict(section) if isinstance(section, dict) else {}


def factories_for(
    config: AppConfig, bot_index: int, *, registry: Registry = REGISTRY
) -> list[FeatureFactory]:
    """What ``BotRuntime`` takes for one bot of the config: each named feature found in the
    registry, its config section validated (a ConfigError names ``bots[i].features[j]`` or
    ``features.<name>.<key>``)."""
    out: list[FeatureFactory] = []
    for j, name in enumerate(config.bots[bot_index].features):
        cls = registry.find(name, f"bots[{bot_index}].features[{j}]")
        out.append(factory(cls, feature_section(config, cls.name)))
    return out


def check_features(config: AppConfig, *, registry: Registry = REGISTRY) -> None:
    """What ``affinity check-config`` checks beyond the file's shape: every bot's features exist
    and their sections validate, and every other ``features.<name>`` section belongs to a feature
    some bot runs (a misspelt section would otherwise be ignored). A ConfigError names the key."""
    names: set[str] = set()
    for i, bot in enumerate(config.bots):
        factories_for(config, i, registry=registry)
        names |= {registry.find(ref).name for ref in bot.features}
    for name in sorted(config.features.model_extra or {}):
        if name not in names:
            raise ConfigError(
                f"features.{name}: no bot runs a feature named '{name}' "
                "(check the spelling against the bots' features lists)"
            )
