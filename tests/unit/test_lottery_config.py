"""The lottery's settings (``features.lottery``), validated by the feature's own model: a bad
value is a ConfigError that names the file and the exact key, as for the rest of the config."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots.config import ConfigError, parse_config
from bots.lottery import LotteryFeature
from bots.lottery.config import LotteryConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import factories_for, feature_section

MINIMAL = 'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n    features: [lottery]\n'


def lottery_config(extra: str) -> LotteryConfig:
    config = parse_config(MINIMAL + extra, "c.yaml")
    found = validate_config(LotteryFeature, feature_section(config, "lottery"), "c.yaml")
    assert isinstance(found, LotteryConfig)
    return found


def test_the_section_reaches_the_lottery() -> None:
    found = lottery_config("features:\n  lottery:\n    default_term: 3d\n    redraw_on_expiry: true\n")
    assert found.default_term == timedelta(days=3) and found.redraw_on_expiry
    assert lottery_config("") == LotteryConfig()


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("features:\n  lottery:\n    default_term: -1d\n", "features.lottery.default_term"),
        ("features:\n  lottery:\n    cell_room_sunset: 0\n", "features.lottery.cell_room_sunset"),
        ("features:\n  lottery:\n    commit_window: 30\n", "features.lottery.commit_window"),
        ("features:\n  lottery:\n    default_rolez: [a]\n", "features.lottery.default_rolez"),
    ],
)
def test_bad_lottery_settings_name_the_exact_key(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        lottery_config(extra)
    assert f"c.yaml: {key}:" in str(err.value)
    # and building the bot's features (the start, and check-config) refuses it the same way
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        factories_for(parse_config(MINIMAL + extra, "c.yaml"), 0)
