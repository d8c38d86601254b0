"""A feature's scheduled jobs: the bot's scheduler seen through the feature's own namespace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bots.runtime.scheduler import Scheduler

Job = Callable[..., Awaitable[object]]


class Schedule:
    """A feature's jobs on the bot's scheduler, under ids namespaced by the feature.

    A job carries only ids (never a body or a user id) and loads what it needs when it fires;
    the feature's tables are the truth, and its ``start`` rebuilds its jobs from them.
    """

    def __init__(self, scheduler: Scheduler, feature: str) -> None:
        self._scheduler = scheduler
        self._prefix = f"{feature}:"

    def _id(self, job_id: str) -> str:
        return self._prefix + job_id

    def at(self, job_id: str, when: datetime, func: Job, *ids: str | int) -> None:
        """Run ``func(*ids)`` at ``when`` (at once if past), replacing any job of that id: the
        one "cancel, then schedule". (APScheduler replaces a job of the same id only once it is
        running; before that both would stay pending, so the old one is removed here first.)"""
        self._scheduler.cancel(self._id(job_id))
        self._scheduler.at(self._id(job_id), when, func, *ids)

    def every(self, job_id: str, interval: timedelta, func: Job) -> None:
        self._scheduler.every(self._id(job_id), interval, func)

    def cancel(self, job_id: str) -> bool:
        return self._scheduler.cancel(self._id(job_id))

    def when(self, job_id: str) -> datetime | None:
        return self._scheduler.when(self._id(job_id))

    def has(self, job_id: str) -> bool:
        return self._scheduler.has(self._id(job_id))

    def job_ids(self) -> list[str]:
        """This feature's job ids (without the namespace)."""
        n = len(self._prefix)
        return [j[n:] for j in self._scheduler.job_ids() if j.startswith(self._prefix)]

    async def fire(self, job_id: str) -> None:
        """Run a pending job now (tests, and "do it now" commands)."""
        await self._scheduler.fire(self._id(job_id))
