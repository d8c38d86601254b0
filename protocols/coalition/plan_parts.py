"""Sharing a plan among heralds: split into encrypted timeline parts, reassembled and verified.

Any herald may have to send any message of a run (that is the point of having several), so every
herald needs the run's rendered texts, not just its hash. The herald that starts or amends a run
sends the whole plan into the control room as ``org.affinity.herald.plan_part`` timeline events,
which the runtime encrypts; state only ever carries the plan hash.

- A plan does not fit in one event (200 rooms x 5 phases of rendered text), and Matrix refuses
  events over 65,536 bytes *after* Megolm encryption, which base64-encodes the payload (x4/3), so
  each part carries at most :data:`PART_BUDGET_BYTES` of plaintext.
- A herald believes a reassembled plan only if it hashes to the registry's plan hash for that
  run and revision (:func:`assemble_plan`). A part from someone who is not a herald is ignored
  before that, so a forged part cannot even make a genuine plan fail to assemble.
- A herald that restarts, or joins later, asks the others to resend the parts (the runtime's job);
  the parts are deterministic for a given plan, so resending never creates a different plan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocols.coalition.delivery import DeliveryKey, PlannedKey, escalated_phase
from protocols.coalition.planhash import (
    MessageLike,
    VerifiedPlan,
    plan_hash,
    verify_plan,
)
from protocols.coalition.registry import PLAN_PART
from protocols.coalition.reveal import PrivateEvent
from protocols.coalition.shapes import (
    datetime_to_ms,
    event_envelope,
    is_count,
    is_hex_hash,
    is_phase_key,
    is_room_id,
    is_run_id,
    ms_to_datetime,
)

# 65,536 bytes per event; Megolm ciphertext is base64 (x4/3) plus its envelope and signatures.
PART_BUDGET_BYTES = 40_000
MAX_PARTS = 1000


@dataclass(frozen=True)
class SharedMessage:
    """One rendered message of a shared plan (fits ``planhash.MessageLike``)."""

    room_id: str
    phase_key: str
    due_at: datetime
    body: str
    html: str
    # When the room's acknowledgement is due (None: none needed). Not hashed: it changes no
    # copy, and a herald uses it only for its own board and reminders.
    ack_by: datetime | None = None


@dataclass(frozen=True)
class SharedPlan:
    """A plan reassembled from parts whose hash matched the registry's."""

    run_id: str
    rev: int
    salt: bytes
    verified: VerifiedPlan
    messages: tuple[SharedMessage, ...]

    @property
    def plan_hash(self) -> str:
        return self.verified.plan_hash

    def planned_keys(self) -> list[PlannedKey]:
        """What the delivery rule needs: each key, when it is due, the digest its copies need.

        An escalation (``esc<n>-<phase>``) is planned in the room that owes the acknowledgement,
        and is moot once that room acknowledged the phase.
        """
        by_key = {(e.room_id, e.key): e.digest for e in self.verified.entries}
        out = []
        for m in self.messages:
            chased = escalated_phase(m.phase_key)
            out.append(
                PlannedKey(
                    DeliveryKey(self.run_id, m.phase_key, m.room_id),
                    m.due_at,
                    by_key[(m.room_id, m.phase_key)],
                    unless_acked=None if chased is None else (m.room_id, chased),
                )
            )
        return out


