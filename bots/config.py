"""The operator's YAML file, validated by pydantic. Loading has no side effects.

Every model forbids unknown keys, so a typo is an error that names the key instead of a silent
default. Secret fields (those typed ``SecretStr``: passwords, access tokens, the pickle key) may
be written as ``${VAR}`` and come from the environment; anywhere else ``${VAR}`` is refused, so a
secret cannot leak into, say, the public device name.

The YAML is read with a loader that refuses anchors and aliases (an alias bomb never returns)
and nesting deeper than any real config needs (deep nesting would otherwise exhaust Python's
recursion limit); each problem is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bots.config_text import ConfigError, expand_secrets, load_yaml
from bots.config_text import secret_field_names as _secret_field_names
from bots.runtime.ids import is_user_id, server_of
from protocols.timespec import TimeSpecError, parse_duration, parse_zone

# The real config nests four levels deep (features.herald.template_dirs[0]); far more is an attack
# or an accident, and PyYAML's composer recurses once per level.
MAX_CONFIG_BYTES = 1 << 20
PICKLE_KEY_ENV = "AFFINITY_PICKLE_KEY"
# secrets.token_urlsafe(32) gives 43 characters; fewer than 32 is a guessable key.
MIN_PICKLE_KEY_CHARS = 32
GENERATE_PICKLE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def _user_id(value: str) -> str:
    if not is_user_id(value):
        raise ValueError(f"'{value}' is not a Matrix user id like @name:example.org")
    return value


def _duration(value: Any) -> timedelta:
    """A positive duration from text like ``90m``; a bare number (whose unit nobody can tell)
    and anything zero or negative are refused, whichever YAML type they arrive as."""
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"{value!r} is not a duration: write a number and a unit, like 30s, 90m, 48h, 7d or 2w"
        )
    try:
        return parse_duration(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc


def _zone(value: str) -> str:
    try:
        return parse_zone(value).key
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc


# A feature a bot runs: a built-in's name (``lottery``) or the dotted path of an operator's module
# (``mygroup.rota``). Which exist is checked where the features are built (bots.runtime.registry)
# and by ``affinity check-config``: loading the config imports no feature.
_FEATURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FEATURE_REF = r"^([a-z][a-z0-9_]{0,31}|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+)$"


def _feature_ref(value: str) -> str:
    if not re.match(_FEATURE_REF, value):
        raise ValueError(f"'{value}' is not a feature name (like lottery) or a dotted module path")
    return value


UserIdStr = Annotated[str, AfterValidator(_user_id)]
FeatureRef = Annotated[str, AfterValidator(_feature_ref)]
Duration = Annotated[timedelta, AfterValidator(_duration)]
ZoneName = Annotated[str, AfterValidator(_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _durations_from_text(cls, value: Any, info: Any) -> Any:
        # Every duration goes through _duration: pydantic alone would take an integer as
        # seconds, and a negative or zero one with it.
        field = cls.model_fields.get(info.field_name)
        if field is not None and field.annotation is timedelta:
            return _duration(value)
        return value


class BotConfig(Strict):
    user_id: UserIdStr
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_name: str = "Affinity"
    # Default: the built-in features (the calendar, which the herald's !event moved to, included).
    features: list[FeatureRef] = Field(
        default_factory=lambda: ["lottery", "ghostchair", "mirror", "herald", "calendar"]
    )

    @model_validator(mode="after")
    def _has_credentials(self, info: ValidationInfo) -> BotConfig:
        # In application-service mode (``appservice:``) the registration's token is the credential.
        appservice = bool(info.context and info.context.get("appservice"))
        if self.password is None and self.access_token is None and not appservice:
            raise ValueError("each bot needs a password or an access_token")
        return self


class AccessConfig(Strict):
    # Empty means: each bot's own homeserver only.
    allowed_servers: list[str] = Field(default_factory=list)
    allowed_users: list[UserIdStr] = Field(default_factory=list)
    # Who may use coordinator commands (protocol start/amend/cancel) beyond room power levels;
    # empty means anyone the room's power levels allow.
    coordinators: list[str] = Field(default_factory=list)
    moderator_level: int = Field(default=50, ge=0, le=100)


class EncryptionConfig(Strict):
    # False (default): room keys go only to devices their owners cross-signed (as MSC4153
    # clients do), so a device injected by a homeserver admin receives nothing.
    share_with_unverified_devices: bool = False
    # Required to run (here or in AFFINITY_PICKLE_KEY): it seals nio's store, the session and
    # cross-signing files, and wraps the blind mirror's round keys.
    pickle_key: SecretStr | None = None
    # Room keys for a scheduled send (a herald phase) are shared this long before it is due, at
    # most this many rooms a second (bots/runtime/keys_ahead.py).
    keys_ahead: Duration = timedelta(minutes=10)
    keys_ahead_per_second: float = Field(default=5.0, gt=0, le=100)

    @field_validator("pickle_key")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            raise ValueError(f"must not be empty; generate one with {GENERATE_PICKLE_KEY}")
        return value


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(default=False, alias="json")


class MetricsConfig(Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class FeaturesConfig(Strict):
    """``features.<name>``: each feature's own section, kept as it is written (``extra``) and
    validated by the feature's own ``config_model`` when the feature is built
    (``bots.runtime.registry.factories_for``; ``affinity check-config`` also names a section no
    bot's feature claims), which names the exact key on error. Here a section must only be a
    mapping under a feature's name: loading the config imports no feature."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def extra_problems(self) -> list[tuple[str, str]]:
        """(key, problem) for each extra section that cannot be a feature's settings."""
        out = []
        for name, section in (self.model_extra or {}).items():
            if not isinstance(name, str) or not _FEATURE_NAME.match(name):
                out.append((f"features.{name}", "not a feature name (lower-case letters, digits and _)"))
            elif section is not None and not isinstance(section, dict):
                out.append((f"features.{name}", "must be a mapping of that feature's settings"))
        return out


class RetentionConfig(Strict):
    """How long each kind of record lives. The sweeper deletes what is older."""

    handled_events: timedelta = timedelta(days=2)
    outbox: timedelta = timedelta(days=2)
    draw_history: timedelta = timedelta(days=90)
    protocol_runs: timedelta = timedelta(days=30)
    events: timedelta = timedelta(days=30)
    mirror_messages: timedelta = timedelta(days=7)
    sweep_every: timedelta = timedelta(hours=1)


class AppserviceConfig(Strict):
    """Application-service mode (docs/operators.md): the homeserver pushes events to the bot."""

    # The file `affinity appservice-registration` wrote (relative: to this config file).
    registration: Path
    # Where the bot listens for the homeserver's transactions (the registration's url).
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(default=9009, ge=1, le=65535)


class AppConfig(Strict):
    homeserver: str
    data_dir: Path
    bots: list[BotConfig] = Field(min_length=1)
    access: AccessConfig = AccessConfig()
    encryption: EncryptionConfig = EncryptionConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()
    features: FeaturesConfig = FeaturesConfig()
    retention: RetentionConfig = RetentionConfig()
    # Synapse answers an encrypted send with the room keys shared first; 8 in flight is
    # plenty for a 2-core homeserver and keeps one room's messages in order.
    send_concurrency: int = Field(default=8, ge=1, le=64)
    # Accounts in your rooms that are not people (bridges, other bots): never drawn for a role,
    # never in a speaking order, triad or cell. The bots of this file are left out anyway.
    other_bots: list[UserIdStr] = Field(default_factory=list)
    appservice: AppserviceConfig | None = None

    @field_validator("homeserver")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/.*)?$", value):
            raise ValueError("must be a URL like https://matrix.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_appservice_bot(self) -> AppConfig:
        if self.appservice is not None and len(self.bots) != 1:
            raise ValueError("application-service mode (appservice:) runs exactly one bot")
        return self

    @model_validator(mode="after")
    def _unique_bots(self) -> AppConfig:
        ids = [b.user_id for b in self.bots]
        if len(ids) != len(set(ids)):
            raise ValueError("each bot user_id may appear only once")
        return self

    def allowed_servers_for(self, bot_user_id: str) -> set[str]:
        return set(self.access.allowed_servers) or {server_of(bot_user_id)}


def secret_field_names(model: type[BaseModel] | None = None) -> list[str]:
    """The keys whose values may be ``${VAR}``: every field typed ``SecretStr``."""
    return _secret_field_names(model or AppConfig)


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_config(text: str, source: str = "config", environ: Mapping[str, str] | None = None) -> AppConfig:
    """Validate YAML text; raise ConfigError naming the source and the exact key.

    The pickle key is not required here (tests build runtimes from text); :func:`load_config`,
    which the commands use, requires it.
    """
    raw = load_yaml(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    raw = expand_secrets(raw, AppConfig, os.environ if environ is None else environ, source)
    try:
        config = AppConfig.model_validate(raw, context={"appservice": bool(raw.get("appservice"))})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling against config.example.yaml)"
            lines.append(f"{source}: {_loc(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to validate") from None
    problems = config.features.extra_problems()
    if problems:
        raise ConfigError("\n".join(f"{source}: {key}: {msg}" for key, msg in problems))
    return config


def missing_pickle_key_message(source: str) -> str:
    return (
        f"{source}: encryption.pickle_key is not set, and {PICKLE_KEY_ENV} is not in the "
        "environment. Affinity will not start without it: it encrypts the bots' encryption "
        "stores, sessions and cross-signing keys, and the blind mirror's round keys (without it "
        f"a copy of the data directory names every author). Generate one with {GENERATE_PICKLE_KEY} "
        f"and set it as encryption.pickle_key: ${{{PICKLE_KEY_ENV}}}, kept out of the data "
        "directory and its backups."
    )


def require_pickle_key(config: AppConfig, environ: Mapping[str, str] | None = None) -> str:
    """The pickle key: ``encryption.pickle_key``, else ``AFFINITY_PICKLE_KEY``; else ConfigError.

    There is no default: a constant key would seal nothing.
    """
    if config.encryption.pickle_key is not None:
        key = config.encryption.pickle_key.get_secret_value()
    else:
        env = os.environ if environ is None else environ
        key = env[PICKLE_KEY_ENV] if PICKLE_KEY_ENV in env else ""
    if not key:
        raise ConfigError(missing_pickle_key_message("config"))
    return key


def short_pickle_key_warning(key: str) -> str | None:
    if len(key) >= MIN_PICKLE_KEY_CHARS:
        return None
    return (
        f"the pickle key is short ({len(key)} characters): use at least {MIN_PICKLE_KEY_CHARS} "
        f"random ones, from {GENERATE_PICKLE_KEY}"
    )


def load_config(
    path: Path | str, environ: Mapping[str, str] | None = None, *, require_pickle: bool = True
) -> AppConfig:
    """The file as the commands run it: relative ``data_dir`` resolved, the pickle key from
    ``AFFINITY_PICKLE_KEY`` when the file names none, and refused when there is none at all."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    env = os.environ if environ is None else environ
    config = parse_config(text, str(path), env)
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (path.parent / config.data_dir).resolve()})
    if config.appservice is not None and not config.appservice.registration.is_absolute():
        resolved = (path.parent / config.appservice.registration).resolve()
        config = config.model_copy(
            update={"appservice": config.appservice.model_copy(update={"registration": resolved})}
        )
    if config.encryption.pickle_key is None and PICKLE_KEY_ENV in env and env[PICKLE_KEY_ENV]:
        encryption = config.encryption.model_copy(update={"pickle_key": SecretStr(env[PICKLE_KEY_ENV])})
        config = config.model_copy(update={"encryption": encryption})
    if require_pickle and config.encryption.pickle_key is None:
        raise ConfigError(missing_pickle_key_message(str(path)))
    return config


def open_access_warnings(config: AppConfig) -> list[str]:
    """Settings that leave the bots more open than an operator probably wants."""
    warnings = []
    if len(config.access.allowed_servers) > 3:
        warnings.append("access.allowed_servers lists many servers: anyone there can invite the bots")
    if "*" in config.access.allowed_servers:
        warnings.append("access.allowed_servers contains '*': anyone on any server can use the bots")
    if config.encryption.share_with_unverified_devices:
        warnings.append(
            "encryption.share_with_unverified_devices is on: devices nobody cross-signed "
            "(including ones a homeserver admin could inject) receive room keys"
        )
    from bots.runtime.registry import feature_section  # the mirror's own model is bots/mirror/config.py

    if feature_section(config, "mirror").get("require_encrypted_dm", True) is False:
        warnings.append("features.mirror.require_encrypted_dm is off: reflections may travel unencrypted")
    if config.metrics.enabled and config.metrics.host not in ("127.0.0.1", "::1", "localhost"):
        warnings.append(
            f"metrics.host {config.metrics.host} is not loopback: metrics are reachable from the network"
        )
    if config.encryption.pickle_key is not None:
        short = short_pickle_key_warning(config.encryption.pickle_key.get_secret_value())
        if short:
            warnings.append(f"encryption.pickle_key: {short}")
    return warnings
