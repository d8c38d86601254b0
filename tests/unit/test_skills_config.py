"""The skill-swap board's and the ledger's settings: the example config documents and
validates them, and bad values name their key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bots.config import ConfigError, load_config
from bots.gains import GainsFeature
from bots.gains.config import GainsConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import feature_section
from bots.skills import SkillsFeature
from bots.skills.config import SkillsConfig

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_documents_and_validates_both_sections() -> None:
    config = load_config(
        ROOT / "config.example.yaml", environ={"AFFINITY_PASSWORD": "x", "AFFINITY_PICKLE_KEY": "y"}
    )
    skills = validate_config(SkillsFeature, feature_section(config, "skills"))
    gains = validate_config(GainsFeature, feature_section(config, "gains"))
    assert isinstance(skills, SkillsConfig) and skills.entry_ttl == timedelta(days=30)
    assert isinstance(gains, GainsConfig) and gains.keep_text == timedelta(days=90)
    text = (ROOT / "config.example.yaml").read_text()
    for name in [*SkillsConfig.model_fields, *GainsConfig.model_fields]:
        assert f"{name}:" in text, name


@pytest.mark.parametrize(
    ("cls", "raw", "key"),
    [
        (SkillsFeature, {"entry_ttl": "200d"}, "features.skills.entry_ttl"),
        (SkillsFeature, {"entry_ttl": "5"}, "features.skills.entry_ttl"),
        (SkillsFeature, {"match_tll": "7d"}, "features.skills.match_tll"),
        (GainsFeature, {"categories": ["Bad Name"]}, "features.gains.categories"),
        (GainsFeature, {"keep_text": "10s"}, "features.gains.keep_text"),
    ],
)
def test_bad_settings_name_their_key(cls: type, raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        validate_config(cls, raw)