def _row(message: MessageLike) -> list[Any]:
    ack_by = getattr(message, "ack_by", None)
    row = [message.room_id, message.phase_key, datetime_to_ms(message.due_at), message.body, message.html]
    return row if not isinstance(ack_by, datetime) else [*row, datetime_to_ms(ack_by)]


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def plan_parts(run_id: str, rev: int, messages: Iterable[MessageLike], salt: bytes) -> list[PrivateEvent]:
    """The timeline events that carry a plan to the other heralds (to be sent encrypted).

    Deterministic: the same plan always gives the same parts, in entry order.
    """
    ordered = sorted(messages, key=lambda m: (m.room_id, m.phase_key))
    digest = plan_hash(run_id, ordered, salt)  # validates ids, duplicates and the salt
    if not is_count(rev):
        raise ValueError("a revision is a count")
    head: dict[str, Any] = {
        "run": run_id,
        "rev": rev,
        "plan_hash": digest,
        "salt": salt.hex(),
        "part": MAX_PARTS,
        "parts": MAX_PARTS,
        "messages": [],
    }
    overhead = _size(head)
    chunks: list[list[list[Any]]] = [[]]
    used = overhead
    for message in ordered:
        row = _row(message)
        size = _size(row) + 1
        if overhead + size > PART_BUDGET_BYTES:
            raise ValueError(f"the message {message.phase_key} for {message.room_id} is too long to share")
        if used + size > PART_BUDGET_BYTES and chunks[-1]:
            chunks.append([])
            used = overhead
        chunks[-1].append(row)
        used += size
    if len(chunks) > MAX_PARTS:
        raise ValueError("this plan is too large to share")
    return [
        PrivateEvent(PLAN_PART, {**head, "part": index, "parts": len(chunks), "messages": rows})
        for index, rows in enumerate(chunks)
    ]


@dataclass(frozen=True)
class _Part:
    run_id: str
    rev: int
    plan_hash: str
    salt: str
    index: int
    count: int
    rows: tuple[SharedMessage, ...]
    order: tuple[int, str]


def _parse_part(event: Any, registered: frozenset[str]) -> _Part | None:
    envelope = event_envelope(event)
    if envelope is None or event.get("state_key") is not None:
        return None
    kind, sender, event_id, ts, content = envelope
    if kind != PLAN_PART or sender not in registered:
        return None
    run_id, rev, digest, salt = (
        content.get("run"),
        content.get("rev"),
        content.get("plan_hash"),
        content.get("salt"),
    )
    index, count, rows = content.get("part"), content.get("parts"), content.get("messages")
    if not (is_run_id(run_id) and is_count(rev) and is_hex_hash(digest) and isinstance(salt, str)):
        return None
    if not (is_count(index) and is_count(count) and isinstance(rows, list)):
        return None
    assert isinstance(index, int) and isinstance(count, int)
    if not 0 <= index < count <= MAX_PARTS:
        return None
    try:
        bytes.fromhex(salt)
    except ValueError:
        return None
    messages: list[SharedMessage] = []
    for row in rows:
        if not (isinstance(row, list) and len(row) in (5, 6)):
            return None
        room_id, key, due_ms, body, html = row[:5]
        ack_ms = row[5] if len(row) == 6 else None
        if not (is_room_id(room_id) and is_phase_key(key) and is_count(due_ms)):
            return None
        if not (isinstance(body, str) and isinstance(html, str)):
            return None
        if ack_ms is not None and not is_count(ack_ms):
            return None
        ack_by = None if ack_ms is None else ms_to_datetime(ack_ms)
        messages.append(SharedMessage(room_id, key, ms_to_datetime(due_ms), body, html, ack_by))
    assert isinstance(run_id, str) and isinstance(rev, int) and isinstance(digest, str)
    return _Part(run_id, rev, digest, salt, index, count, tuple(messages), (ts, event_id))


def assemble_plan(
    events: Iterable[Any], *, run_id: str, rev: int, expected_hash: str, registered: Iterable[str]
) -> SharedPlan | None:
    """The plan of ``run_id`` at ``rev`` if its parts (from registered heralds) are all here and
    hash to ``expected_hash`` (the registry's); None otherwise: wait for more parts or ask."""
    senders = frozenset(registered)
    parts: dict[tuple[str, int], dict[int, _Part]] = {}
    for event in events:
        part = _parse_part(event, senders)
        if part is None or part.run_id != run_id or part.rev != rev or part.plan_hash != expected_hash:
            continue
        slot = parts.setdefault((part.salt, part.count), {})
        held = slot.get(part.index)
        if held is None or part.order < held.order:
            slot[part.index] = part
    for (salt_hex, count), slot in sorted(parts.items()):
        if len(slot) != count:
            continue
        messages = tuple(m for index in range(count) for m in slot[index].rows)
        salt = bytes.fromhex(salt_hex)
        verified = verify_plan(run_id, messages, salt, expected_hash)
        if verified is not None:
            return SharedPlan(run_id, rev, salt, verified, messages)
    return None
