"""What one herald writes into the control room so that every other herald can act as it would:
a run's plan (encrypted parts) and its state (revision, plan hash, cancelled), this herald's
acknowledgement set, member rooms and their liaisons, and the resends another herald asks for.

A herald does not receive its own events back through the sync, so what it sends privately it
also keeps as if received (same content, a local event id): its view then folds its own writes
the same way the others do.
"""

from __future__ import annotations

import secrets
from typing import Any

from bots.herald.base import log
from bots.herald.control_room import put_state, send_private
from bots.herald.control_view import ControlRegistry, ControlView
from bots.runtime.errors import MatrixError
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from protocols.coalition.charter import charter_event
from protocols.coalition.plan_parts import SharedMessage, plan_parts
from protocols.coalition.reveal import (
    PrivateEvent,
    acks_state,
    amend_event,
    cancel_state,
    liaison_event,
    member_room_state,
    plan_event,
    run_state,
)
from protocols.coalition.shapes import datetime_to_ms


class Sharing(ControlRegistry):
    """Writes to the control room: runs, acks, rooms; answers to a want."""

    async def _private(self, view: ControlView, event: PrivateEvent, send_key: str) -> None:
        await send_private(self.host, view.room_id, event, send_key)
        own: dict[str, Any] = {
            "type": event.event_type,
            "sender": str(self.host.user_id),
            "event_id": f"$local-{send_key}",
            "origin_server_ts": datetime_to_ms(self.host.clock()),
            "content": dict(event.content),
        }
        await self.control.add_event(view.room_id, own, self.host.clock())
        view.private.append(own)
        view.registry = view.registry.fold([own])

    async def share_charter(self, view: ControlView, name: str) -> None:
        await self._private(view, charter_event(name), key(self.name, "charter", view.room_id))
        view.coalition = name

    async def share_run(self, run_id: str) -> None:
        """The run's messages as a new revision: private plan (or amendment) and parts, then
        state. Called after a confirm, an amendment or a cancellation made through this herald."""
        run = await self.runs.get(run_id)
        view = self.view_of(run.coalition) if run is not None else None
        if run is None or view is None:
            return
        messages = [
            SharedMessage(d.room_id, d.phase_key, d.due_at, d.body, d.html, d.ack_by)
            for d in await self.runs.deliveries(run_id)
            if d.state != "cancelled" or d.phase_key == "cancel"
        ]
        held = await self.control.shared_rev(run_id)
        rev = 1 if held is None else held[0] + 1
        parts = plan_parts(run_id, rev, messages, secrets.token_bytes(16))
        digest = str(parts[0].content["plan_hash"])
        cancelled = run.state == "cancelled"
        if held is None:
            head = plan_event(
                run_id, template=run.template, action_time=run.action_at, plan_hash=digest, rev=rev
            )
        else:
            head = amend_event(
                run_id,
                rev=rev,
                prev_rev=held[0],
                plan_hash=digest,
                cancel=cancelled,
                action_time=run.action_at,
            )
        await self._private(view, head, key(self.name, "plan", run_id, rev))
        for index, part in enumerate(parts):
            await self._private(view, part, key(self.name, "part", run_id, rev, index))
        await self.control.set_shared_rev(run_id, rev, digest)
        self.known_since(run_id, now=self.host.clock())
        await self._state(view, run_state(run_id, rev=rev, plan_hash=digest, cancelled=cancelled))
        if cancelled:
            await self._state(view, cancel_state(run_id))
        log.info(
            "herald: shared revision %d of a run (%d messages, %d parts)", rev, len(messages), len(parts)
        )

    async def _state(self, view: ControlView, write: Any) -> None:
        await put_state(self.host, view.room_id, write)
        own = {
            "type": write.event_type,
            "state_key": write.state_key,
            "sender": str(self.host.user_id),
            "event_id": f"$local-state-{secrets.token_hex(8)}",
            "origin_server_ts": datetime_to_ms(self.host.clock()),
            "content": dict(write.content),
        }
        view.registry = view.registry.fold([own])

    async def share_acks(self, coalition: str) -> None:
        """This herald's grow-only set: what the registry already holds of it, plus every
        acknowledgement recorded here, written as one state event."""
        view = self.view_of(coalition)
        if view is None:
            return
        me = str(self.host.user_id)
        acks: dict[str, set[tuple[str, str]]] = {}
        for run_id, by_herald in view.registry.acks.items():
            acks.setdefault(run_id, set()).update(by_herald.get(me, frozenset()))
        for run in await self.runs.list_for(coalition):
            if await self.control.shared_rev(run.run_id) is None:
                continue
            for d in await self.runs.deliveries(run.run_id):
                if d.acked_at is not None:
                    acks.setdefault(run.run_id, set()).add((d.room_id, d.phase_key))
        await self._state(view, acks_state(me, acks))

    async def share_member(self, coalition: str, room_id: str) -> None:
        """A member room (and its liaison) for the other heralds, who are invited into it."""
        view = self.view_of(coalition)
        if view is None:
            return
        member = next((m for m in await self.coalitions.members(coalition) if m.room_id == room_id), None)
        if member is None:
            return
        await self._state(view, member_room_state(room_id, member.homeserver))
        await self._private(
            view,
            liaison_event(room_id, member.liaison),
            key(self.name, "liaison", room_id, member.liaison or "-"),
        )
        await self.invite_heralds(view, [room_id])

    async def welcome_heralds(self, view: ControlView) -> None:
        """Every herald invites a newly admitted one into the rooms it is in: whichever of them
        has the power to invite there (a room's moderators decide who may) gets it in."""
        heralds = frozenset(h for h, x in view.registry.heralds.items() if not x.retired)
        if heralds <= view.invited_for:
            return
        view.invited_for = heralds
        await self.invite_heralds(
            view, sorted({*view.registry.member_rooms, *view.registry.coordination_rooms})
        )

    async def invite_heralds(self, view: ControlView, rooms: list[str]) -> int:
        """Invite every admitted herald not yet in these rooms; how many invitations went out."""
        sent = 0
        me = self.host.user_id
        wanted = frozenset(h for h, x in view.registry.heralds.items() if not x.retired)
        for room_id in rooms:
            try:
                present = set(await self._joined(room_id))
            except MatrixError:
                continue
            if me not in present:
                continue
            for herald in sorted(wanted - present - {me}):
                try:
                    await self.host.invite(RoomID(room_id), UserID(herald))
                    sent += 1
                except MatrixError as exc:  # already invited, or this bot may not invite here
                    log.info("herald: could not invite a herald into a room (%s)", exc.errcode)
        return sent

    async def _joined(self, room_id: str) -> frozenset[str]:
        from bots.herald.control_room import joined_users

        return await joined_users(self.host, room_id)

    async def resend(self, view: ControlView, want_id: str) -> None:
        """Send again what a herald that just joined (or lost its cache) cannot decrypt: the
        charter, the liaisons and the current revision's plan of each run."""
        if view.coalition is None:
            return
        await self._private(view, charter_event(view.coalition), key(self.name, "resend", want_id, "charter"))
        for room_id, member in view.registry.member_rooms.items():
            if member.liaison:
                liaison = liaison_event(room_id, member.liaison)
                await self._private(view, liaison, key(self.name, "resend", want_id, "liaison", room_id))
        for run in view.registry.runs.values():
            wanted = {"run": run.run_id, "rev": run.rev}
            found = [
                e
                for e in view.private
                if e.get("type") in ("org.affinity.herald.plan", "org.affinity.herald.plan_part")
                and all((e.get("content") or {}).get(k) == v for k, v in wanted.items())
                and (e.get("content") or {}).get("plan_hash") == run.plan_hash
            ]
            plan_head = next((e for e in view.private if _is_head(e, run.run_id)), None)
            if plan_head is not None and plan_head not in found:
                found.insert(0, plan_head)
            # What was delivered before the upgrade goes first: a herald that can plan the run
            # must already know what not to send again.
            found = [
                e
                for e in view.private
                if e.get("type") == "org.affinity.herald.copies"
                and (e.get("content") or {}).get("run") == run.run_id
            ] + found
            seen: set[str] = set()
            for event in found:
                content = event.get("content") or {}
                tag = f"{event.get('type')}/{content.get('rev')}/{content.get('part', '-')}"
                if tag in seen:
                    continue
                seen.add(tag)
                resent = PrivateEvent(str(event.get("type")), dict(content))
                await send_private(self.host, view.room_id, resent, key(self.name, "resend", want_id, tag))
        log.info("herald: resent the private events another herald asked for")


def _is_head(event: dict[str, Any], run_id: str) -> bool:
    """The run's plan event (template, action time), whatever its revision."""
    content = event.get("content") or {}
    return event.get("type") == "org.affinity.herald.plan" and content.get("run") == run_id
