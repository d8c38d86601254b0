"""One process, every bot of the config file, one database."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from bots import core
from bots.config import AppConfig
from bots.runtime.bot import BotRuntime
from bots.runtime.registry import factories_for
from bots.sweeper import Sweeper
from storage.db import Database

log = logging.getLogger(__name__)


def database_path(config: AppConfig) -> Path:
    return config.data_dir / "affinity.db"


class BotFailed(RuntimeError):
    """A bot stopped on its own: the process must exit with a failure status."""


class App:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.db: Database | None = None
        self.bots: list[BotRuntime] = []
        self._stop = asyncio.Event()
        self.health: Any = None  # bots.runtime.health.HealthServer when metrics.enabled

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = await Database.open(database_path(self.config))
        if self.config.metrics.enabled:
            from bots.runtime.health import HealthServer

            self.health = HealthServer(self.config, lambda: self.db, lambda: self.bots)
            await self.health.start()
        for i, bot_config in enumerate(self.config.bots):
            factories = factories_for(self.config, i)
            runtime = BotRuntime
            if self.config.appservice is not None:  # application-service mode (bots/appservice)
                from bots.appservice.runtime import AppserviceRuntime as runtime
            bot = runtime(self.config, bot_config, self.db, factories, core=[core.router])
            await bot.start()
            Sweeper(bot, self.config.retention).schedule()
            self.bots.append(bot)

    async def run(self) -> None:
        """Run every bot until :meth:`stop`. A bot whose sync loop ends on its own stops the
        others and raises :class:`BotFailed`, so the process exits non-zero and its supervisor
        (systemd ``Restart=on-failure``, Docker ``restart: unless-stopped``) starts it again."""
        tasks = [asyncio.create_task(bot.run(), name=f"sync:{bot.name}") for bot in self.bots]
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed: list[str] = []
        for task in done:
            if task is stopper or task.cancelled():
                continue
            exc = task.exception()
            if exc is not None:
                log.error("a bot's sync loop ended: %s", type(exc).__name__)
            elif not self._stop.is_set():
                log.error("a bot's sync loop ended without being asked to")
            else:
                continue
            failed.append(task.get_name())
        for bot in self.bots:
            bot.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        if failed:
            raise BotFailed(f"stopped because {', '.join(sorted(failed))} ended")

    def stop(self) -> None:
        self._stop.set()
        for bot in self.bots:
            bot.stop()

    async def close(self) -> None:
        if self.health is not None:
            await self.health.stop()
            self.health = None
        for bot in self.bots:
            await bot.close()
        if self.db is not None:
            await self.db.close()

    async def sweep(self, now: datetime) -> None:
        for bot in self.bots:
            for feature in bot.features:
                await feature.ready()
                await feature.forget_expired(now)
