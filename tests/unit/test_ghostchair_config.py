"""Tier 1: ``features.ghostchair`` is the ghost chair's own model (bots/ghostchair/config.py),
validated when the feature is built; a bad value names its exact key, as every config error
does, and the feature is found by its name through the registry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots.config import ConfigError, parse_config
from bots.ghostchair import GhostChairFeature
from bots.ghostchair.config import GhostChairConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import REGISTRY, feature_section

MINIMAL = (
    'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n'
)


def ghost_section(extra: str) -> GhostChairConfig:
    config = parse_config(MINIMAL + extra, "c.yaml")
    model = validate_config(GhostChairFeature, feature_section(config, "ghostchair"), "c.yaml")
    assert isinstance(model, GhostChairConfig)
    return model


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        (
            "features:\n  ghostchair:\n    default_timezone: Mars/Base\n",
            "features.ghostchair.default_timezone",
        ),
        ("features:\n  ghostchair:\n    misfire_grace: null\n", "features.ghostchair.misfire_grace"),
        ("features:\n  ghostchair:\n    misfire_grace: 3600\n", "features.ghostchair.misfire_grace"),
        ("features:\n  ghostchair:\n    default_voice: [a]\n", "features.ghostchair.default_voice"),
    ],
)
def test_a_bad_ghost_chair_setting_names_the_exact_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        ghost_section(extra)
    assert f"c.yaml: {key}:" in str(err.value)


def test_the_ghost_chair_registers_itself_and_reads_its_section() -> None:
    assert REGISTRY.find("ghostchair") is GhostChairFeature
    defaults = ghost_section("")
    assert defaults.default_voices is None and defaults.misfire_grace == timedelta(hours=1)
    chosen = ghost_section("features:\n  ghostchair:\n    misfire_grace: 10m\n    default_voices: [a, b]\n")
    assert chosen.misfire_grace == timedelta(minutes=10) and chosen.default_voices == ["a", "b"]
