"""The acknowledgement board (rooms x phases) and the escalation of missed acknowledgements.

The board's squares are facts (:class:`Cell`); ``bots/herald/render.py`` says them, one line
per room (Element X shows no tables).

Both read the run's deliveries as stored (any object with the attributes of
:class:`DeliveryView`), plus ``now``. Escalation is a two-step ladder: at the deadline the room's
liaison gets a direct message; half an acknowledgement window later, if still silent, the
coordination room gets a note. Each step is returned once: the caller records the step it took,
and a step at or below the recorded one is never returned again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from protocols.herald.templates import ESCALATION_ACTIONS, ProtocolTemplate, format_offset


class DeliveryLike(Protocol):
    @property
    def txn_id(self) -> str: ...
    @property
    def room_id(self) -> str: ...
    @property
    def phase_key(self) -> str: ...
    @property
    def state(self) -> str: ...  # pending | sent | failed | cancelled
    @property
    def due_at(self) -> datetime: ...
    @property
    def ack_by(self) -> datetime | None: ...
    @property
    def acked_at(self) -> datetime | None: ...
    @property
    def escalation_step(self) -> int: ...


@dataclass(frozen=True)
class DeliveryView:
    """A delivery as the board and escalation need it (storage rows have the same fields)."""

    txn_id: str
    room_id: str
    phase_key: str
    state: str
    due_at: datetime
    ack_by: datetime | None = None
    acked_at: datetime | None = None
    escalation_step: int = 0


class Cell(Enum):
    """What one (room, phase) square of the board shows."""

    ACKED = ("✅", "acked")
    PENDING = ("⏳", "waiting for ack")
    MISSED = ("⚠️", "ack missed")
    NOT_SENT = ("✉️", "not sent")
    FAILED = ("❌", "delivery failed")
    SENT = ("📬", "sent, no ack needed")
    NONE = ("·", "not part of this run")

    @property
    def symbol(self) -> str:
        return self.value[0]

    @property
    def label(self) -> str:
        return self.value[1]


def cell_status(delivery: DeliveryLike, now: datetime) -> Cell:
    if delivery.state == "failed":
        return Cell.FAILED
    if delivery.state != "sent":
        return Cell.NOT_SENT
    if delivery.acked_at is not None:
        return Cell.ACKED
    if delivery.ack_by is None:
        return Cell.SENT
    return Cell.MISSED if now > delivery.ack_by else Cell.PENDING


def board_columns(template: ProtocolTemplate, deliveries: Sequence[DeliveryLike]) -> list[tuple[str, str]]:
    """``(key, heading)`` for each column: the template's phases, then amendments and stand-down."""
    columns = [(p.key, f"{p.key} {format_offset(p.offset)}") for p in template.phases]
    known = {key for key, _ in columns}
    extra: dict[str, datetime] = {}
    for d in deliveries:
        if d.phase_key not in known:
            extra[d.phase_key] = min(d.due_at, extra.get(d.phase_key, d.due_at))
    for key in sorted(extra, key=lambda k: (extra[k], k)):
        columns.append((key, key))
    return columns


# --- escalation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """Step ``step`` (1-based) of the ladder for one silent room: ``action`` says whom to tell."""

    txn_id: str
    room_id: str
    phase_key: str
    step: int
    action: str  # "liaison" (DM the room's liaison) | "coordination" (note in the coordination room)
    due_at: datetime


def escalation_times(delivery: DeliveryLike, steps: int) -> list[datetime]:
    """When each step falls due: the deadline, then every half acknowledgement window after it."""
    if delivery.ack_by is None:
        return []
    window = delivery.ack_by - delivery.due_at
    return [delivery.ack_by + (window / 2) * index for index in range(steps)]


def escalations_due(
    template: ProtocolTemplate,
    deliveries: Sequence[DeliveryLike],
    now: datetime,
    *,
    run_cancelled: bool = False,
) -> list[Escalation]:
    """Every escalation step that is due and was not taken yet, in the order to take them.

    Only delivered, unacknowledged messages with a deadline escalate (a failed delivery is the
    outbox's problem, not the room's silence). Once a run is cancelled, only its stand-down
    still escalates: people must not turn up to a called-off action.
    """
    out: list[Escalation] = []
    for d in deliveries:
        if d.state != "sent" or d.acked_at is not None or d.ack_by is None:
            continue
        if run_cancelled and d.phase_key != "cancel":
            continue
        phase = template.phase(d.phase_key)
        actions = phase.ack.escalate if phase is not None else ESCALATION_ACTIONS
        for index, at in enumerate(escalation_times(d, len(actions))):
            step = index + 1
            if step > d.escalation_step and at <= now:
                out.append(Escalation(d.txn_id, d.room_id, d.phase_key, step, actions[index], at))
    out.sort(key=lambda e: (e.due_at, e.step, e.room_id, e.phase_key))
    return out


def next_escalation_at(
    template: ProtocolTemplate,
    deliveries: Sequence[DeliveryLike],
    *,
    run_cancelled: bool = False,
) -> datetime | None:
    """The earliest escalation instant not taken yet (to schedule one wake-up), or None."""
    times: list[datetime] = []
    for d in deliveries:
        if d.state != "sent" or d.acked_at is not None or d.ack_by is None:
            continue
        if run_cancelled and d.phase_key != "cancel":
            continue
        phase = template.phase(d.phase_key)
        actions = phase.ack.escalate if phase is not None else ESCALATION_ACTIONS
        times += escalation_times(d, len(actions))[d.escalation_step :]
    return min(times, default=None)
