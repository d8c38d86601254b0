"""The operator's YAML file, validated by pydantic. Loading has no side effects.

Every model forbids unknown keys, so a typo is an error that names the key instead of a silent
default. Secrets may be written as ``${VAR}`` and come from the environment.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bots.runtime.ids import is_user_id, server_of
from protocols.timespec import TimeSpecError, parse_duration, parse_zone

FEATURES = ("lottery", "ghostchair", "mirror", "herald")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The file cannot be used; ``str(exc)`` names the file and the exact key."""


def _user_id(value: str) -> str:
    if not is_user_id(value):
        raise ValueError(f"'{value}' is not a Matrix user id like @name:example.org")
    return value


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(str(value))
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc


def _zone(value: str) -> str:
    try:
        return parse_zone(value).key
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc


UserIdStr = Annotated[str, AfterValidator(_user_id)]
Duration = Annotated[timedelta, AfterValidator(_duration)]
ZoneName = Annotated[str, AfterValidator(_zone)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _durations_from_text(cls, value: Any, info: Any) -> Any:
        field = cls.model_fields.get(info.field_name)
        if field is not None and field.annotation is timedelta and isinstance(value, str):
            return _duration(value)
        return value


class BotConfig(Strict):
    user_id: UserIdStr
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_name: str = "Affinity"
    features: list[Literal["lottery", "ghostchair", "mirror", "herald"]] = Field(
        default_factory=lambda: list(FEATURES)  # type: ignore[arg-type]
    )

    @model_validator(mode="after")
    def _has_credentials(self) -> BotConfig:
        if self.password is None and self.access_token is None:
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
    pickle_key: SecretStr | None = None


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = Field(default=False, alias="json")


class MetricsConfig(Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=1, le=65535)


class LotteryConfig(Strict):
    default_roles: list[str] = Field(
        default_factory=lambda: ["facilitator", "timekeeper", "liaison", "care", "mediation"]
    )
    default_term: timedelta = timedelta(days=7)
    commit_window: timedelta = timedelta(seconds=30)
    redraw_on_expiry: bool = False
    # How long a room made by "!cells ... rooms" lives before the bot closes it and leaves.
    cell_room_sunset: timedelta = timedelta(days=30)


class GhostChairConfig(Strict):
    default_voices: list[str] | None = None
    default_timezone: ZoneName = "UTC"
    misfire_grace: timedelta = timedelta(hours=1)


class MirrorConfig(Strict):
    default_close_after: timedelta = timedelta(days=3)
    default_min_submissions: int = Field(default=3, ge=3)
    release_delay_min: timedelta = timedelta(seconds=30)
    release_delay_max: timedelta = timedelta(minutes=10)
    require_encrypted_dm: bool = True
    # Close times in announcements and !mirror status are shown in this zone.
    display_timezone: ZoneName = "UTC"
    # An unfinished draft (held in memory only) is discarded after this long without a reply.
    draft_idle: timedelta = timedelta(hours=2)

    @model_validator(mode="after")
    def _delay_range(self) -> MirrorConfig:
        if self.release_delay_max < self.release_delay_min:
            raise ValueError("release_delay_max must not be shorter than release_delay_min")
        return self


class HeraldConfig(Strict):
    template_dirs: list[Path] = Field(default_factory=list)
    ack_reaction: str = "✅"
    # A phase that fell due while the bot was down is still sent this late; later than that it
    # is skipped, with a note in the coordination room (a stale "go" helps nobody).
    late_grace: timedelta = timedelta(hours=6)
    # Escalation DMs to liaisons go in an encrypted room the bot creates.
    encrypt_dms: bool = True


class FeaturesConfig(Strict):
    lottery: LotteryConfig = LotteryConfig()
    ghostchair: GhostChairConfig = GhostChairConfig()
    mirror: MirrorConfig = MirrorConfig()
    herald: HeraldConfig = HeraldConfig()


class RetentionConfig(Strict):
    """How long each kind of record lives. The sweeper deletes what is older."""

    handled_events: timedelta = timedelta(days=2)
    outbox: timedelta = timedelta(days=2)
    draw_history: timedelta = timedelta(days=90)
    protocol_runs: timedelta = timedelta(days=30)
    events: timedelta = timedelta(days=30)
    mirror_messages: timedelta = timedelta(days=7)
    sweep_every: timedelta = timedelta(hours=1)


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

    @field_validator("homeserver")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/.*)?$", value):
            raise ValueError("must be a URL like https://matrix.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _unique_bots(self) -> AppConfig:
        ids = [b.user_id for b in self.bots]
        if len(ids) != len(set(ids)):
            raise ValueError("each bot user_id may appear only once")
        return self

    def allowed_servers_for(self, bot_user_id: str) -> set[str]:
        return set(self.access.allowed_servers) or {server_of(bot_user_id)}


def _expand_env(node: Any, path: str, environ: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, f"{path}.{k}" if path else str(k), environ) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, f"{path}[{i}]", environ) for i, v in enumerate(node)]
    if isinstance(node, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return environ[name]

        return _ENV_REF.sub(repl, node)
    return node


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_config(text: str, source: str = "config", environ: dict[str, str] | None = None) -> AppConfig:
    """Validate YAML text; raise ConfigError naming the source and the exact key."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    raw = _expand_env(raw, "", dict(os.environ) if environ is None else environ)
    try:
        return AppConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling against config.example.yaml)"
            lines.append(f"{source}: {_loc(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None


def load_config(path: Path | str, environ: dict[str, str] | None = None) -> AppConfig:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    config = parse_config(text, str(path), environ)
    if not config.data_dir.is_absolute():
        config = config.model_copy(update={"data_dir": (path.parent / config.data_dir).resolve()})
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
    if not config.features.mirror.require_encrypted_dm:
        warnings.append("features.mirror.require_encrypted_dm is off: reflections may travel unencrypted")
    if config.metrics.enabled and config.metrics.host not in ("127.0.0.1", "::1", "localhost"):
        warnings.append(f"metrics.host {config.metrics.host} is not loopback: metrics are reachable from the network")
    return warnings
