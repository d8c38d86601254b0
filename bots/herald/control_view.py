"""A herald's view of each control room it serves: the registry folded from the room's state and
its private events, the heartbeats it received, and what that view implies for its own tables.

The control room is the truth; this herald's tables are a cache of it (coalition, member rooms,
runs and their planned messages), refreshed whenever an event of the room arrives and at every
heartbeat (``GET /state``). A registry event from someone who is not a herald changes nothing (the
fold counts only admitted senders) and is logged; a plan is adopted only when its parts hash to
the plan hash the registry holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bots.herald.base import log
from bots.herald.control_room import creators_from, joined_from, room_state
from bots.herald.protocols import ProtocolCommands
from bots.runtime.errors import MatrixError
from protocols.coalition import HeartbeatBook, Registry
from protocols.coalition.charter import CHARTER, COPIES, WANT, coalition_name, parse_copies
from protocols.coalition.kinds import INVITE
from protocols.coalition.plan_parts import SharedPlan, assemble_plan
from protocols.coalition.registry import PLAN_PART, STATE_KINDS, TIMELINE_KINDS
from protocols.coalition.shapes import server_of
from protocols.herald.plan import PlannedMessage, txn_id_for
from storage.herald_control import StoredCopy

if TYPE_CHECKING:
    from bots.herald.invitations import SharedInvite

PRIVATE_KINDS = frozenset({*TIMELINE_KINDS, PLAN_PART, CHARTER, COPIES})


@dataclass
class ControlView:
    room_id: str
    registry: Registry
    heartbeats: HeartbeatBook = field(default_factory=HeartbeatBook)
    joined: frozenset[str] = frozenset()
    coalition: str | None = None
    private: list[dict[str, Any]] = field(default_factory=list)
    invited_for: frozenset[str] = frozenset()  # the heralds this herald last invited everywhere
    invites: dict[str, SharedInvite] = field(default_factory=dict)  # open and spent, by token hash


def to_planned(run_id: str, plan: SharedPlan) -> list[PlannedMessage]:
    return [
        PlannedMessage(
            run_id=run_id,
            phase_key=m.phase_key,
            room_id=m.room_id,
            txn_id=txn_id_for(run_id, m.phase_key, m.room_id),
            due_at=m.due_at,
            immediate=False,
            body=m.body,
            html=m.html,
            ack_by=m.ack_by,
        )
        for m in plan.messages
    ]


class ControlRegistry(ProtocolCommands):
    """Control-room views, folded from events; the local tables kept in step with them."""

    @property
    def views(self) -> dict[str, ControlView]:
        found: dict[str, ControlView] | None = getattr(self, "_control_views", None)
        if found is None:
            found = {}
            self._control_views = found
        return found

    def known_since(self, run_id: str, *, now: datetime | None = None) -> datetime:
        """When this herald learnt the run's current revision (this process's first look at it
        after a restart). A herald's turn is counted from then at the earliest: a message due
        before the plan reached it gives the heralds ahead of it their stagger too."""
        known: dict[str, datetime] = self.__dict__.setdefault("_known_runs", {})
        if now is not None:
            known[run_id] = now
        return known.setdefault(run_id, self.host.clock())

    def view_of(self, coalition: str) -> ControlView | None:
        return next((v for v in self.views.values() if v.coalition == coalition), None)

    def view_for_room(self, room_id: str) -> ControlView | None:
        """The control view of the coalition a member or coordination room belongs to."""
        for view in self.views.values():
            reg = view.registry
            if room_id in reg.coordination_rooms or room_id in reg.member_rooms:
                return view
        return None

    def shared_coordination(self, room_id: str) -> str | None:
        for view in self.views.values():
            if room_id in view.registry.coordination_rooms and view.coalition is not None:
                return view.coalition
        return None

    # -- loading and folding --------------------------------------------------------------------

    async def load_view(self, room_id: str) -> ControlView | None:
        """Read a control room afresh (state, plus the private events cached here); None if it
        is not a control room this bot is a herald of."""
        try:
            state = await room_state(self.host, room_id)
        except MatrixError as exc:
            log.info("herald: a control room could not be read (%s)", type(exc).__name__)
            return self.views.get(room_id)
        creators = creators_from(state)
        if not creators:
            return None
        now = self.host.clock()
        private = await self.control.events(room_id)
        held = self.views.get(room_id)
        registry = Registry.empty(creators).fold(state).fold(private)
        if held is not None and held.registry.creators == registry.creators:
            registry = registry.merge(held.registry)
            invited = held.invited_for
        else:
            invited = frozenset()
        if self.host.user_id not in registry.admitted:
            return None
        book = held.heartbeats if held is not None else HeartbeatBook()
        view = ControlView(room_id, registry, book.record_events(state, now), joined_from(state))
        view.private = private
        view.invited_for = invited
        view.invites = dict(held.invites) if held is not None else {}
        for event in state:
            self.note_invite(view, event)
        view.coalition = coalition_name(private, registry.admitted)
        self.views[room_id] = view
        return view

    async def refresh(self, room_id: str) -> ControlView | None:
        """Fold the room afresh and bring this herald's tables in step."""
        view = await self.load_view(room_id)
        if view is not None:
            await self.apply_view(view)
        return view

    async def apply_view(self, view: ControlView) -> None:
        if view.coalition is None:
            return  # the charter has not reached this herald yet: it asked for it (want)
        lock: asyncio.Lock | None = getattr(self, "_apply_lock", None)
        if lock is None:
            lock = self._apply_lock = asyncio.Lock()
        # One at a time: a heartbeat's refresh and an event from the sync may both adopt a run.
        async with lock:
            await self.control.link(view.coalition, view.room_id, self.host.clock())
            await self._mirror(view)
            await self.mirror_invites(view)
            await self._adopt(view)
            await self.welcome_heralds(view)
            await self.on_duty(view)

    async def on_duty(self, view: ControlView) -> None:
        """Declare this herald on duty (``bots.herald.heralds_live``)."""

    def note_invite(self, view: ControlView, event: dict[str, Any]) -> bool:
        """An invitation shared in the control room (``bots.herald.invitations``)."""
        return False

    async def mirror_invites(self, view: ControlView) -> None:
        """Copy the shared invitations into this herald's table (``bots.herald.invitations``)."""

    async def welcome_heralds(self, view: ControlView) -> None:
        """Invite newly admitted heralds into the rooms (``bots.herald.sharing``)."""

    async def control_event(self, view: ControlView, event: dict[str, Any]) -> None:
        """One event of a control room, from the sync (never this bot's own)."""
        kind = event.get("type")
        sender = str(event.get("sender"))
        state_key = event.get("state_key")
        if kind in STATE_KINDS:
            # Folded whoever sent it: the admission that makes its sender a herald may come later,
            # and until then the fact counts for nothing.
            view.registry = view.registry.fold([event])
            if sender not in view.registry.admitted:
                log.warning("herald: ignored a registry event from a sender who is not a herald")
                return
            view.heartbeats = view.heartbeats.record_events([event], self.host.clock())
        elif kind in PRIVATE_KINDS and state_key is None:
            registered = view.registry.admitted
            if sender not in registered:
                log.warning("herald: ignored a private coalition event from a sender who is not a herald")
                return
            await self.control.add_event(view.room_id, event, self.host.clock())
            view.private.append(event)
            for copy in parse_copies(event, registered):
                await self.control.add_copy(
                    StoredCopy(
                        copy.key.run_id,
                        copy.key.key,
                        copy.key.room_id,
                        copy.sender,
                        copy.event_id,
                        copy.origin_server_ts,
                        copy.digest,
                    )
                )
            view.registry = view.registry.fold([event])
            view.coalition = view.coalition or coalition_name(view.private, registered)
        elif kind == INVITE and state_key is not None:
            if not self.note_invite(view, event):
                log.warning("herald: ignored an invitation from a sender who is not a herald")
                return
        elif kind == WANT and state_key is None:
            # One answer per asking herald per staleness period: a herald that cannot decrypt
            # yet asks again, and each answer is a burst of events.
            answered: dict[tuple[str, str], datetime] = self.__dict__.setdefault("_answered", {})
            now = self.host.clock()
            last = answered.get((view.room_id, sender))
            if sender in view.registry.admitted and (last is None or now - last >= self.config.staleness):
                answered[(view.room_id, sender)] = now
                await self.resend(view, str(event.get("event_id")))
            return
        else:
            return
        await self.apply_view(view)

    async def resend(self, view: ControlView, want_id: str) -> None:
        """Another herald asked for the private events (``bots.herald.sharing`` answers)."""

    # -- the tables follow the registry ---------------------------------------------------------

    async def _mirror(self, view: ControlView) -> None:
        """Coalition, member rooms and liaisons as the registry has them."""
        name = view.coalition
        assert name is not None
        reg = view.registry
        now = self.host.clock()
        if await self.coalitions.get(name) is None:
            coordination = sorted(reg.coordination_rooms)
            if not coordination:
                return
            room = coordination[0]
            homeserver = (
                reg.member_rooms[room].homeserver
                if room in reg.member_rooms
                else server_of(str(self.host.user_id))
            )
            await self.coalitions.create(name, room, homeserver, None, now)
        local = {m.room_id: m for m in await self.coalitions.members(name)}
        for room_id, member in reg.member_rooms.items():
            if not member.active:
                if room_id in local:
                    await self.coalitions.leave(name, room_id)
                continue
            if room_id not in local:
                await self.coalitions.add_member(name, room_id, member.homeserver, member.liaison, now)
            elif member.liaison and local[room_id].liaison != member.liaison:
                await self.coalitions.set_liaison(name, room_id, member.liaison)

    async def _adopt(self, view: ControlView) -> None:
        """Runs the registry knows at a newer revision than this herald: take their plans."""
        name = view.coalition
        assert name is not None
        reg = view.registry
        now = self.host.clock()
        for run in reg.runs.values():
            held = await self.control.shared_rev(run.run_id)
            if held is not None and held[0] >= run.rev:
                if run.cancelled:
                    await self._cancel_adopted(run.run_id, [])
                await self._merge_acks(view, run.run_id, now)
                continue
            plan = assemble_plan(
                view.private,
                run_id=run.run_id,
                rev=run.rev,
                expected_hash=run.plan_hash,
                registered=reg.admitted,
            )
            if plan is None:
                continue  # parts still on their way (or asked for)
            messages = to_planned(run.run_id, plan)
            local = await self.runs.get(run.run_id)
            if local is None:
                if run.action_time is None:
                    continue  # the plan event (template, time) has not arrived yet
                await self.runs.create(run.run_id, name, run.template or "shared", run.action_time, now)
                await self.runs.confirm(run.run_id, [m for m in messages if m.phase_key != "cancel"], now)
            else:
                await self.runs.add_messages([m for m in messages if m.phase_key != "cancel"])
                await self._note_amendments(run.run_id, messages, now)
            if run.cancelled:
                await self._cancel_adopted(run.run_id, [m for m in messages if m.phase_key == "cancel"])
            await self.control.set_shared_rev(run.run_id, run.rev, run.plan_hash)
            self.known_since(run.run_id, now=self.host.clock())
            await self._merge_acks(view, run.run_id, now)
            log.info("herald: adopted revision %d of a shared run (%d messages)", run.rev, len(messages))
            self.schedule_deliveries(run.run_id, sorted({m.due_at for m in messages}))
            await self.prepare_keys(run.run_id)
            await self.deliver_due(run.run_id)

    async def _note_amendments(self, run_id: str, messages: list[PlannedMessage], now: datetime) -> None:
        known = {a.seq for a in await self.runs.amendments(run_id)}
        seqs = sorted(
            {int(m.phase_key.removeprefix("amend-")) for m in messages if m.phase_key.startswith("amend-")}
        )
        for seq in seqs:
            if seq not in known:
                await self.runs.amend(run_id, seq, "(amended through another herald)", [], now)

    async def _cancel_adopted(self, run_id: str, stand_downs: list[PlannedMessage]) -> None:
        run = await self.runs.get(run_id)
        if run is None:
            return
        if run.state != "cancelled":
            await self.runs.cancel(run_id, stand_downs, self.host.clock())
            self.unschedule_deliveries(run_id)
        elif stand_downs:
            await self.runs.add_messages(stand_downs)

    async def _merge_acks(self, view: ControlView, run_id: str, now: datetime) -> None:
        """Acknowledgements given to any herald count here too (the union of the G-Sets)."""
        for room_id, key in sorted(view.registry.acked(run_id)):
            await self.runs.ack(run_id, room_id, "(through another herald)", now, key)
