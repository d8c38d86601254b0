"""The optional HTTP listener: ``/healthz`` for orchestrators and ``/metrics`` for Prometheus.

Off unless ``metrics.enabled``; loopback by default (``metrics.host``, ``metrics.port``). It runs
on the bots' own event loop (aiohttp's web server, which nio already brings), so a loop that is
stuck also stops answering health checks, which is what an orchestrator should notice.

``/healthz`` answers 200 when every configured bot synced successfully within
:data:`SYNC_STALE_AFTER_S` and the database accepts a write transaction; otherwise 503 with a JSON
body naming what is wrong. Neither endpoint reveals room ids, message bodies or user ids other
than the bots' own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bots.config import AppConfig, ConfigError
from bots.runtime import metrics
from storage.db import Database

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

# A sync long-polls for 30 s; two minutes without a good one means the loop is stuck or the
# homeserver has been away for several retries.
SYNC_STALE_AFTER_S = 120.0
STORAGE_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Health:
    ok: bool
    problems: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if self.ok else "unhealthy", "problems": self.problems}


async def storage_writable(db: Database | None) -> str | None:
    """None if the database takes a write lock (``BEGIN IMMEDIATE``), else why not."""
    if db is None:
        return "not open"

    async def probe() -> None:
        async with db.transaction():
            pass  # an empty write transaction: the lock was granted, nothing is written

    # Shielded: cancelling a statement half-way could leave a transaction open on the shared
    # connection; a slow probe finishes in the background while we answer 503.
    task = asyncio.ensure_future(probe())
    try:
        await asyncio.wait_for(asyncio.shield(task), STORAGE_PROBE_TIMEOUT_S)
    except TimeoutError:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return f"no write lock within {STORAGE_PROBE_TIMEOUT_S:.0f}s"
    except Exception as exc:
        return f"not writable ({type(exc).__name__})"
    return None


async def check_health(
    bot_names: Sequence[str],
    bots: Sequence[BotRuntime],
    db: Database | None,
    now: float | None = None,
    stale_after: float = SYNC_STALE_AFTER_S,
) -> Health:
    """The verdict of ``/healthz``: every configured bot syncing, storage writable."""
    now = time.time() if now is None else now
    running = {bot.name: bot for bot in bots}
    problems: dict[str, str] = {}
    for name in bot_names:
        bot = running.get(name)
        if bot is None:
            problems[name] = "not started"
        elif bot.last_sync_ok <= 0:
            problems[name] = "no successful sync yet"
        elif now - bot.last_sync_ok > stale_after:
            problems[name] = f"last successful sync {now - bot.last_sync_ok:.0f}s ago"
    storage = await storage_writable(db)
    if storage is not None:
        problems["storage"] = storage
    return Health(not problems, problems)


class SyncAgeCollector(Collector):
    """``affinity_last_successful_sync_age_seconds``: computed at scrape time, so it grows
    while a sync loop is stuck (a timestamp gauge would need ``time()`` in every alert rule)."""

    def __init__(self, bots: Callable[[], Sequence[BotRuntime]]) -> None:
        self._bots = bots

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "affinity_last_successful_sync_age_seconds",
            "Seconds since each bot's last successful sync (absent before the first)",
            labels=["bot"],
        )
        now = time.time()
        for bot in self._bots():
            if bot.last_sync_ok > 0:
                family.add_metric([bot.name], max(0.0, now - bot.last_sync_ok))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # dynamic: never collected at registration time


class HealthServer:
    """``/healthz`` and ``/metrics`` on ``metrics.host:metrics.port``. Start, then stop."""

    def __init__(
        self,
        config: AppConfig,
        db: Callable[[], Database | None],
        bots: Callable[[], Sequence[BotRuntime]],
    ) -> None:
        self.config = config
        self._db = db
        self._bots = bots
        self._runner: web.AppRunner | None = None
        self._collector = SyncAgeCollector(bots)
        self.port: int | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        host, port = self.config.metrics.host, self.config.metrics.port
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(f"metrics: cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
        metrics.REGISTRY.register(self._collector)
        self._runner = runner
        self.port = port
        log.info("health and metrics listening on %s:%d", host, port)

    async def stop(self) -> None:
        if self._runner is None:
            return
        try:
            metrics.REGISTRY.unregister(self._collector)
        except KeyError:
            pass
        await self._runner.cleanup()
        self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        names = [bot.user_id for bot in self.config.bots]
        health = await check_health(names, self._bots(), self._db())
        return web.json_response(health.as_json(), status=200 if health.ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(metrics.REGISTRY)
        response = web.Response(body=body)
        # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp wants set apart.
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response
