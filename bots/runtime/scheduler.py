"""Everything that happens at a time, on APScheduler's AsyncIOScheduler.

Our tables are the source of truth: features rebuild their jobs from them at start-up, and a
job carries only ids (never a message body or a user id). Misfires are the feature's decision
(late within grace, or a note), so APScheduler is told to always run a late job.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bots.runtime import metrics

log = logging.getLogger(__name__)

Job = Callable[..., Awaitable[object]]


class Scheduler:
    def __init__(self, name: str) -> None:
        self.name = name
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def at(self, job_id: str, when: datetime, func: Job, *ids: str | int) -> None:
        """Run ``func(*ids)`` at ``when`` (at once if already past). Replaces a job of that id."""
        when = max(when, datetime.now(UTC) + timedelta(milliseconds=10))
        self._scheduler.add_job(
            self._guarded,
            DateTrigger(run_date=when),
            args=(job_id, func, *ids),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )
        self._count()

    def every(self, job_id: str, interval: timedelta, func: Job) -> None:
        self._scheduler.add_job(
            self._guarded,
            IntervalTrigger(seconds=interval.total_seconds()),
            args=(job_id, func),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )
        self._count()

    def cancel(self, job_id: str) -> bool:
        job = self._scheduler.get_job(job_id)
        if job is None:
            return False
        job.remove()
        self._count()
        return True

    def when(self, job_id: str) -> datetime | None:
        job = self._scheduler.get_job(job_id)
        return job.next_run_time if job is not None else None

    async def fire(self, job_id: str) -> None:
        """Run a pending job now (tests, and "do it now" commands); a date job is then gone."""
        job = self._scheduler.get_job(job_id)
        if job is None:
            raise KeyError(job_id)
        if isinstance(job.trigger, DateTrigger):
            job.remove()
        await self._guarded(*job.args)

    def has(self, job_id: str) -> bool:
        return self._scheduler.get_job(job_id) is not None

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def _count(self) -> None:
        metrics.SCHEDULED_JOBS.labels(self.name).set(len(self._scheduler.get_jobs()))

    async def _guarded(self, job_id: str, func: Job, *ids: Any) -> None:
        try:
            await func(*ids)
        except Exception:
            log.exception("scheduled job %s failed", job_id)
        finally:
            self._count()
