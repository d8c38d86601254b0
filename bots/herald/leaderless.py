"""Leaderless delivery for a coalition with a control room: "the message is its own lock".

Every herald joined to a member room may send each of a run's messages there. For each key
(run, phase, room) the heralds are ranked by rendezvous hashing (``protocols.coalition.delivery``);
rank r sends at T + r x G unless it already sees the key delivered in the room by a registered
herald with the plan's digest. Liveness (heartbeats in the control room, timed on this herald's
clock) only shortens the wait for heralds believed dead; it never stops a send. Each send carries
a marker ``{run, key, rev}`` and goes through the outbox under the plan's stable transaction id.

This module is the one place that turns the pure decision into sends: :meth:`deliver_due` (the
due jobs and every confirm, amendment or cancellation call it) and :meth:`lead`, which looks at
the run again until nothing is pending. The day of action (issue 16) hooks in here: a slot or a
decline is another reason not to plan a key, never a reason to skip a decided send.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bots.herald.base import log
from bots.herald.control_room import q
from bots.herald.delivery import is_stand_down, is_urgent
from bots.herald.heralds import HeraldCommands
from bots.herald.heralds_live import Heartbeats
from bots.herald.invitations import SharedInvitations
from bots.herald.render import planned
from bots.herald.room_check import RoomView, patience_left, room_view
from bots.runtime.context import notice
from bots.runtime.errors import MatrixError
from bots.runtime.fan_out import RawPost
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from protocols.coalition.delivery import (
    MARKER,
    Action,
    Decision,
    DeliveryKey,
    HeraldView,
    PlannedKey,
    SeenCopy,
    copy_marker,
    decide_all,
    herald_view,
    next_wake,
    redactions,
)
from protocols.coalition.liveness import HeartbeatBook
from protocols.coalition.planhash import message_digest
from storage.herald import Delivery, Run
from storage.herald_control import StoredCopy

LAG_PATIENCE = 3  # staggers a key waits at most for this herald's sync to catch up
# How long a herald whose homeserver was away holds the sends others may have beaten, from the
# server's return (at least; three staggers if longer): Synapse wakes the destinations that need
# a catch-up about once a minute, and the copies sent meanwhile came 60 to 70 s after the
# server's return in the fault test.
CATCH_UP_PATIENCE = timedelta(seconds=150)


def lead_job_id(run_id: str) -> str:
    return f"lead-{run_id}"


def copy_content(d: Delivery, rev: int) -> dict[str, Any]:
    """A planned message as a herald sends it: the planned text, exactly (a :class:`Message`
    rendered by the plan, which every herald recomputes), and the marker."""
    message = planned(d.body, d.html)
    content = notice(message.plain, message.html or None, mentions=message.mentions)
    content[MARKER] = copy_marker(DeliveryKey(d.run_id, d.phase_key, d.room_id), rev)
    return content


def digest_of(d: Delivery) -> str:
    return message_digest(d.body, d.html or None)


class LeaderlessDelivery(Heartbeats, HeraldCommands, SharedInvitations):
    """Delivery by whichever herald's turn comes first, for coalitions with a control room."""

    async def deliver_due(self, run_id: str) -> int:
        run = await self.runs.get(run_id)
        view = self.view_of(run.coalition) if run is not None else None
        if run is None or view is None:
            return await super().deliver_due(run_id)
        return await self.lead(run)

    async def lead(self, run: Run) -> int:
        """Decide every pending key of the run now; send what is this herald's turn; look again
        at the earliest turn still ahead. Returns how many messages were handed to the outbox."""
        view = self.view_of(run.coalition)
        if view is None:
            return 0
        now = self.host.clock()
        members = {m.room_id for m in await self.coalitions.members(run.coalition)}
        deliveries = await self.runs.deliveries(run.run_id)
        pending = [d for d in deliveries if d.state == "pending" and d.room_id in members]
        horizon = now + self.config.stagger * (len(view.registry.live_heralds) + 1)
        soon = [d for d in pending if d.due_at <= horizon]
        for d in soon:
            too_late = not is_urgent(d.phase_key) and now - d.due_at > self.config.late_grace
            if too_late and await self.host.delivery(d.txn_id) is None:
                await self.runs.skip(d.txn_id)
                log.info("herald: a phase fell due too long ago and was not sent")
        soon = [
            d for d in soon if not (not is_urgent(d.phase_key) and now - d.due_at > self.config.late_grace)
        ]
        shared = await self.control.shared_rev(run.run_id)
        rev = shared[0] if shared is not None else 1
        copies = [_seen(c) for c in await self.control.copies(run.run_id)]
        joined = {room: await self.joined_cached(room) for room in {d.room_id for d in soon}}
        hv = herald_view(
            view.registry,
            view.heartbeats,
            me=str(self.host.user_id),
            now=now,
            joined=joined,
            copies=copies,
            staleness=self.config.staleness,
            stagger=self.config.stagger,
        )
        by_key = {DeliveryKey(d.run_id, d.phase_key, d.room_id): d for d in soon}
        since = max(self.known_since(run.run_id), self._suspect_until(hv.alive, view.heartbeats, now))
        planned_keys = [PlannedKey(k, max(d.due_at, since), digest_of(d)) for k, d in by_key.items()]
        decisions = decide_all(hv, planned_keys)
        behind = await self._lagging_rooms(decisions, by_key, hv, now, view.registry.live_heralds)
        if any(d.action is Action.SEND for d in decisions):
            # Copies the sync handed over while the rooms were read count now.
            copies = [_seen(c) for c in await self.control.copies(run.run_id)]
            hv = replace(hv, copies=tuple(copies))
            decisions = decide_all(hv, planned_keys)
        copies_out: list[tuple[Delivery, dict[str, Any]]] = []
        for decision in decisions:
            d = by_key[decision.key]
            if decision.action is Action.SEND and d.room_id in behind:
                continue  # looked at again within a poll (``soon`` keeps the wake-up near)
            if decision.action is Action.SEND:
                if await self.host.delivery(d.txn_id) is not None:
                    continue  # already handed to the outbox: its follower records the outcome
                self.__dict__.get("_lag_waits", {}).pop(d.txn_id, None)
                copies_out.append((d, copy_content(d, rev)))
            elif decision.action is Action.HOLD and decision.canonical is not None:
                await self.runs.mark_sent(d.txn_id, decision.canonical.event_id, now)
            elif decision.action is Action.HOLD:
                await self.runs.skip(d.txn_id)
        if copies_out:  # this turn's copies in one transaction
            await self.host.post_many(
                [
                    RawPost(RoomID(d.room_id), content, d.txn_id, urgent=is_stand_down(d.phase_key))
                    for d, content in copies_out
                ]
            )
            for d, content in copies_out:
                self.spawn(self._follow_copy(d, content))
        sent = len(copies_out)
        counts = {a: sum(1 for d in decisions if d.action is a) for a in Action}
        log.log(
            logging.INFO if counts[Action.SEND] or counts[Action.HOLD] else logging.DEBUG,
            "herald: leaderless turn: %d to send, %d held back, %d waiting, %d not mine",
            counts[Action.SEND],
            counts[Action.HOLD],
            counts[Action.WAIT],
            counts[Action.NOT_MINE],
        )
        await self._redact_own_duplicates(run, hv, deliveries, copies)
        wake = next_wake(decisions)
        if soon:
            # Look again soon while a key is near: a copy, a heartbeat or a death changes the
            # decision, and this is where it is read again.
            wake = now + self._poll if wake is None else min(max(wake, now), now + self._poll)
        elif pending:
            span = horizon - now
            wake = max(now, min(d.due_at for d in pending) - span)
        if wake is not None:
            self.host.schedule.at(lead_job_id(run.run_id), wake, self.deliver_due, run.run_id)
        else:
            self.host.schedule.cancel(lead_job_id(run.run_id))
            await self._after_batch(run.run_id)
        return sent

    async def _lagging_rooms(
        self,
        decisions: list[Decision],
        by_key: dict[DeliveryKey, Delivery],
        hv: HeraldView,
        now: datetime,
        heralds: frozenset[str],
    ) -> set[str]:
        """The rooms of this turn's sends where this herald's sync lags its homeserver
        (:mod:`bots.herald.room_check`), checked for every send another herald may have beaten:
        one with a herald ahead of it, or one whose turn came more than a poll ago.

        Not only when the herald has reason to doubt its view: the redundancy benchmark found
        most second copies sent while the first had been on the sender's own homeserver for
        seconds, its sync not yet delivering it (a loaded homeserver). The wait is bounded by
        the patience, so a room that never shows the copy still gets one (never silenced).

        After an outage of its own homeserver the rooms there may not hold the others' copies yet:
        they come by federation catch-up, which Synapse starts for a returning server about once
        a minute (68 s in the fault test), and nothing a client can read says it is done (the
        others' beats may arrive first, relayed by a third server). So such a send waits for the
        catch-up patience from the return, then looks at the room as usual."""
        waiting: dict[str, datetime] = self.__dict__.setdefault("_lag_waits", {})
        me = str(self.host.user_id)
        behind: set[str] = set()
        catching_up = self._catching_up(heralds - {me}, now)
        # A herald in doubt of its own view (its beat has not come back) checks every room: its
        # homeserver may be away, and a copy queued now would go out unseen when it is back.
        in_doubt = self.doubt.in_doubt
        checked: dict[str, RoomView] = {}
        for decision in decisions:
            if decision.action is not Action.SEND or decision.at is None:
                continue
            d = by_key[decision.key]
            if catching_up:
                # Even a turn that looks first and on time: to a server that has not caught up,
                # the heralds ahead look dead (their beats have not arrived either).
                behind.add(d.room_id)
                continue
            if decision.rank == 0 and now - decision.at <= self._poll and not in_doubt:
                continue  # first in turn, on time: nobody was due before it
            if d.room_id not in checked:
                others = (hv.joined.get(d.room_id, frozenset()) & hv.registered) - {me}
                if in_doubt and not others:  # who is joined could not be read: ask anyway
                    others = hv.registered - {me}
                since = d.due_at - self.config.stagger
                checked[d.room_id] = await room_view(self.host, d.room_id, others, since, self.seen_events)
            seen = checked[d.room_id]
            if seen is RoomView.AWAY:
                waiting.pop(d.txn_id, None)  # the patience starts when the homeserver is back
                behind.add(d.room_id)
            elif seen is not RoomView.COMPLETE and patience_left(waiting, d.txn_id, now, self._patience):
                behind.add(d.room_id)  # else waited a stagger already: send (never silenced)
        if behind:
            log.info("herald: %d rooms show copies this herald's sync has not delivered yet", len(behind))
        return behind

    def _catching_up(self, others: frozenset[str], now: datetime) -> bool:
        """Whether this herald's homeserver is away (a heartbeat could not be written: it did not
        answer) or came back less than the catch-up patience ago, with other heralds about."""
        if not others:
            return False
        if self.doubt.write_failed is not None:
            return True  # away, or back but not yet seen back by a beat (its hold starts then)
        back = self.doubt.server_back_at
        if back is None or now - back >= max(self._patience, CATCH_UP_PATIENCE):
            return False
        log.info("herald: its homeserver is back from an outage; waiting for it to catch up")
        return True

    def _suspect_until(self, alive: frozenset[str], book: HeartbeatBook, now: datetime) -> datetime:
        """A herald that does not see its own heartbeat come back (stopped, its sync stalled, its
        homeserver away) holds its turns until one stagger after it sees itself again: its
        homeserver and its sync then catch up with what the others delivered meanwhile (after a
        SIGSTOP or an outage it would otherwise resend it). Never longer (it must not be
        silenced): a herald that stays suspect sends one stagger after it first noticed.

        "Sees itself again" means a beat of its own that arrived after it became suspect: the
        beat from before a failed write still looks fresh for a while, and taking that for a
        return would start the catching up while the homeserver is still away."""
        me = str(self.host.user_id)
        doubt = self.doubt
        suspect = doubt.suspect_since
        own = book.beats.get(me)
        seen_again = me in alive and (suspect is None or (own is not None and own[1] > suspect))
        if not seen_again:
            if suspect is None:
                doubt.suspect_since = suspect = now
            return suspect + self.config.stagger
        if suspect is not None:  # back: give the catching up its stagger from now
            doubt.suspect_since = None
            doubt.back_at = now
        back = doubt.back_at
        return back + self.config.stagger if back is not None else now - self.config.stagger

    @property
    def _patience(self) -> timedelta:
        """How long a key may wait for a lagging sync: a room that shows another herald's recent
        event has a herald at work in it, and a sync that failed while its homeserver was away
        may take a minute to try again."""
        return self.config.stagger * LAG_PATIENCE

    @property
    def _poll(self) -> timedelta:
        return min(self.config.stagger / 3, self.config.heartbeat)

    async def _follow_copy(self, d: Delivery, content: dict[str, Any]) -> None:
        """Wait for the outbox's verdict on one copy; record it, and keep it as a seen copy with
        the homeserver's own timestamp (the canonical copy is chosen by it, the same everywhere)."""
        room = RoomID(d.room_id)
        while True:
            try:
                event_id = await self.host.send_event(
                    room, "m.room.message", content, d.txn_id, wait=True, urgent=is_stand_down(d.phase_key)
                )
                break
            except TimeoutError:
                continue  # the homeserver is away; the outbox keeps trying, so do we
        if event_id is None:
            outcome = await self.host.delivery(d.txn_id)
            await self.runs.mark_failed(d.txn_id, (outcome.error if outcome else None) or "refused")
            return
        await self.runs.mark_sent(d.txn_id, event_id, self.host.clock())
        try:
            found = await self.host.api("GET", f"/_matrix/client/v3/rooms/{q(d.room_id)}/event/{q(event_id)}")
            ts = int(found["origin_server_ts"])
        except (MatrixError, KeyError, TypeError, ValueError):
            return  # seen again through the others' copies; never guessed
        me = str(self.host.user_id)
        await self.control.add_copy(
            StoredCopy(d.run_id, d.phase_key, d.room_id, me, event_id, ts, digest_of(d))
        )

    async def _redact_own_duplicates(
        self, run: Run, hv: Any, deliveries: list[Delivery], copies: list[SeenCopy]
    ) -> None:
        """Copies of this herald that lost to an earlier one (a partition, a race): redacted, so
        every room keeps the one copy all heralds agree on."""
        sent_keys = [
            PlannedKey(DeliveryKey(d.run_id, d.phase_key, d.room_id), d.due_at, digest_of(d))
            for d in deliveries
            if d.state == "sent"
        ]
        rooms = {c.event_id: c.key.room_id for c in copies}
        for event_id in redactions(hv, sent_keys):
            room = rooms.get(event_id)
            if room is not None:
                await self.host.redact(
                    RoomID(room), EventID(event_id), key(self.name, "dup", event_id), "duplicate"
                )

    async def seen_copy(self, room_id: str, event: dict[str, Any]) -> None:
        """A run's message seen in a member room (from the sync): kept, and the run looked at."""
        from protocols.coalition.delivery import parse_copy

        copy = parse_copy(event, room_id)
        if copy is None:
            return
        view = self.view_for_room(room_id)
        if view is None or copy.sender not in view.registry.admitted:
            return  # a room member imitating a herald proves nothing
        await self.control.add_copy(_stored(copy))
        run = await self.runs.get(copy.key.run_id)
        if run is not None and run.state in ("confirmed", "cancelled"):
            self.host.schedule.at(lead_job_id(run.run_id), self.host.clock(), self.deliver_due, run.run_id)


def _seen(c: StoredCopy) -> SeenCopy:
    return SeenCopy(DeliveryKey(c.run_id, c.phase, c.room_id), c.sender, c.event_id, c.origin_ts, c.digest)


def _stored(c: SeenCopy) -> StoredCopy:
    return StoredCopy(
        c.key.run_id, c.key.key, c.key.room_id, c.sender, c.event_id, c.origin_server_ts, c.digest
    )


__all__ = ["LeaderlessDelivery", "datetime"]
