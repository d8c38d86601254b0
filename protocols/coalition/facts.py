"""Reading control-room events into facts, and keeping one fact per register.

An event becomes zero or more :class:`Fact` s (``facts_from_event``); a register, named by
``(kind, key, sender)``, keeps one fact chosen by a total order fixed per kind (``_compact``).
Nothing here raises on hostile input: an event of the wrong shape gives no fact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from protocols.coalition.kinds import (
    ACKS,
    ADMISSION,
    CANCEL,
    COORDINATION,
    INSTANCE,
    LIAISON,
    MEMBER_ROOM,
    PLAN,
    RUN,
    STATE_KINDS,
    TIMELINE_KINDS,
    admission_state_key,
)
from protocols.coalition.shapes import (
    event_envelope,
    is_count,
    is_hex_hash,
    is_phase_key,
    is_room_id,
    is_run_id,
    is_server_name,
    is_template_name,
    is_user_id,
)

Key = tuple[str | int, ...]
Value = tuple[str | int | bool | None, ...]

# Registers where the first claim wins: a revision's canonical plan hash, a run's template and
# action time per revision, a cancellation, an acknowledgement. The rest keep the latest write.
_EARLIEST_WINS = frozenset({"claim", "template", "when", "cancel", "ack"})
_RUN_KINDS = frozenset({"claim", "template", "when", "cancel", "ack"})  # keyed by run id first


@dataclass(frozen=True)
class Fact:
    """One claim read from one event: ``kind`` and ``key`` name what it is about, ``value`` what
    it says. ``ts`` and ``event_id`` order claims; they come from the sender's server and may be
    forged, which only ever decides between claims of senders who count."""

    kind: str
    key: Key
    sender: str
    value: Value
    ts: int
    event_id: str

    @property
    def register(self) -> tuple[str, Key, str]:
        return (self.kind, self.key, self.sender)

    def order(self) -> tuple[Any, ...]:
        """A total order on facts (``repr`` of value and key, then the sender, break ties between
        forged twins, so no choice ever depends on the order facts arrived in: a run's plan hash
        sits in its key, so twins that differ only there must still be ordered)."""
        if self.kind == "admission":
            return (self.value, self.ts, self.event_id, repr(self.value), repr(self.key), self.sender)
        return (self.ts, self.event_id, repr(self.value), repr(self.key), self.sender)


def _winner(a: Fact, b: Fact) -> Fact:
    if a.kind in _EARLIEST_WINS:
        return a if a.order() <= b.order() else b
    return a if a.order() >= b.order() else b


def _compact(facts: Iterable[Fact]) -> frozenset[Fact]:
    best: dict[tuple[str, Key, str], Fact] = {}
    for fact in facts:
        held = best.get(fact.register)
        best[fact.register] = fact if held is None else _winner(held, fact)
    return frozenset(best.values())


# --- reading events ------------------------------------------------------------------------


def _bool(content: Mapping[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = content.get(name, default)
    return value if isinstance(value, bool) else None


def facts_from_event(event: Any) -> list[Fact]:
    """The facts one event states, or ``[]`` when its shape is wrong or its sender may not write
    that key. Never raises: hostile input is the normal case in a federated room."""
    envelope = event_envelope(event)
    if envelope is None:
        return []
    kind, sender, event_id, ts, content = envelope
    state_key = event.get("state_key")
    if kind in STATE_KINDS:
        if not isinstance(state_key, str):
            return []
        # Matrix's own rule, enforced again here: a key that starts with "@" belongs to that user.
        if state_key.startswith("@") and state_key != sender:
            return []
        facts = _state_facts(kind, state_key, sender, content)
    elif kind in TIMELINE_KINDS:
        if state_key is not None:  # a private kind sent as state: never believed
            return []
        facts = _timeline_facts(kind, sender, content)
    else:
        return []
    return [Fact(k, key, sender, value, ts, event_id) for k, key, value in facts]


_Raw = list[tuple[str, Key, Value]]


def _state_facts(kind: str, state_key: str, sender: str, content: Mapping[str, Any]) -> _Raw:
    if kind == INSTANCE:
        active = _bool(content, "active")
        if state_key != sender or active is None:
            return []
        return [("instance", (sender,), (active,))]
    if kind == ADMISSION:
        user_id = content.get("user_id")
        generation = content.get("generation", 0)
        retired = _bool(content, "retired", False)
        if not is_user_id(user_id) or not is_count(generation) or retired is None:
            return []
        assert isinstance(user_id, str) and isinstance(generation, int)
        if state_key != admission_state_key(user_id):
            return []
        return [("admission", (user_id,), (generation, retired))]
    if kind == COORDINATION:
        active = _bool(content, "active", True)
        if not is_room_id(state_key) or active is None:
            return []
        return [("coordination", (state_key,), (active,))]
    if kind == MEMBER_ROOM:
        homeserver = content.get("homeserver")
        active = _bool(content, "active", True)
        if not is_room_id(state_key) or not is_server_name(homeserver) or active is None:
            return []
        assert isinstance(homeserver, str)
        return [("room", (state_key,), (homeserver, active))]
    if kind == RUN:
        rev = content.get("rev")
        plan_hash = content.get("plan_hash")
        cancelled = _bool(content, "cancelled", False)
        if not is_run_id(state_key) or not is_count(rev) or not is_hex_hash(plan_hash):
            return []
        if cancelled is None:
            return []
        assert isinstance(rev, int) and isinstance(plan_hash, str)
        facts: _Raw = [("claim", (state_key, rev, plan_hash), ())]
        if cancelled:
            facts.append(("cancel", (state_key,), ()))
        return facts
    if kind == CANCEL:
        # Any content: a later overwrite (even an empty "deletion") cannot un-cancel a run.
        return [("cancel", (state_key,), ())] if is_run_id(state_key) else []
    if kind == ACKS:
        return _ack_facts(state_key, sender, content)
    return []  # HEARTBEAT: liveness is measured on the reader's clock, see liveness.py


def _ack_facts(state_key: str, sender: str, content: Mapping[str, Any]) -> _Raw:
    runs = content.get("runs")
    if state_key != sender or not isinstance(runs, dict):
        return []
    facts: _Raw = []
    for run_id, rooms in runs.items():
        if not is_run_id(run_id) or not isinstance(rooms, dict):
            return []
        for room_id, keys in rooms.items():
            if not is_room_id(room_id) or not isinstance(keys, list):
                return []
            if not all(is_phase_key(k) for k in keys):
                return []
            facts += [("ack", (run_id, room_id, k), ()) for k in keys]
    return facts


def _timeline_facts(kind: str, sender: str, content: Mapping[str, Any]) -> _Raw:
    run_id = content.get("run")
    if kind == LIAISON:
        room_id = content.get("room")
        liaison = content.get("liaison")
        if not is_room_id(room_id) or not (liaison is None or is_user_id(liaison)):
            return []
        assert isinstance(room_id, str)
        return [("liaison", (room_id,), (liaison,))]
    rev = content.get("rev")
    plan_hash = content.get("plan_hash")
    if not is_run_id(run_id) or not is_count(rev) or not is_hex_hash(plan_hash):
        return []
    assert isinstance(run_id, str) and isinstance(rev, int) and isinstance(plan_hash, str)
    facts: _Raw = [("claim", (run_id, rev, plan_hash), ())]
    action_time = content.get("action_time")
    if kind == PLAN:
        template = content.get("template")
        if not is_template_name(template) or not is_count(action_time):
            return []
        assert isinstance(template, str) and isinstance(action_time, int)
        facts += [("template", (run_id,), (template,)), ("when", (run_id, rev), (action_time,))]
        return facts
    # AMEND: a new revision, perhaps moving the action time, perhaps cancelling (final).
    prev_rev = content.get("prev_rev")
    cancel = _bool(content, "cancel", False)
    if not is_count(prev_rev) or cancel is None or (action_time is not None and not is_count(action_time)):
        return []
    assert isinstance(prev_rev, int)
    if prev_rev >= rev:
        return []
    if isinstance(action_time, int):
        facts.append(("when", (run_id, rev), (action_time,)))
    if cancel:
        facts.append(("cancel", (run_id,), ()))
    return facts


# --- what a reader sees ---------------------------------------------------------------------
