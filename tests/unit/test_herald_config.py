"""The herald's settings (``features.herald``), validated by the feature's own model: a bad value
is a ConfigError that names the file and the exact key, as for the rest of the config."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bots.config import ConfigError, parse_config
from bots.herald import HeraldFeature
from bots.herald.config import HeraldConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import factories_for, feature_section

MINIMAL = 'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n    features: [herald]\n'


def herald_config(extra: str, environ: dict[str, str] | None = None) -> HeraldConfig:
    config = parse_config(MINIMAL + extra, "c.yaml", environ=environ)
    found = validate_config(HeraldFeature, feature_section(config, "herald"), "c.yaml")
    assert isinstance(found, HeraldConfig)
    return found


def test_the_section_reaches_the_herald() -> None:
    found = herald_config(
        "features:\n  herald:\n    late_grace: 2h\n    template_dirs: [t]\n    encrypt_dms: false\n"
    )
    assert (
        found.late_grace == timedelta(hours=2)
        and found.template_dirs == [Path("t")]
        and not found.encrypt_dms
    )
    assert herald_config("") == HeraldConfig()


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("features:\n  herald:\n    late_grace: true\n", "features.herald.late_grace"),
        ("features:\n  herald:\n    late_grace: 6\n", "features.herald.late_grace"),
        ("features:\n  herald:\n    encrypt_dm: false\n", "features.herald.encrypt_dm"),
    ],
)
def test_bad_herald_settings_name_the_exact_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        herald_config(extra)
    assert f"c.yaml: {key}:" in str(err.value)
    # and building the bot's features (the start, and check-config) refuses it the same way
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        factories_for(parse_config(MINIMAL + extra, "c.yaml"), 0)


def test_an_environment_reference_in_the_herald_section_is_never_expanded() -> None:
    # Only secret fields read ${VAR}; the herald has none, so a secret never reaches its text.
    found = herald_config("features:\n  herald:\n    ack_reaction: ${PW}\n", environ={"PW": "hunter2"})
    assert found.ack_reaction == "${PW}"
