"""Tier 1: ``features.mirror`` is the blind mirror's own model (bots/mirror/config.py), validated
when the feature is built; a bad value names its exact key, as every config error does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots.config import ConfigError, open_access_warnings, parse_config
from bots.mirror import MirrorFeature
from bots.mirror.config import MirrorConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import REGISTRY, feature_section

MINIMAL = (
    'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n'
)


def mirror_section(extra: str) -> MirrorConfig:
    config = parse_config(MINIMAL + extra, "c.yaml")
    model = validate_config(MirrorFeature, feature_section(config, "mirror"), "c.yaml")
    assert isinstance(model, MirrorConfig)
    return model


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("features:\n  mirror:\n    default_min_submissions: 2\n", "features.mirror.default_min_submissions"),
        ("features:\n  mirror:\n    draft_idle: 1.5\n", "features.mirror.draft_idle"),
        ("features:\n  mirror:\n    release_delay_min: 1h\n    release_delay_max: 1m\n", "features.mirror"),
        ("features:\n  mirror:\n    display_timezone: Mars/Base\n", "features.mirror.display_timezone"),
        ("features:\n  mirror:\n    reqire_encrypted_dm: false\n", "features.mirror.reqire_encrypted_dm"),
    ],
)
def test_a_bad_mirror_setting_names_the_exact_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        mirror_section(extra)
    assert f"c.yaml: {key}:" in str(err.value)


def test_the_mirror_registers_itself_and_reads_its_section() -> None:
    assert REGISTRY.find("mirror") is MirrorFeature
    assert mirror_section("").require_encrypted_dm is True
    assert mirror_section("features:\n  mirror:\n    draft_idle: 30m\n").draft_idle == timedelta(minutes=30)


def test_unencrypted_reflections_are_warned_about() -> None:
    relaxed = parse_config(MINIMAL + "features:\n  mirror:\n    require_encrypted_dm: false\n")
    assert any("require_encrypted_dm is off" in w for w in open_access_warnings(relaxed))
    strict = parse_config(MINIMAL + "features:\n  mirror:\n    require_encrypted_dm: true\n")
    assert not any("require_encrypted_dm" in w for w in open_access_warnings(strict))
