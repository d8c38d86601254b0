from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bots.config import ConfigError, load_config, open_access_warnings, parse_config, require_pickle_key
from bots.herald.config import HeraldConfig
from bots.lottery import LotteryFeature
from bots.lottery.config import LotteryConfig
from bots.runtime.contract import validate_config
from bots.runtime.registry import feature_section

ROOT = Path(__file__).resolve().parents[2]
KEY = "k" * 43
MINIMAL = (
    'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n    password: pw\n'
)


def test_example_config_loads_and_documents_every_key() -> None:
    config = load_config(
        ROOT / "config.example.yaml", environ={"AFFINITY_PASSWORD": "x", "AFFINITY_PICKLE_KEY": "y"}
    )
    assert config.bots[0].user_id == "@affinity:example.org"
    lottery = validate_config(LotteryFeature, feature_section(config, "lottery"))
    assert isinstance(lottery, LotteryConfig) and lottery.default_term == timedelta(days=7)
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

    for name in names(AppConfig) | names(BotConfig) | names(LotteryConfig) | names(HeraldConfig):
        assert f"{name}:" in text, f"config.example.yaml does not document '{name}'"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace("http://localhost:8008", "localhost"), "homeserver"),
        (MINIMAL.replace("@bot:localhost", "bot"), "bots[0].user_id"),
        (MINIMAL + "acess: {}\n", "acess"),
        (MINIMAL.replace("    password: pw\n", ""), "bots[0]"),
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
    config = parse_config(
        MINIMAL + "access:\n  allowed_servers: ['*']\nencryption:\n  share_with_unverified_devices: true\n"
    )
    warnings = open_access_warnings(config)
    assert any("'*'" in w for w in warnings) and any("share_with_unverified" in w for w in warnings)
    assert open_access_warnings(parse_config(MINIMAL)) == []


def test_check_config_cli_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(MINIMAL + "    features: []\n" + f"encryption:\n  pickle_key: {KEY}\n")
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


def test_check_config_refuses_a_config_without_a_pickle_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL)
    env = {k: v for k, v in os.environ.items() if k != "AFFINITY_PICKLE_KEY"}
    run = [sys.executable, "-m", "bots.cli", "check-config", "--config", str(path)]
    refused = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, env=env)
    assert refused.returncode == 2
    assert "encryption.pickle_key is not set" in refused.stderr and "AFFINITY_PICKLE_KEY" in refused.stderr
    assert "secrets.token_urlsafe(32)" in refused.stderr
    # The same refusal from `affinity run`, before anything is written.
    running = subprocess.run(
        [sys.executable, "-m", "bots.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert running.returncode == 2 and "encryption.pickle_key is not set" in running.stderr
    assert not (tmp_path / "d").exists()
    # From the environment it is enough; a short one is a warning.
    ok = subprocess.run(
        run, capture_output=True, text=True, cwd=ROOT, env={**env, "AFFINITY_PICKLE_KEY": KEY}
    )
    assert ok.returncode == 0, ok.stderr
    assert "short" not in ok.stderr
    short = subprocess.run(
        run, capture_output=True, text=True, cwd=ROOT, env={**env, "AFFINITY_PICKLE_KEY": "abc"}
    )
    assert short.returncode == 0
    assert "warning: encryption.pickle_key: the pickle key is short (3 characters)" in short.stderr


def test_load_config_takes_the_pickle_key_from_file_or_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(ConfigError, match=r"encryption\.pickle_key is not set"):
        load_config(path, environ={})
    from_env = load_config(path, environ={"AFFINITY_PICKLE_KEY": KEY})
    assert from_env.encryption.pickle_key is not None
    assert require_pickle_key(from_env, environ={}) == KEY
    path.write_text(MINIMAL + "encryption:\n  pickle_key: ${MY_KEY}\n")
    assert require_pickle_key(load_config(path, environ={"MY_KEY": KEY}), environ={}) == KEY
    # Tests build runtimes from text without a key; the runtime itself then refuses to start.
    with pytest.raises(ConfigError, match=r"encryption\.pickle_key is not set"):
        require_pickle_key(parse_config(MINIMAL, environ={}), environ={})
    with pytest.raises(ConfigError, match=r"encryption\.pickle_key: must not be empty"):
        parse_config(MINIMAL + "encryption:\n  pickle_key: ''\n")


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("retention:\n  draw_history: -5\n", "retention.draw_history"),
        ("retention:\n  sweep_every: 3600\n", "retention.sweep_every"),
        ("retention:\n  outbox: 0s\n", "retention.outbox"),
    ],
)
def test_durations_of_any_yaml_type_must_be_positive_with_a_unit(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + extra, "c.yaml")
    assert f"c.yaml: {key}:" in str(err.value)


