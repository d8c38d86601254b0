"""The broadcast: planned messages handed to the outbox when due, and their outcomes recorded.

Plan, then act. A confirmed run's messages are stored (``storage.herald_runs``) with their plan
transaction ids; a job per due time hands the due ones to the outbox (``host.post``), which
sends each exactly once; a follower waits for each outcome and records it (sent with its event
id, or failed) on the delivery. Nothing lives only in memory: at start-up every pending message
is scheduled again, so a crash in the middle of a broadcast resumes where it stopped (the outbox
ignores a transaction id it already has).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from datetime import datetime
from typing import Any

from bots.herald.base import log
from bots.herald.escalation import Escalations
from bots.herald.render import marked, planned
from bots.runtime.fan_out import Post
from bots.runtime.i18n import duration, ngettext
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message, code
from storage.herald import Delivery, Run


def is_urgent(phase_key: str) -> bool:
    """Amendments and stand-downs: sent at once, and never skipped as stale."""
    return phase_key.startswith("amend-") or phase_key == "cancel"


def is_stand_down(phase_key: str) -> bool:
    """A run's stand-down: its room's next sending turn comes before every other room's."""
    return phase_key == "cancel"


def due_job_id(run_id: str, due_at: datetime) -> str:
    return f"due-{run_id}-{int(due_at.timestamp())}"


class Broadcast(Escalations):
    """Delivery of a run's planned messages, and the edits that mark them changed."""

    _tasks: set[asyncio.Task[Any]]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self, timeout: float = 30) -> None:
        """Wait for every follow-up task (delivery outcomes) to finish: tests and benchmarks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and loop.time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.01, deadline - loop.time()))

    def schedule_deliveries(self, run_id: str, due_times: Iterable[datetime]) -> None:
        """One job per distinct due time of the run; each job sends whatever is due then."""
        for due_at in sorted(set(due_times)):
            self.host.schedule.at(due_job_id(run_id, due_at), due_at, self.deliver_due, run_id)

    async def prepare_keys(self, run_id: str) -> None:
        """Share the room keys of the run's pending rooms ahead of their due times (the runtime
        does it from ``encryption.keys_ahead`` before each, rate-controlled): for a run planned or
        adopted while the bot runs, as ``start`` does for the runs it finds at a restart."""
        now = self.host.clock()
        for d in await self.runs.deliveries(run_id):
            if d.state == "pending" and d.due_at > now:
                self.host.prepare_rooms([RoomID(d.room_id)], by=d.due_at)

    def unschedule_deliveries(self, run_id: str) -> None:
        prefix = f"due-{run_id}-"
        for job in self.host.schedule.job_ids():
            if job.startswith(prefix):
                self.host.schedule.cancel(job)

    async def deliver_due(self, run_id: str) -> int:
        """Hand every due message of the run to the outbox; returns how many are on their way.

        Idempotent: a message the outbox already holds is not queued again, only followed
        (that is how a broadcast cut by a crash resumes). A room that left the coalition since
        the run was planned gets nothing; a phase more than ``late_grace`` overdue is skipped
        and the coordination room told.
        """
        now = self.host.clock()
        run = await self.runs.get(run_id)
        if run is None:
            return 0
        due = await self.runs.due_for_run(run_id, now)
        members = {m.room_id for m in await self.coalitions.members(run.coalition)}
        followed: list[Delivery] = []
        posts: list[Post] = []
        stale: set[str] = set()
        for d in due:
            left = d.room_id not in members
            too_late = not is_urgent(d.phase_key) and now - d.due_at > self.config.late_grace
            # Only a message the outbox does not hold yet may still be held back; the common
            # case (a member room, on time) just queues, which ignores a txn id it has.
            if (left or too_late) and await self.host.delivery(d.txn_id) is None:
                await self.runs.skip(d.txn_id)
                if too_late:
                    stale.add(d.phase_key)
                else:
                    log.info("herald: %s not sent, its room left the coalition", d.txn_id)
                continue
            if not left and not too_late:
                # The plan's transaction id, not a keys.key: other heralds recompute it.
                posts.append(
                    Post(
                        RoomID(d.room_id),
                        planned(d.body, d.html),
                        d.txn_id,
                        urgent=is_stand_down(d.phase_key),
                    )
                )
            followed.append(d)
        if posts:  # the phase's messages to every room in one transaction (a key held is skipped)
            await self.host.post_many(posts)
        if stale:
            await self._note_stale(run, sorted(stale))
        if followed:
            self.spawn(self._follow(run_id, followed))
        else:
            await self._after_batch(run_id)
        return len(followed)

    async def _follow(self, run_id: str, deliveries: list[Delivery]) -> None:
        await asyncio.gather(*(self._record(d) for d in deliveries))
        await self._after_batch(run_id)

    async def _record(self, d: Delivery) -> None:
        """Wait for the outbox's verdict on one message and write it on the delivery."""
        while True:
            try:
                event_id = await self.host.post(
                    RoomID(d.room_id),
                    planned(d.body, d.html),
                    d.txn_id,
                    wait=True,
                    urgent=is_stand_down(d.phase_key),
                )
                break
            except TimeoutError:
                continue  # the homeserver is away; the outbox keeps trying, so do we
        if event_id is not None:
            await self.runs.mark_sent(d.txn_id, event_id, self.host.clock())
            return
        outcome = await self.host.delivery(d.txn_id)
        error = (outcome.error if outcome is not None else None) or "refused"
        await self.runs.mark_failed(d.txn_id, error)
        log.warning("herald delivery %s refused: %s", d.txn_id, error.split(":")[0])

    async def _after_batch(self, run_id: str) -> None:
        await self.runs.mark_done(run_id, self.host.clock())
        await self.schedule_escalation(run_id)

    async def _note_stale(self, run: Run, phases: list[str]) -> None:
        coalition = await self.coalitions.get(run.coalition)
        if coalition is None:
            return
        text = Message.of(
            ngettext(
                "Run {run}: phase {phases} fell due while the bot was away, more than {grace} ago, "
                "and was not sent (it would be stale). See {command}.",
                "Run {run}: phases {phases} fell due while the bot was away, more than {grace} ago, "
                "and were not sent (they would be stale). See {command}.",
                len(phases),
                run=run.run_id,
                phases=", ".join(phases),
                grace=duration(self.config.late_grace),
                command=code(f"!protocol status {run.run_id}"),
            )
        )
        await self.host.post(
            RoomID(coalition.coordination_room), text, key(self.name, "stale", run.run_id, *phases)
        )

    async def edit_latest(self, run_id: str, change: str, banner: Inline, strike: bool = False) -> int:
        """Mark, in every room, the latest phase message of the run as changed (an m.replace).

        The full notice follows separately; the edit is for whoever scrolls back to the old
        message and would otherwise act on it.
        """
        run = await self.runs.get(run_id)
        if run is None:
            return 0
        # A room out of the coalition gets nothing further, not even an edit.
        members = {m.room_id for m in await self.coalitions.members(run.coalition)}
        latest: dict[str, Delivery] = {}
        for d in await self.runs.deliveries(run_id):
            if d.room_id not in members:
                continue
            if d.state == "sent" and d.event_id and not is_urgent(d.phase_key):
                if d.room_id not in latest or d.due_at >= latest[d.room_id].due_at:
                    latest[d.room_id] = d
        for d in latest.values():
            assert d.event_id is not None
            await self.host.edit(
                RoomID(d.room_id),
                EventID(d.event_id),
                marked(banner, d.body, strike),
                key(self.name, d.txn_id, "edit", change),
            )
        return len(latest)
