"""The herald: day-of-action protocols broadcast across a coalition's rooms on federated
homeservers, as one feature on the contract.

The class is assembled from one mixin per concern, each building on the last:
``base`` (repositories, templates, who may do what) -> ``escalation`` (acks and the ladder) ->
``delivery`` (the broadcast) -> ``coalitions`` (``!coalition``) -> ``room_commands`` (``!local``, ``!ack``) ->
``protocols`` (``!protocol``); the calendar is its own feature (bots/calendar). This module adds the
life cycle: jobs rebuilt at start, retention, and what a room that removed the bot leaves behind.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bots.herald.base import log
from bots.herald.config import HeraldConfig
from bots.herald.delivery import due_job_id
from bots.herald.escalation import escalate_job_id
from bots.herald.gate import answered_once
from bots.herald.space import CoalitionSpaces
from bots.runtime.errors import PermissionDenied, UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.runtime.registry import register
from protocols.herald.consent import INVITE_TTL


@dataclass(frozen=True)
class CoalitionSeat:
    """A room's place in its coalition and what one person may do there, as other features (the
    calendar) read it through ``host.peer(HeraldFeature)``: read-only, no ids of anyone."""

    coalition: str  # its name
    coordinates: bool  # the room is a coordination room of the coalition
    coordinator: bool  # the person may coordinate (access.coordinators, or anyone when unset)
    liaison: bool  # the person is the room's liaison

    def require_coordinator(self) -> None:
        """Refuse, in the room's language, unless this is a coordination room and the person
        may coordinate: the rule every coalition-wide command of another feature shares."""
        if not self.coordinates:
            raise UserError(
                _(
                    "Only a coordination room of coalition {coalition} can do this; this room is a member room.",
                    coalition=self.coalition,
                )
            )
        if not self.coordinator:
            raise PermissionDenied(
                _(
                    "This is for the coordinators this bot's operator named (access.coordinators); ask one of them."
                )
            )


@register
class HeraldFeature(CoalitionSpaces):  # pins and spaces over the day-of-action port
    """Coalitions, local details, protocol runs and acknowledgements."""

    name = "herald"
    title = "Day-of-action protocols"
    config_model = HeraldConfig
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, host: Host, config: HeraldConfig) -> None:
        super().__init__(host, config)
        self._tasks: set[asyncio.Task[Any]] = set()

    def retention(self) -> dict[str, timedelta]:
        return {
            "protocol runs (their messages are redacted)": self.host.retention.protocol_runs,
            "calendar events": self.host.retention.events,
            "invitations": INVITE_TTL,
            "control-room cache (plans, liaisons, copies seen; rebuilt from the room)": self.host.retention.protocol_runs,
            "pinned phases (unpinned when their run ends)": self.host.retention.protocol_runs,
            "coalition spaces (kept while the coalition is)": self.host.retention.sweep_every,
        }

    async def coalition_seat(self, room_id: str, user_id: str) -> CoalitionSeat | None:
        """The coalition ``room_id`` is in (None: none), for other features; changes nothing."""
        found = await self.seat_of(room_id, user_id)
        if found is None:
            return None
        coalition, member = found
        return CoalitionSeat(
            coalition.name,
            coalition.coordination_room == room_id or self.shared_coordination(room_id) == coalition.name,
            self.is_coordinator(user_id),
            bool(member.liaison) and member.liaison == user_id,
        )

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild every job from the tables: pending messages, then owed escalations."""
        self.library()
        scheduled: set[str] = set()
        for d in await self.runs.pending():
            # Issue 18 (H18): share each room's key ahead of its due phase (nio forgets its
            # sessions at a restart), from encryption.keys_ahead before it, rate-controlled.
            self.host.prepare_rooms([RoomID(d.room_id)], by=d.due_at)
            job = due_job_id(d.run_id, d.due_at)
            if job not in scheduled:
                scheduled.add(job)
                self.host.schedule.at(job, d.due_at, self.deliver_due, d.run_id)
        for run_id in await self.runs.runs_awaiting_acks():
            await self.schedule_escalation(run_id)
        log.info("herald: %d delivery jobs rebuilt", len(scheduled))
        await self.start_control()
        await self.restore_affordances()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- forgetting -------------------------------------------------------------------------

    async def forget_room(self, room_id: RoomID) -> None:
        """The bot is out of a room: forget what the herald kept for it.

        A member room: its membership (and liaison), local details, the events it listed,
        invitations naming it, and every message planned for or sent to it (pending ones are
        never sent). A coordination room: its coalitions lose their coordinators, so every
        live run is stood down unsent, the member rooms are told and released, and the
        coalition itself is forgotten once its runs expire.
        """
        now = self.host.clock()
        for coalition in await self.coalitions.coordinated_by(room_id):
            cancelled = await self.runs.cancel_coalition(coalition.name, now)
            for run in await self.runs.list_for(coalition.name):
                self.unschedule_deliveries(run.run_id)
                self.host.schedule.cancel(escalate_job_id(run.run_id))
            for member in await self.coalitions.members(coalition.name):
                if member.room_id == room_id:
                    continue
                await self.runs.cancel_room(member.room_id, coalition.name)
                await self.host.post(
                    RoomID(member.room_id),
                    Message.of(
                        _(
                            "Coalition {coalition} has lost its coordination room (it removed this bot): "
                            "this room is out of the coalition and gets none of its messages any more.",
                            coalition=coalition.name,
                        )
                    ),
                    key(self.name, "dissolved", coalition.name, member.room_id),
                )
                await self.coalitions.leave(coalition.name, member.room_id)
            await self.coalitions.drop_invites(coalition.name)
            await self.events.forget_coalition(coalition.name)
            log.info("herald: a coordination room removed the bot; %d runs stood down", cancelled)
        for coalition in await self.coalitions.coalitions_of(room_id):
            if coalition.coordination_room != room_id:
                await self.host.post(
                    RoomID(coalition.coordination_room),
                    Message.of(
                        _(
                            "➖ A member room ({room}) removed this bot: it is out of coalition {coalition}.",
                            room=room_id,
                            coalition=coalition.name,
                        )
                    ),
                    key(self.name, "removed", coalition.name, room_id),
                )
        await self.control.forget_room(room_id)
        self.views.pop(str(room_id), None)
        await self.coalitions.forget_room(room_id)
        await self.runs.forget_room(room_id)
        await self.events.forget_room(room_id)
        await self.local.forget_room(room_id)
        await self.coalitions.forget_empty()
        # A liaison's direct chat with the bot is gone too: the next alert opens a new one.
        await self.host.settings.delete(room_id, self.dm_key)
        await self.forget_room_affordances(room_id)

    async def forget_expired(self, now: datetime) -> int:
        """Redact the messages of expired runs, then delete the runs and past events.

        Each redaction is queued in the outbox, which retries it until it lands or the room
        refuses it for good; the queued row is the durable promise, so the run goes at once.
        """
        retention = self.host.retention
        cutoff = now - retention.protocol_runs
        redactions = 0
        for room_id, event_id in await self.runs.sent_messages_older_than(cutoff):
            if await self.control.sent_by_another(event_id, str(self.host.user_id)):
                await self.runs.mark_redacted(room_id, event_id)  # its own herald redacts it
                continue
            await self.host.redact(
                RoomID(room_id),
                EventID(event_id),
                key(self.name, "redact", event_id),
                "expired day-of-action message",
            )
            await self.runs.mark_redacted(room_id, event_id)
            redactions += 1
        expired = await self.runs.expired_run_ids(cutoff)
        await self.doa_runs_forgotten(expired)  # slots, intake, rides, declines go with their run
        cached = await self.control.forget_runs(expired) + await self.control.forget_older_than(cutoff)
        runs = await self.runs.forget_older_than(cutoff)
        events = await self.events.forget_older_than(now - retention.events)
        invites = await self.coalitions.forget_expired_invites(now)
        empty = await self.coalitions.forget_empty()
        cached += await self.forget_expired_affordances(now)  # pins and spaces
        log.info(
            "herald sweep: %d redactions queued; %d runs, %d events, %d invitations, %d empty coalitions forgotten",
            redactions,
            runs,
            events,
            invites,
            empty,
        )
        return runs + events + invites + empty + cached


answered_once(HeraldFeature)
