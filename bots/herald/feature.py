"""The herald's engine: templates, the broadcast of planned messages, acknowledgements, escalation.

Plan, then act. A confirmed run's messages are stored (``storage.herald``) with their stable
transaction ids; a job per due time hands the due ones to the runtime's outbox, which sends each
exactly once; a follower waits for each outcome and records it (sent with its event id, or
failed) back on the delivery. Nothing lives only in memory: at start-up every pending message is
scheduled again and every unanswered acknowledgement gets its escalation job back, so a crash in
the middle of a broadcast resumes where it stopped (the outbox ignores a txn id it already has).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bots.herald.commands import router
from bots.runtime.context import notice, stable_key
from bots.runtime.errors import (
    Forbidden,
    MatrixError,
    NotFound,
    RateLimited,
    TransportError,
    UserError,
)
from bots.runtime.feature import Feature
from bots.runtime.ids import EventID, RoomID, UserID
from protocols.herald import (
    Escalation,
    MemberRoom,
    ProtocolTemplate,
    TemplateError,
    TemplateIssue,
    escalations_due,
    load_library,
    load_template,
    next_escalation_at,
    shipped_library,
)
from protocols.timespec import format_duration, format_local
from storage.herald import (
    Coalition,
    Coalitions,
    Delivery,
    HeraldEvents,
    HeraldRuns,
    LocalDetails,
    Member,
    Run,
)

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

UTC = ZoneInfo("UTC")
# The room_setting key under which a bot remembers the DM room it opened with a liaison.
_DM_KEY = "herald.dm_with:{bot}"
# How long past its retention a run waits for its messages' redaction to succeed before it is
# deleted anyway (a homeserver that never answers must not keep a run for ever).
REDACT_PATIENCE = timedelta(days=7)


def is_urgent(phase_key: str) -> bool:
    """Amendments and stand-downs: sent at once, and never skipped as stale."""
    return phase_key.startswith("amend-") or phase_key == "cancel"


def due_job_id(run_id: str, due_at: datetime) -> str:
    return f"herald-due-{run_id}-{int(due_at.timestamp())}"


def escalate_job_id(run_id: str) -> str:
    return f"herald-escalate-{run_id}"


def _same_reaction(a: str, b: str) -> bool:
    # Clients differ on the emoji presentation selector (U+FE0F): "✅" and "✅️" are one reaction.
    return a.replace("\ufe0f", "").strip() == b.replace("\ufe0f", "").strip()


def load_templates(folders: Iterable[Path]) -> tuple[dict[str, ProtocolTemplate], list[TemplateIssue]]:
    """Every template in ``folders``; a broken file is skipped (and named), not fatal.

    One bad file an operator dropped in must not take the shipped protocols away with it.
    """
    folders = [f for f in folders if f.is_dir()]
    try:
        return load_library(folders), []
    except TemplateError as exc:
        problems = list(exc.issues)
    templates: dict[str, ProtocolTemplate] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            try:
                template = load_template(path)
            except TemplateError:
                continue  # already named in ``problems``
            templates.setdefault(template.name, template)
    for problem in problems:
        log.warning("herald template skipped: %s", problem)
    return templates, problems


class HeraldFeature(Feature):
    """Coalitions, local details, protocol runs and the coalition calendar for one bot."""

    name = "herald"
    router = router

    def __init__(self, bot: BotRuntime) -> None:
        super().__init__(bot)
        self.config = bot.app.features.herald
        # Every table is scoped to this bot: bots sharing a process see only their own rows.
        self.coalitions = Coalitions(bot.db, bot.user_id)
        self.local = LocalDetails(bot.db, bot.user_id)
        self.runs = HeraldRuns(bot.db, bot.user_id)
        self.events = HeraldEvents(bot.db, bot.user_id)
        self._templates: dict[str, ProtocolTemplate] | None = None
        self.template_problems: list[TemplateIssue] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every job from the tables: pending messages, then owed escalations."""
        self.library()
        scheduled: set[str] = set()
        for d in await self.runs.pending():
            job = due_job_id(d.run_id, d.due_at)
            if job not in scheduled:
                scheduled.add(job)
                self.bot.scheduler.at(job, d.due_at, self.deliver_due, d.run_id)
        for run_id in await self.runs.runs_awaiting_acks():
            await self.schedule_escalation(run_id)
        log.info("herald: %d delivery jobs rebuilt", len(scheduled))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settle(self, timeout: float = 30) -> None:
        """Wait for every follow-up task (delivery outcomes) to finish: tests and benchmarks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks and loop.time() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.01, deadline - loop.time()))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- templates, rooms, zones ------------------------------------------------------------

    def library(self) -> dict[str, ProtocolTemplate]:
        """The shipped templates and those in ``features.herald.template_dirs`` (loaded once)."""
        if self._templates is None:
            folders = [shipped_library(), *self.config.template_dirs]
            self._templates, self.template_problems = load_templates(folders)
        return self._templates

    def template(self, name: str) -> ProtocolTemplate:
        found = self.library().get(name.strip().lower())
        if found is None:
            known = ", ".join(sorted(self.library())) or "none"
            raise UserError(f"There is no template '{name}'. Templates: {known} (see !protocol list).")
        return found

    async def details(self, room_id: str) -> dict[str, str]:
        return await self.local.get_all(room_id)

    async def zone_of(self, room_id: str) -> ZoneInfo:
        """The room's zone (``!local set timezone``), UTC until it says otherwise."""
        zone = (await self.details(room_id)).get("timezone")
        return ZoneInfo(zone) if zone else UTC

    async def member_rooms(self, members: Iterable[Member]) -> list[MemberRoom]:
        out = []
        for member in members:
            details = await self.details(member.room_id)
            zone = ZoneInfo(details["timezone"]) if details.get("timezone") else UTC
            out.append(MemberRoom(member.room_id, zone, details))
        return out

    async def label(self, room_id: str) -> str:
        """A room's name as people know it (its id if it has none we can read)."""
        name_of = getattr(self.bot.matrix, "room_name", None)
        if name_of is None:
            return room_id
        try:
            return str(await name_of(RoomID(room_id)))
        except MatrixError:
            return room_id

    async def membership(self, room_id: str) -> tuple[Coalition, Member] | None:
        """The coalition this room belongs to, and its member record (one coalition per room)."""
        for coalition in await self.coalitions.coalitions_of(room_id):
            for member in await self.coalitions.members(coalition.name):
                if member.room_id == room_id:
                    return coalition, member
        return None

    async def still_in_room(self, room_id: str, user_id: str, member: Member | None = None) -> bool:
        """Whether ``user_id`` is joined to the room now. A liaison who is not (they left or
        were kicked) stops being the liaison here and then: the runtime passes no membership
        events to features, so the check is made when it matters (an ack, an escalation)."""
        try:
            joined = user_id in await self.bot.matrix.joined_members(RoomID(room_id))
        except MatrixError as exc:
            # The bot cannot read the room: trust no one for it now, but clear no liaison on a
            # homeserver that is only away or busy.
            if not _permanent(exc):
                return False
            joined = False
        if not joined and member is not None and member.liaison == user_id:
            await self.coalitions.clear_liaison(room_id, user_id)
            log.info("herald: a liaison who is out of their room was cleared")
        return joined

    async def may_ack(self, room_id: str, user_id: str, member: Member) -> bool:
        """The room's liaison acknowledges; so may a room moderator (a liaison can be away).
        Either only while still in the room: a kicked liaison cannot silence escalation."""
        if not await self.still_in_room(room_id, user_id, member):
            return False
        if member.liaison == user_id:
            return True
        needed = self.bot.power_needed("moderator")
        return needed is not None and await self.bot.power_of(RoomID(room_id), user_id) >= needed

    def is_coordinator(self, user_id: str) -> bool:
        """``access.coordinators`` (users or servers); empty leaves it to power levels alone."""
        allowed = self.bot.app.access.coordinators
        if not allowed:
            return True
        server = user_id.partition(":")[2]
        return user_id in allowed or server in allowed

    # -- delivery ---------------------------------------------------------------------------

    def schedule_deliveries(self, run_id: str, due_times: Iterable[datetime]) -> None:
        """One job per distinct due time of the run; each job sends whatever is due then."""
        for due_at in sorted(set(due_times)):
            self.bot.scheduler.at(due_job_id(run_id, due_at), due_at, self.deliver_due, run_id)

    def unschedule_deliveries(self, run_id: str) -> None:
        prefix = f"herald-due-{run_id}-"
        for job in self.bot.scheduler.job_ids():
            if job.startswith(prefix):
                self.bot.scheduler.cancel(job)

    async def deliver_due(self, run_id: str) -> int:
        """Hand every due message of the run to the outbox; returns how many are on their way.

        Idempotent: a message the outbox already holds is not enqueued again, only followed
        (that is how a broadcast cut by a crash resumes). A room that left the coalition since
        the run was planned gets nothing; a phase more than ``late_grace`` overdue is skipped
        and the coordination room told.
        """
        now = self.bot.clock()
        run = await self.runs.get(run_id)
        if run is None:
            return 0
        due = await self.runs.due_for_run(run_id, now)
        members = {m.room_id for m in await self.coalitions.members(run.coalition)}
        followed: list[str] = []
        stale: set[str] = set()
        for d in due:
            left = d.room_id not in members
            too_late = not is_urgent(d.phase_key) and now - d.due_at > self.config.late_grace
            # Only a message the outbox does not hold yet may still be held back; the common
            # case (a member room, on time) just enqueues, which ignores a txn id it has.
            if (left or too_late) and await self.bot.outbox.delivery(d.txn_id) is None:
                await self.runs.skip(d.txn_id)
                if too_late:
                    stale.add(d.phase_key)
                else:
                    log.info("herald: %s not sent, its room left the coalition", d.txn_id)
                continue
            if not left and not too_late:
                await self.bot.outbox.enqueue(RoomID(d.room_id), notice(d.body, d.html), d.txn_id)
            followed.append(d.txn_id)
        if stale:
            await self._note_stale(run, sorted(stale))
        if followed:
            self.spawn(self._follow(run_id, followed))
        else:
            await self._after_batch(run_id)
        return len(followed)

    async def _follow(self, run_id: str, txns: list[str]) -> None:
        await asyncio.gather(*(self._record(txn) for txn in txns))
        await self._after_batch(run_id)

    async def _record(self, txn: str) -> None:
        """Wait for the outbox's verdict on one message and write it on the delivery."""
        while True:
            try:
                result = await self.bot.outbox.wait(txn, timeout=600)
                break
            except TimeoutError:
                continue  # the homeserver is away; the outbox keeps trying, so do we
        if result.state == "sent" and result.event_id:
            await self.runs.mark_sent(txn, result.event_id, self.bot.clock())
        elif result.state == "failed":
            await self.runs.mark_failed(txn, result.error or "refused")
            log.warning("herald delivery %s refused: %s", txn, (result.error or "").split(":")[0])

    async def _after_batch(self, run_id: str) -> None:
        await self.runs.mark_done(run_id, self.bot.clock())
        await self.schedule_escalation(run_id)

    async def _note_stale(self, run: Run, phases: list[str]) -> None:
        coalition = await self.coalitions.get(run.coalition)
        if coalition is None:
            return
        text = (
            f"Run {run.run_id}: phase {', '.join(phases)} fell due while the bot was away, more than "
            f"{format_duration(self.config.late_grace)} ago, and was not sent (it would be stale). "
            f"See !protocol status {run.run_id}."
        )
        await self.bot.post(
            RoomID(coalition.coordination_room), text, None,
            key=f"herald-stale-{run.run_id}-{stable_key(*phases)}",
        )

    async def edit_latest(self, run_id: str, key: str, banner: str, strike: bool = False) -> int:
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
            body = f"{banner}\n\n{d.body}"
            old = f"<del>{d.html}</del>" if strike else d.html
            rich = f"<p><strong>{html_lib.escape(banner)}</strong></p>{old}"
            new_content = {"msgtype": "m.notice", "body": body, "m.mentions": {},
                           "format": "org.matrix.custom.html", "formatted_body": rich}
            content = {
                **new_content, "body": f"* {body}", "formatted_body": f"* {rich}",
                "m.new_content": new_content,
                "m.relates_to": {"rel_type": "m.replace", "event_id": d.event_id},
            }
            await self.bot.outbox.enqueue(RoomID(d.room_id), content, f"{d.txn_id}-edit-{key}")
        return len(latest)

    # -- acknowledgement and escalation -----------------------------------------------------

    async def on_reaction(self, ctx: Any, target: EventID, key: str) -> None:
        """The ack reaction on a phase message acknowledges that phase for the room."""
        if not _same_reaction(key, self.config.ack_reaction):
            return
        d = await self.runs.by_event(ctx.room_id, target)
        if d is None or d.ack_by is None or d.acked_at is not None:
            return
        found = await self.membership(ctx.room_id)
        if found is None or not await self.may_ack(ctx.room_id, ctx.sender, found[1]):
            return  # anyone may react; only the liaison's (or a moderator's) reaction counts
        if await self.runs.ack(d.run_id, ctx.room_id, ctx.sender, ctx.now, d.phase_key):
            await self.bot.post(
                ctx.room_id, f"✅ Acknowledged for this room by {ctx.sender}: run {d.run_id}, {d.phase_key}.",
                None, key=f"herald-ack-{d.txn_id}",
            )
            await self.schedule_escalation(d.run_id)

    async def schedule_escalation(self, run_id: str) -> None:
        """One wake-up at the run's next escalation instant (or none)."""
        run = await self.runs.get(run_id)
        template = self.library().get(run.template) if run is not None else None
        job = escalate_job_id(run_id)
        if run is None or template is None:
            self.bot.scheduler.cancel(job)
            return
        deliveries = await self.runs.deliveries(run_id)
        when = next_escalation_at(template, deliveries, run_cancelled=run.state == "cancelled")
        if when is None:
            self.bot.scheduler.cancel(job)
        else:
            self.bot.scheduler.at(job, when, self.escalate, run_id)

    async def escalate(self, run_id: str) -> None:
        """Take every escalation step that is due: DM the liaison, then tell the coordinators."""
        now = self.bot.clock()
        run = await self.runs.get(run_id)
        template = self.library().get(run.template) if run is not None else None
        if run is None or template is None:
            return
        coalition = await self.coalitions.get(run.coalition)
        if coalition is None:
            return
        deliveries = await self.runs.deliveries(run_id)
        by_txn = {d.txn_id: d for d in deliveries}
        members = {m.room_id: m for m in await self.coalitions.members(run.coalition)}
        for step in escalations_due(template, deliveries, now, run_cancelled=run.state == "cancelled"):
            member = members.get(step.room_id)
            if member is not None:  # a room that left owes the coalition nothing
                d = by_txn[step.txn_id]
                if member.liaison and not await self.still_in_room(member.room_id, member.liaison, member):
                    member = members[step.room_id] = replace(member, liaison=None)  # cleared
                if step.action == "liaison" and member.liaison:
                    await self._dm_liaison(run, template, d, step, member)
                else:
                    await self._note_coordination(run, template, d, step, member, coalition)
            await self.runs.record_escalation(step.txn_id, step.step)
        await self.schedule_escalation(run_id)

    def _phase_title(self, template: ProtocolTemplate, phase_key: str) -> str:
        phase = template.phase(phase_key)
        if phase is not None:
            return phase.title
        if phase_key == "cancel":
            return "the stand-down"
        return f"amendment #{phase_key.removeprefix('amend-')}"

    async def _dm_liaison(
        self, run: Run, template: ProtocolTemplate, d: Delivery, step: Escalation, member: Member
    ) -> None:
        assert member.liaison is not None
        zone = await self.zone_of(member.room_id)
        label = await self.label(member.room_id)
        deadline = format_local(d.ack_by, zone) if d.ack_by else "its deadline"
        text = (
            f"⏰ {label} has not acknowledged “{self._phase_title(template, d.phase_key)}” of run "
            f"{run.run_id} ({template.name}); it was due by {deadline}.\n"
            f"Please check the room and acknowledge there (!ack {run.run_id}, or react "
            f"{self.config.ack_reaction} to the message), or answer here with !ack {run.run_id}."
        )
        try:
            dm = await self.dm_room(member.liaison)
        except MatrixError as exc:
            log.warning("herald: no DM with a liaison for %s: %s", d.txn_id, exc.errcode)
            return
        await self.bot.post(dm, text, None, key=f"herald-esc-{d.txn_id}-{step.step}")

    async def _note_coordination(
        self, run: Run, template: ProtocolTemplate, d: Delivery, step: Escalation,
        member: Member, coalition: Coalition,
    ) -> None:
        zone = await self.zone_of(coalition.coordination_room)
        label = await self.label(member.room_id)
        deadline = format_local(d.ack_by, zone) if d.ack_by else "its deadline"
        text = (
            f"⚠️ No acknowledgement from {label} ({member.homeserver}) for "
            f"“{self._phase_title(template, d.phase_key)}” of run {run.run_id}, due by {deadline}. "
            f"Liaison: {member.liaison or 'none set'}. See !protocol status {run.run_id}."
        )
        await self.bot.post(
            RoomID(coalition.coordination_room), text, None, key=f"herald-esc-{d.txn_id}-{step.step}"
        )

    async def dm_room(self, user_id: str) -> RoomID:
        """The bot's direct room with ``user_id``: the one it opened before, else a new one."""
        key = _DM_KEY.format(bot=self.bot.user_id)
        row = await self.bot.db.fetchone(
            "SELECT room_id FROM room_setting WHERE key = ? AND value = ?", (key, user_id)
        )
        if row is not None:
            room = RoomID(row[0])
            try:
                await self.bot.matrix.joined_members(room)
                return room
            except MatrixError:  # the bot was removed from it: open a new one
                await self.bot.db.execute(
                    "DELETE FROM room_setting WHERE room_id = ? AND key = ?", (room, key)
                )
        room = await self.bot.matrix.create_room(
            "Coalition alerts", [UserID(user_id)], encrypted=self.config.encrypt_dms,
            is_direct=True, topic="Reminders about day-of-action acknowledgements",
        )
        await self.bot.db.execute(
            "INSERT OR REPLACE INTO room_setting (room_id, key, value) VALUES (?, ?, ?)",
            (room, key, user_id),
        )
        return room

    # -- forgetting -------------------------------------------------------------------------

    async def on_removed(self, room_id: RoomID) -> None:
        """The bot is out of a room: forget what the herald kept for it.

        A member room: its membership (and liaison), local details, the events it listed,
        invitations naming it, and every message planned for or sent to it (pending ones are
        never sent). A coordination room: its coalitions lose their coordinators, so every
        live run is stood down unsent, the member rooms are told and released, and the
        coalition itself is forgotten once its runs expire.
        """
        now = self.bot.clock()
        for coalition in await self.coalitions.coordinated_by(room_id):
            cancelled = await self.runs.cancel_coalition(coalition.name, now)
            for run in await self.runs.list_for(coalition.name):
                self.unschedule_deliveries(run.run_id)
                self.bot.scheduler.cancel(escalate_job_id(run.run_id))
            for member in await self.coalitions.members(coalition.name):
                if member.room_id == room_id:
                    continue
                await self.runs.cancel_room(member.room_id, coalition.name)
                await self.bot.post(
                    RoomID(member.room_id),
                    f"Coalition {coalition.name} has lost its coordination room (it removed this bot): "
                    "this room is out of the coalition and gets none of its messages any more.",
                    None, key=f"herald-dissolved-{stable_key(coalition.name, member.room_id)}",
                )
                await self.coalitions.leave(coalition.name, member.room_id)
            await self.coalitions.drop_invites(coalition.name)
            await self.events.forget_coalition(coalition.name)
            log.info("herald: a coordination room removed the bot; %d runs stood down", cancelled)
        for coalition in await self.coalitions.coalitions_of(room_id):
            if coalition.coordination_room != room_id:
                await self.bot.post(
                    RoomID(coalition.coordination_room),
                    f"➖ A member room ({room_id}) removed this bot: it is out of coalition {coalition.name}.",
                    None, key=f"herald-removed-{stable_key(coalition.name, room_id)}",
                )
        await self.coalitions.forget_room(room_id)
        await self.runs.forget_room(room_id)
        await self.events.forget_room(room_id)
        await self.local.forget_room(room_id)
        await self.coalitions.forget_empty()
        # A liaison's direct chat with the bot is gone too: the next alert opens a new one.
        await self.bot.db.execute(
            "DELETE FROM room_setting WHERE room_id = ? AND key = ?",
            (room_id, _DM_KEY.format(bot=self.bot.user_id)),
        )

    async def sweep(self, now: datetime) -> None:
        """Redact the messages of expired runs, then delete the runs and past events.

        A redaction the homeserver could not take now (unreachable, rate limited) is tried at
        the next sweep: the run is kept until it succeeds, or the homeserver refuses for good
        (the room or the event is gone, the bot is not allowed), or ``REDACT_PATIENCE`` passed.
        """
        retention = self.bot.app.retention
        cutoff = now - retention.protocol_runs
        redacted = kept = 0
        for room_id, event_id in await self.runs.sent_messages_older_than(cutoff):
            try:
                await self.bot.matrix.redact(
                    RoomID(room_id), EventID(event_id), f"herald-redact-{stable_key(event_id)}",
                    "expired day-of-action message",
                )
            except MatrixError as exc:
                if not _permanent(exc):
                    kept += 1
                    log.info("herald: redaction failed for now, kept for the next sweep: %s", exc.errcode)
                    continue
                log.info("herald: an expired message cannot be redacted: %s", exc.errcode)
            await self.runs.mark_redacted(room_id, event_id)
            redacted += 1
        runs = await self.runs.forget_older_than(cutoff, keep_unredacted_until=cutoff - REDACT_PATIENCE)
        events = await self.events.forget_older_than(now - retention.events)
        invites = await self.coalitions.forget_expired_invites(now)
        empty = await self.coalitions.forget_empty()
        log.info(
            "herald sweep: %d messages redacted, %d kept to retry; %d runs, %d events, %d invitations, "
            "%d empty coalitions forgotten", redacted, kept, runs, events, invites, empty,
        )


def _permanent(exc: MatrixError) -> bool:
    """A refusal that retrying will not change: gone, forbidden, or another 4xx but 429."""
    if isinstance(exc, (Forbidden, NotFound)):
        return True
    if isinstance(exc, (RateLimited, TransportError)):
        return False
    return exc.status is not None and 400 <= exc.status < 500 and exc.status != 429