def test_a_duration_given_as_a_timedelta_must_be_positive() -> None:
    from bots.config import RetentionConfig

    assert RetentionConfig(outbox=timedelta(hours=1)).outbox == timedelta(hours=1)
    with pytest.raises(ValueError, match="longer than zero"):
        RetentionConfig(outbox=timedelta(0))


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 50_000 + "]" * 50_000 + "\n",
        "a: " + "{b: " * 50_000 + "1" + "}" * 50_000 + "\n",
        "".join("  " * i + "k:\n" for i in range(200)) + "  " * 200 + "k: 1\n",
    ],
    ids=["lists", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="nested more than 16 levels deep"):
        parse_config(MINIMAL + text, "c.yaml")


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ",".join([f"*{chr(ord('a') + i - 1)}"] * 9) + "]\n"
    for i in range(1, 12)
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (BILLION_LAUGHS, "anchors (&a)"),
        (MINIMAL + "features:\n  lottery:\n    default_roles: &r [a, b]\n", "anchors (&r)"),
        (
            "homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: '@bot:localhost'\n"
            "    password: pw\n    device_name: *nowhere\n",
            "aliases (*nowhere)",
        ),
    ],
)
def test_yaml_anchors_and_aliases_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yaml")
    assert str(err.value).startswith("c.yaml: line ") and problem in str(err.value)


def test_an_enormous_integer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml: not a usable YAML document"):
        parse_config(MINIMAL + "send_concurrency: " + "9" * 10_000 + "\n", "c.yaml")


def test_environment_variables_expand_only_in_secret_fields() -> None:
    env = {"PW": "hunter2", "TOKEN": "syt_abc", "KEY": KEY}
    config = parse_config(
        'homeserver: http://localhost:8008\ndata_dir: d\nbots:\n  - user_id: "@bot:localhost"\n'
        "    password: ${PW}\n  - user_id: '@two:localhost'\n    access_token: pre-${TOKEN}\n"
        "encryption:\n  pickle_key: ${KEY}\n",
        environ=env,
    )
    assert config.bots[0].password is not None and config.bots[0].password.get_secret_value() == "hunter2"
    assert (
        config.bots[1].access_token is not None
        and config.bots[1].access_token.get_secret_value() == "pre-syt_abc"
    )
    assert config.encryption.pickle_key is not None and config.encryption.pickle_key.get_secret_value() == KEY
    for where, text in [
        ("bots[0].device_name", MINIMAL + "    device_name: ${PW}\n"),
        ("homeserver", MINIMAL.replace("http://localhost:8008", "${PW}")),
        ("access.allowed_users[0]", MINIMAL + "access:\n  allowed_users: ['@${PW}:x']\n"),
        ("metrics.host", MINIMAL + "metrics:\n  host: ${PW}\n"),
    ]:
        with pytest.raises(ConfigError) as err:
            parse_config(text, "c.yaml", environ=env)
        message = str(err.value)
        assert message.startswith(
            f"c.yaml: {where}: ${{PW}} is read from the environment only in secret fields"
        )
        assert "access_token, password, pickle_key" in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: [[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]\n", "nested more than"),
        ("x: &x 1\ny: *x\n", "anchors"),
        ("retention:\n  draw_history: -5\n", "retention.draw_history"),
    ],
)
def test_check_config_exits_2_with_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + f"encryption:\n  pickle_key: {KEY}\n" + text)
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_a_config_file_must_be_small_utf8_text(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"\xff\xfe" + MINIMAL.encode())
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path, environ={"AFFINITY_PICKLE_KEY": KEY})
    path.write_text(MINIMAL + "#" * (2 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(path, environ={"AFFINITY_PICKLE_KEY": KEY})


def test_features_are_names_or_dotted_paths_and_their_sections_reach_the_feature() -> None:
    from bots.runtime.registry import feature_section

    config = parse_config(
        MINIMAL + "    features: [lottery, mygroup.rota]\nfeatures:\n  rota:\n    every: 2w\n", "c.yaml"
    )
    assert config.bots[0].features == ["lottery", "mygroup.rota"]
    assert feature_section(config, "rota") == {"every": "2w"}  # for the feature's own model
    assert parse_config(MINIMAL).bots[0].features == ["lottery", "ghostchair", "mirror", "herald", "calendar"]


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        ('    features: ["../etc"]\n', "bots[0].features[0]", "not a feature name"),
        ("features:\n  rota: 3\n", "features.rota", "must be a mapping"),
        ("features:\n  Rota: {}\n", "features.Rota", "not a feature name"),
    ],
)
def test_a_bad_feature_or_section_names_the_exact_key(text: str, key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + text, "c.yaml")
    assert f"c.yaml: {key}: " in str(err.value) and needle in str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("    features: [lotery]\n", "bots[0].features[0]: unknown feature 'lotery'"),
        (
            "    features: [tests.bot.example_feature]\nfeatures:\n  example:\n    keep: never\n",
            "features.example.keep",
        ),
        (
            "    features: [lottery]\nfeatures:\n  exampel:\n    keep: 1d\n",
            "features.exampel: no bot runs a feature named 'exampel'",
        ),
    ],
)
def test_check_config_names_the_feature_key_that_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + text + f"encryption:\n  pickle_key: {KEY}\n")
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stdout
    assert needle in done.stderr and "Traceback" not in done.stderr
    good = tmp_path / "good.yaml"
    good.write_text(
        MINIMAL + "    features: [lottery, tests.bot.example_feature]\n"
        f"features:\n  example:\n    keep: 1d\nencryption:\n  pickle_key: {KEY}\n"
    )
    ok = subprocess.run(
        [sys.executable, "-m", "bots.cli", "check-config", "--config", str(good)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
