"""Moving a single-herald coalition into a control room without losing a run, a delivery or an ack.

Before issue 12 one bot held a coalition in its SQLite. On upgrade that bot creates the control
room (it is its creator, hence its first herald) and writes what it knows there. This module
decides *what* to write, from the bot's own records, so the runtime only has to send it:

- state: its instance, the coordination room, each member room, each run's revision, plan hash
  and cancellation, and its acknowledgement set;
- private (encrypted timeline): each run's template and action time, its plan in parts (so other
  heralds can send its messages), and each member room's liaison;
- its own copies: every message it already delivered, as the delivery rule's "seen" input, so
  neither it nor a later herald sends those again.

Runs that were only planned (never confirmed) reached no room and stay local: they are drafts.
The legacy amendments and stand-down are folded into one revision ``1 + amendments (+1 if
cancelled)``, hashed over all the run's messages; earlier revisions cannot be rebuilt and are
not claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from protocols.coalition.delivery import DeliveryKey, SeenCopy
from protocols.coalition.plan_parts import plan_parts
from protocols.coalition.planhash import message_digest, plan_hash
from protocols.coalition.reveal import (
    PrivateEvent,
    StateWrite,
    acks_state,
    cancel_state,
    coordination_state,
    instance_state,
    liaison_event,
    member_room_state,
    plan_event,
    run_state,
)
from protocols.coalition.shapes import datetime_to_ms


class LegacyMember(Protocol):
    """A member room as the single-herald storage has it (``storage.herald.Member``)."""

    @property
    def room_id(self) -> str: ...
    @property
    def homeserver(self) -> str: ...
    @property
    def liaison(self) -> str | None: ...


class LegacyRun(Protocol):
    """A run as the single-herald storage has it (``storage.herald.Run``)."""

    @property
    def run_id(self) -> str: ...
    @property
    def template(self) -> str: ...
    @property
    def action_at(self) -> datetime: ...
    @property
    def state(self) -> str: ...


class LegacyDelivery(Protocol):
    """A planned message and its fate (``storage.herald.Delivery``)."""

    @property
    def room_id(self) -> str: ...
    @property
    def phase_key(self) -> str: ...
    @property
    def due_at(self) -> datetime: ...
    @property
    def body(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def event_id(self) -> str | None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def acked_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class Upgrade:
    state: tuple[StateWrite, ...]
    private: tuple[PrivateEvent, ...]
    own_copies: tuple[SeenCopy, ...]


def upgrade_single_herald(
    me: str,
    coordination_room: str,
    members: Iterable[LegacyMember],
    runs: Iterable[LegacyRun],
    deliveries: Mapping[str, Sequence[LegacyDelivery]],
    amendments: Mapping[str, int],
    salts: Mapping[str, bytes],
) -> Upgrade:
    """Everything to write into a new control room for one legacy coalition.

    ``deliveries`` and ``amendments`` (the count) are by run id; ``salts`` holds fresh entropy
    per run (at least 16 bytes), drawn by the runtime. Raises ``ValueError`` or ``RevealError``
    on records that cannot be represented, before anything is written.
    """
    state: list[StateWrite] = [instance_state(me), coordination_state(coordination_room)]
    private: list[PrivateEvent] = []
    copies: list[SeenCopy] = []
    acked: dict[str, set[tuple[str, str]]] = {}
    for member in sorted(members, key=lambda m: m.room_id):
        state.append(member_room_state(member.room_id, member.homeserver))
        if member.liaison:
            private.append(liaison_event(member.room_id, member.liaison))
    for run in sorted(runs, key=lambda r: r.run_id):
        if run.state == "planned":
            continue
        messages = list(deliveries.get(run.run_id, ()))
        cancelled = run.state == "cancelled"
        rev = 1 + amendments.get(run.run_id, 0) + (1 if cancelled else 0)
        salt = salts.get(run.run_id)
        if salt is None:
            raise ValueError(f"no salt was drawn for run {run.run_id}")
        digest = plan_hash(run.run_id, messages, salt)
        state.append(run_state(run.run_id, rev=rev, plan_hash=digest, cancelled=cancelled))
        if cancelled:
            state.append(cancel_state(run.run_id))
        private.append(
            plan_event(
                run.run_id, template=run.template, action_time=run.action_at, plan_hash=digest, rev=rev
            )
        )
        private += plan_parts(run.run_id, rev, messages, salt)
        for d in messages:
            if d.acked_at is not None:
                acked.setdefault(run.run_id, set()).add((d.room_id, d.phase_key))
            if d.state == "sent" and d.event_id:
                sent = d.sent_at or d.due_at
                copies.append(
                    SeenCopy(
                        DeliveryKey(run.run_id, d.phase_key, d.room_id),
                        me,
                        d.event_id,
                        datetime_to_ms(sent),
                        message_digest(d.body, d.html),
                    )
                )
    if acked:
        state.append(acks_state(me, acked))
    return Upgrade(tuple(state), tuple(private), tuple(copies))
