"""Helpers for end-to-end tests: a bot process-in-a-task and people as separate nio clients."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from pathlib import Path
from typing import Any

import yaml

from bots.app import App
from bots.config import AppConfig, load_config
from bots.devclient import UserClient
from bots.devserver import Homeserver

_counter = itertools.count()


class BotHarness:
    """One Affinity process (in this event loop) with one bot account on a homeserver."""

    def __init__(
        self,
        server: Homeserver,
        directory: Path,
        features: list[str],
        extra: dict[str, Any] | None = None,
        localpart: str | None = None,
    ) -> None:
        self.server = server
        self.directory = directory
        self.localpart = localpart or f"bot{next(_counter)}{secrets.token_hex(2)}"
        self.password = secrets.token_hex(8)
        self.user_id = server.register(self.localpart, self.password)
        raw: dict[str, Any] = {
            "homeserver": server.url,
            "data_dir": str(directory / "data"),
            # A fresh random key per bot, kept in its config file for every restart.
            "encryption": {"pickle_key": secrets.token_urlsafe(32)},
            "bots": [{"user_id": self.user_id, "password": self.password, "features": features}],
        }
        for key, value in (extra or {}).items():
            raw[key] = value
        self.config_path = directory / "config.yaml"
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(raw))
        self.app: App | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def config(self) -> AppConfig:
        return load_config(self.config_path)

    @property
    def runtime(self) -> Any:
        assert self.app is not None
        return self.app.bots[0]

    async def start(self, timeout: float = 60) -> None:
        self.app = App(self.config)
        await self.app.start()
        self.task = asyncio.create_task(self.app.run())
        await asyncio.wait_for(self.runtime.ready.wait(), timeout)

    async def stop(self) -> None:
        """A graceful stop, as on SIGTERM."""
        if self.app is None:
            return
        self.app.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 60)
        await self.app.close()
        self.app = None

    async def crash(self) -> None:
        """Stop abruptly: tasks cancelled mid-flight, nothing flushed by us."""
        if self.app is None:
            return
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.app.close()
        self.app = None


async def person(
    server: Homeserver, root: Path, name: str | None = None, cross_sign: bool = True
) -> UserClient:
    localpart = name or f"user{next(_counter)}{secrets.token_hex(2)}"
    password = secrets.token_hex(8)
    user_id = server.register(localpart, password)
    client = UserClient(
        server.url, user_id, password, root / "people" / localpart / secrets.token_hex(2), cross_sign
    )
    await client.login()
    return client
