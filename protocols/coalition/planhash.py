"""The plan hash: one digest that pins every message of a run, so any herald can check a copy.

Each herald may send any message of a run, and each holds back only when it sees the message
already delivered *as the plan says*. "As the plan says" must not be taken on the word of the
sender (a broken or hostile herald could post the right key with the wrong text and silence the
others), so:

- every planned message has a :func:`message_digest` of exactly what a room shows (``body`` and
  ``formatted_body``), computed by the reader from the copy it sees, never read from a claim;
- a run revision's :func:`plan_hash` covers every ``(room, key, due time, digest)`` of the run in
  a canonical encoding (sorted, fixed JSON form, domain-separated), together with the run id and
  a salt. The hash goes into control-room state; the plan (and its salt) goes only into the
  encrypted timeline. The salt, drawn from entropy the runtime passes in, stops a reader of state
  from confirming a guess of the texts or times by hashing candidates.

A herald that receives a plan recomputes its hash and refuses the plan unless it equals the hash
in the registry (:func:`verify_plan`); from then on it compares copies with the plan's digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from protocols.coalition.shapes import datetime_to_ms, is_phase_key, is_room_id, is_run_id

_MESSAGE_DOMAIN = "org.affinity.herald.message/1"
_PLAN_DOMAIN = "org.affinity.herald.plan/1"
MIN_SALT_BYTES = 16


class MessageLike(Protocol):
    """What the hash needs of a planned message (``protocols.herald.plan.PlannedMessage`` fits)."""

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


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def message_digest(body: str, formatted_body: str | None) -> str:
    """The digest of what a room shows: both the plain and the HTML form, exactly as sent.

    Both count, because a client shows ``formatted_body`` when there is one: a copy with the
    right ``body`` and a different HTML would read differently in Element.
    """
    # An empty HTML body is no HTML body: clients fall back to ``body`` either way.
    return hashlib.sha256(_canonical([_MESSAGE_DOMAIN, body, formatted_body or None])).hexdigest()


@dataclass(frozen=True, order=True)
class PlanEntry:
    """One message of a plan as the hash sees it; ordered by room, then key."""

    room_id: str
    key: str
    due_at_ms: int
    digest: str


def entry_for(message: MessageLike) -> PlanEntry:
    return PlanEntry(
        room_id=message.room_id,
        key=message.phase_key,
        due_at_ms=datetime_to_ms(message.due_at),
        digest=message_digest(message.body, message.html),
    )


def plan_entries(messages: Iterable[MessageLike | PlanEntry]) -> tuple[PlanEntry, ...]:
    """The canonical entries of a plan: sorted, each ``(room, key)`` once, every id well formed."""
    entries = sorted(m if isinstance(m, PlanEntry) else entry_for(m) for m in messages)
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if not is_room_id(entry.room_id) or not is_phase_key(entry.key):
            raise ValueError(f"plan entry with a malformed room or key: {entry.room_id!r}, {entry.key!r}")
        if (entry.room_id, entry.key) in seen:
            raise ValueError(f"the plan lists {entry.key} for {entry.room_id} twice")
        seen.add((entry.room_id, entry.key))
    return tuple(entries)


def plan_hash(run_id: str, messages: Iterable[MessageLike | PlanEntry], salt: bytes) -> str:
    """The hash of a run revision's messages (hex sha256). Independent of the order given."""
    if not is_run_id(run_id):
        raise ValueError(f"run id {run_id!r} is malformed")
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the plan salt needs at least {MIN_SALT_BYTES} bytes of entropy")
    rows = [[e.room_id, e.key, e.due_at_ms, e.digest] for e in plan_entries(messages)]
    return hashlib.sha256(_canonical([_PLAN_DOMAIN, run_id, salt.hex(), rows])).hexdigest()


@dataclass(frozen=True)
class VerifiedPlan:
    """A plan whose hash matched the registry's: the digests a herald compares copies with."""

    run_id: str
    plan_hash: str
    entries: tuple[PlanEntry, ...]

    @property
    def digests(self) -> Mapping[tuple[str, str], str]:
        return {(e.room_id, e.key): e.digest for e in self.entries}

    def expected_digest(self, room_id: str, key: str) -> str | None:
        return self.digests.get((room_id, key))


def verify_plan(
    run_id: str, messages: Iterable[MessageLike | PlanEntry], salt: bytes, expected_hash: str
) -> VerifiedPlan | None:
    """The plan if it hashes to ``expected_hash`` (the registry's current revision), else None.

    None means "do not act on this plan": it was altered, belongs to another revision, or the
    salt is wrong. A herald without a verified plan neither sends nor holds back on its account.
    """
    try:
        entries = plan_entries(messages)
        actual = plan_hash(run_id, entries, salt)
    except ValueError:
        return None
    if actual != expected_hash:
        return None
    return VerifiedPlan(run_id, actual, entries)
