"""The application-service registration: written once by ``affinity appservice-registration``,
loaded by the homeserver (Synapse: ``app_service_config_files``) and read back by the bot.

It claims exactly the bot's own user id (no ghost users: in encrypted rooms clients that trust
only cross-signed devices would reject them), asks for no rate limits, and opts in to MSC4190
(the bot's device is created with the application service's token, without a password).

The application service's own user (``sender_localpart``) is not the bot but ``<bot>-appservice``,
which never joins a room: Synapse serves no ``/sync`` to an application service's own user, and
the bot needs one (filtered to no rooms) for its room keys. The bot acts through the service's
token by naming itself (``user_id=``) and its device (``device_id=``) in each request.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bots.config import AppConfig
from bots.config_text import ConfigError

MSC4190 = "io.element.msc4190"
SENDER_SUFFIX = "-appservice"
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{16,}$")


@dataclass(frozen=True)
class Registration:
    id: str
    url: str
    as_token: str
    hs_token: str
    sender_localpart: str

    def sender(self, server_name: str) -> str:
        return f"@{self.sender_localpart}:{server_name}"


def localpart_of(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def registration_for(config: AppConfig, url: str) -> dict[str, Any]:
    """A new registration for the config's one bot, reached by the homeserver at ``url``."""
    if len(config.bots) != 1:
        raise ConfigError(
            f"application-service mode runs exactly one bot; the config names {len(config.bots)}"
        )
    if not re.match(r"^https?://[^\s/]+(/.*)?$", url):
        raise ConfigError(
            f"--url must be where the homeserver reaches the bot, like http://127.0.0.1:9009, not {url!r}"
        )
    user_id = config.bots[0].user_id
    localpart = localpart_of(user_id)
    return {
        "id": f"affinity-{localpart}",
        "url": url.rstrip("/"),
        "as_token": secrets.token_urlsafe(32),
        "hs_token": secrets.token_urlsafe(32),
        "sender_localpart": f"{localpart}{SENDER_SUFFIX}",
        "rate_limited": False,
        MSC4190: True,
        "namespaces": {
            "users": [{"exclusive": True, "regex": "^" + re.escape(user_id) + "$"}],
            "rooms": [],
            "aliases": [],
        },
        # Not set: receive_ephemeral and the MSC2409/MSC3202 keys, which need experimental
        # homeserver flags; to-device messages come from a /sync filtered to no rooms instead.
    }


def write_registration(path: Path, registration: dict[str, Any]) -> None:
    """Write the file readable by its owner only (it holds both tokens); never overwrite."""
    if path.exists():
        raise ConfigError(f"{path} exists; remove it first (the homeserver must then load the new one)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Affinity application service: give this file to the homeserver\n")
        out.write("# (Synapse: app_service_config_files) and keep it secret.\n")
        yaml.safe_dump(registration, out, sort_keys=False)


def _claims(namespaces: Any, user_id: str) -> bool:
    users = namespaces.get("users") if isinstance(namespaces, dict) else None
    for entry in users if isinstance(users, list) else []:
        if isinstance(entry, dict) and entry.get("exclusive") is True and isinstance(entry.get("regex"), str):
            try:
                if re.fullmatch(entry["regex"].removeprefix("^").removesuffix("$"), user_id):
                    return True
            except re.error:
                continue
    return False


def load_registration(path: Path, bot_user_id: str) -> Registration:
    """Read and check the registration the bot runs with; ConfigError names what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"appservice.registration: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"appservice.registration: {path} is not YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"appservice.registration: {path} is not a registration (no mapping)")
    problems = []
    for key in ("id", "url", "as_token", "hs_token", "sender_localpart"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            problems.append(f"{key} is missing")
    for key in ("as_token", "hs_token"):
        value = raw.get(key)
        if isinstance(value, str) and value and not _TOKEN.match(value):
            problems.append(f"{key} is not a token (16 or more URL-safe characters)")
    if not problems and raw["as_token"] == raw["hs_token"]:
        problems.append("as_token and hs_token must differ")
    if raw.get("rate_limited") is not False:
        problems.append("rate_limited must be false (the point of the mode)")
    if not problems and raw["sender_localpart"] == localpart_of(bot_user_id):
        problems.append(
            "sender_localpart must not be the bot's own (Synapse serves no /sync to it); "
            "write the file again with affinity appservice-registration"
        )
    if not problems and not _claims(raw.get("namespaces"), bot_user_id):
        problems.append(f"namespaces.users does not claim the bot {bot_user_id} exclusively")
    if problems:
        raise ConfigError(f"appservice.registration ({path}): " + "; ".join(problems))
    return Registration(raw["id"], raw["url"], raw["as_token"], raw["hs_token"], raw["sender_localpart"])
