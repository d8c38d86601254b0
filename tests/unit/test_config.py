from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bots.config import ConfigError, load_config, open_access_warnings, parse_config

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = 'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n'


def test_example_config_loads_and_documents_every_key() -> None:
    config = load_config(ROOT / "config.example.yaml", environ={
        "AFFINITY_PASSWORD": "x", "AFFINITY_PICKLE_KEY": "y"})
    assert config.bots[0].user_id == "@affinity:example.org"
    assert config.features.lottery.default_term == timedelta(days=7)
    assert config.data_dir.is_absolute()
    text = (ROOT / "config.example.yaml").read_text()
    # Every field of every model appears in the example (so the example never rots).
    def names(model: type) -> set[str]:
        out = set()
        for name, field in model.model_fields.items():
            out.add(field.alias or name)
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                out |= names(annotation)
        return out
    from bots.config import AppConfig, BotConfig
    for name in names(AppConfig) | names(BotConfig):
        assert f"{name}:" in text, f"config.example.yaml does not document '{name}'"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace("http://localhost:8008", "localhost"), "homeserver"),
        (MINIMAL.replace("@bot:localhost", "bot"), "bots[0].user_id"),
        (MINIMAL + "acess: {}\n", "acess"),
        (MINIMAL + "features:\n  lottery:\n    default_term: -1d\n", "features.lottery.default_term"),
        (MINIMAL + "features:\n  mirror:\n    default_min_submissions: 2\n", "features.mirror.default_min_submissions"),
        (MINIMAL.replace("    password: pw\n", ""), "bots[0]"),
        (MINIMAL + "features:\n  ghostchair:\n    default_timezone: Mars/Base\n", "features.ghostchair.default_timezone"),
    ],
)
def test_bad_config_names_the_exact_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert f"c.yaml: {key}:" in str(err.value)


def test_missing_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match=r"bots\[0\].password: environment variable NOPE is not set"):
        parse_config(MINIMAL.replace("pw", "${NOPE}"), environ={})


def test_open_configuration_warns() -> None:
    config = parse_config(MINIMAL + "access:\n  allowed_servers: ['*']\nencryption:\n  share_with_unverified_devices: true\n")
    warnings = open_access_warnings(config)
    assert any("'*'" in w for w in warnings) and any("share_with_unverified" in w for w in warnings)
    assert open_access_warnings(parse_config(MINIMAL)) == []


def test_check_config_cli_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL + "    features: []\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "metrics:\n  port: 99999\n")
    run = [sys.executable, "-m", "bots.cli", "check-config", "--config"]
    ok = subprocess.run([*run, str(good)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    wrong = subprocess.run([*run, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert wrong.returncode == 2
    assert "metrics.port" in wrong.stderr
    missing = subprocess.run([*run, str(tmp_path / "nope.yaml")], capture_output=True, text=True, cwd=ROOT)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
