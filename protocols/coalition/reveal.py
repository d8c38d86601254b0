"""What the control room may reveal: the only way the coalition core builds state content.

Matrix never encrypts state events, so whatever a herald writes into the control room's state is
readable by the admin of every homeserver in that room, and by whoever seizes one of them. The
rule here is an allow-list, not a deny-list: each state kind names its fields, and each field
holds only an id (user, room, run, phase key), a homeserver name, a hash, a count or a flag. No
field accepts free text, so plans, message texts, action times, template names, local details,
liaisons and acknowledgement texts cannot reach state through this module; they go into
timeline events that the runtime encrypts (:func:`private_event`).

What a seized homeserver therefore learns from the control room: which heralds and homeservers
take part, which rooms are members or coordination rooms (by id) and on which homeserver each
is, which runs exist with their revision count, plan hash and whether they were cancelled, and
which (room, phase key) pairs each herald saw acknowledged. Not what the plan says, nor the
action time as such; but the timing of state writes is visible too (heartbeats run while a run
is active, acks are written as they come), so a watcher learns roughly *when* phases happen, and
a phase key is whatever word the template chose (``go``, ``debrief``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocols.coalition.kinds import INVITE
from protocols.coalition.registry import (
    ACKS,
    ADMISSION,
    AMEND,
    CANCEL,
    COORDINATION,
    HEARTBEAT,
    INSTANCE,
    LIAISON,
    MEMBER_ROOM,
    PLAN,
    PLAN_PART,
    RUN,
    TIMELINE_KINDS,
    admission_state_key,
)
from protocols.coalition.shapes import (
    datetime_to_ms,
    is_count,
    is_hex_hash,
    is_phase_key,
    is_room_id,
    is_run_id,
    is_server_name,
    is_template_name,
    is_user_id,
)
from protocols.errors import RuleError

# Matrix refuses events over 65,536 bytes, signatures and DAG references included; content
# beyond this budget would fail at send time, so it is refused here, where the cause is clear.
MAX_STATE_CONTENT_BYTES = 60_000
HEARTBEAT_STATUSES = ("up", "dead")


class RevealError(RuleError):
    """Content that must not (or cannot) go into the control room's state was refused."""


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


def _is_status(value: object) -> bool:
    return value in HEARTBEAT_STATUSES


def _is_ack_map(value: object) -> bool:
    """``{run: {room: [phase key, ...]}}``: ids only, never who acknowledged or what they wrote."""
    if not isinstance(value, dict):
        return False
    for run_id, rooms in value.items():
        if not is_run_id(run_id) or not isinstance(rooms, dict):
            return False
        for room_id, keys in rooms.items():
            if not is_room_id(room_id) or not isinstance(keys, list):
                return False
            if not all(is_phase_key(k) for k in keys) or len(set(keys)) != len(keys):
                return False
    return True


Check = Callable[[object], bool]
# kind -> field -> (shape, required)
_ALLOWED: dict[str, dict[str, tuple[Check, bool]]] = {
    INSTANCE: {"active": (_is_bool, True)},
    ADMISSION: {"user_id": (is_user_id, True), "generation": (is_count, True), "retired": (_is_bool, True)},
    HEARTBEAT: {"seq": (is_count, True), "status": (_is_status, True)},
    COORDINATION: {"active": (_is_bool, True)},
    MEMBER_ROOM: {"homeserver": (is_server_name, True), "active": (_is_bool, True)},
    RUN: {"rev": (is_count, True), "plan_hash": (is_hex_hash, True), "cancelled": (_is_bool, True)},
    CANCEL: {"cancelled": (lambda value: value is True, True)},
    ACKS: {"runs": (_is_ack_map, True)},
    # Both absent: spent. The token's hash cannot be turned back into the token.
    INVITE: {"expires": (is_count, False), "room": (is_room_id, False)},
}
_OWNED = frozenset({INSTANCE, HEARTBEAT, ACKS})
_KEY_SHAPE: dict[str, Check] = {
    ADMISSION: lambda key: isinstance(key, str) and is_user_id("@" + key),
    COORDINATION: is_room_id,
    MEMBER_ROOM: is_room_id,
    RUN: is_run_id,
    CANCEL: is_run_id,
    INVITE: is_hex_hash,
}
_PRIVATE_HINT = {
    PLAN: "a plan is private: send it as an encrypted timeline event",
    AMEND: "an amendment is private: send it as an encrypted timeline event",
    LIAISON: "a liaison names a person: send it as an encrypted timeline event",
    PLAN_PART: "a plan's texts are private: send them as encrypted timeline events",
}


@dataclass(frozen=True)
class StateWrite:
    """A state event the runtime may put into the control room as it is."""

    event_type: str
    state_key: str
    content: dict[str, Any]


@dataclass(frozen=True)
class PrivateEvent:
    """A timeline event the runtime must send encrypted (never as state, never in clear)."""

    event_type: str
    content: dict[str, Any]


def check_state(event_type: str, state_key: str, content: Mapping[str, Any]) -> None:
    """Raise :class:`RevealError` unless this state event reveals only ids, hashes, counts and
    flags of a known kind. Every state write of the coalition goes through here."""
    if event_type in _PRIVATE_HINT:
        raise RevealError(_PRIVATE_HINT[event_type])
    fields = _ALLOWED.get(event_type)
    if fields is None:
        raise RevealError(f"{event_type} is not a coalition state kind")
    if not isinstance(content, Mapping):
        raise RevealError(f"{event_type} content must be an object")
    extra = sorted(set(content) - set(fields))
    if extra:
        raise RevealError(
            f"{event_type} may not carry {', '.join(extra)}: state is readable by every "
            "homeserver in the control room, so it holds only ids, hashes, counts and flags"
        )
    for name, (shape, required) in fields.items():
        if name not in content:
            if required:
                raise RevealError(f"{event_type} needs {name}")
            continue
        if not shape(content[name]):
            raise RevealError(f"{event_type}.{name} is not of the allowed shape (an id, hash, count or flag)")
    if event_type in _OWNED:
        if not is_user_id(state_key):
            raise RevealError(f"{event_type} is keyed by the writing herald's own user id")
    elif not _KEY_SHAPE[event_type](state_key):
        raise RevealError(f"{event_type} has a malformed state key")
    if event_type == ADMISSION and state_key != admission_state_key(str(content["user_id"])):
        raise RevealError("an admission is keyed by the admitted user id without its @")
    size = len(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_STATE_CONTENT_BYTES:
        raise RevealError(
            f"{event_type} content is {size} bytes, over the {MAX_STATE_CONTENT_BYTES} a state "
            "event can carry: forget finished runs first"
        )


def _state(event_type: str, state_key: str, content: dict[str, Any]) -> StateWrite:
    check_state(event_type, state_key, content)
    return StateWrite(event_type, state_key, content)


# --- builders: one per state kind --------------------------------------------------------------


def instance_state(user_id: str, *, active: bool = True) -> StateWrite:
    """A herald's own declaration that it is (or no longer is) on duty."""
    return _state(INSTANCE, user_id, {"active": active})


def admission_state(user_id: str, *, generation: int = 0, retired: bool = False) -> StateWrite:
    """Admit a herald (``!coalition herald add``) or retire it (``herald remove``). Retiring is
    final for that generation; re-admitting takes a higher generation."""
    return _state(
        ADMISSION,
        admission_state_key(user_id),
        {"user_id": user_id, "generation": generation, "retired": retired},
    )


def heartbeat_state(user_id: str, *, seq: int, status: str = "up") -> StateWrite:
    return _state(HEARTBEAT, user_id, {"seq": seq, "status": status})


def invite_state(token_hash: str, *, expires: datetime, room_id: str | None = None) -> StateWrite:
    """An open invitation any herald may accept: its token's SHA-256, its expiry and the one
    room it is for (if any). Never the token, nor who issued it."""
    content: dict[str, Any] = {"expires": datetime_to_ms(expires)}
    if room_id is not None:
        content["room"] = room_id
    return _state(INVITE, token_hash, content)


def spent_invite_state(token_hash: str) -> StateWrite:
    """The invitation was used (through any herald) or expired: no herald accepts it any more."""
    return _state(INVITE, token_hash, {})


def coordination_state(room_id: str, *, active: bool = True) -> StateWrite:
    return _state(COORDINATION, room_id, {"active": active})


def member_room_state(room_id: str, homeserver: str, *, active: bool = True) -> StateWrite:
    """A member room: its id and homeserver. Its liaison is a person, so it is private."""
    return _state(MEMBER_ROOM, room_id, {"homeserver": homeserver, "active": active})


def run_state(run_id: str, *, rev: int, plan_hash: str, cancelled: bool = False) -> StateWrite:
    """A run as state shows it: revision, plan hash, cancelled. Never its plan or its time."""
    return _state(RUN, run_id, {"rev": rev, "plan_hash": plan_hash, "cancelled": cancelled})


def cancel_state(run_id: str) -> StateWrite:
    """The run's cancellation: final, because no later write to this key can mean "not"."""
    return _state(CANCEL, run_id, {"cancelled": True})


def acks_state(user_id: str, acks: Mapping[str, Iterable[tuple[str, str]]]) -> StateWrite:
    """A herald's whole grow-only acknowledgement set (``run -> {(room, key)}``), written in one
    state event that replaces the previous one; pass the old set plus the new acks."""
    runs: dict[str, dict[str, list[str]]] = {}
    for run_id in sorted(acks):
        rooms: dict[str, list[str]] = {}
        for room_id, key in sorted(set(acks[run_id])):
            rooms.setdefault(room_id, []).append(key)
        runs[run_id] = rooms
    return _state(ACKS, user_id, {"runs": runs})


def cleared_state(event_type: str, state_key: str) -> StateWrite:
    """An empty overwrite of a run, member room or coordination key, for retention: a herald
    rebuilding from current state no longer sees it (an empty content is no valid record).
    Cancellations are never cleared this way: they are final, and a forgotten run needs none."""
    if event_type not in (RUN, MEMBER_ROOM, COORDINATION):
        raise RevealError(f"{event_type} is not cleared this way")
    if not _KEY_SHAPE[event_type](state_key):
        raise RevealError(f"{event_type} has a malformed state key")
    return StateWrite(event_type, state_key, {})


# --- private timeline events (to be encrypted by the runtime) ----------------------------------


def private_event(event_type: str, content: dict[str, Any]) -> PrivateEvent:
    """Check a private (timeline) event's shape; the same shapes the registry fold accepts."""
    if event_type not in TIMELINE_KINDS:
        raise RevealError(f"{event_type} is not a private coalition kind")
    return PrivateEvent(event_type, content)


def plan_event(
    run_id: str, *, template: str, action_time: datetime, plan_hash: str, rev: int = 1
) -> PrivateEvent:
    if not is_run_id(run_id) or not is_template_name(template) or not is_hex_hash(plan_hash):
        raise RevealError("a plan event needs a run id, a template name and a plan hash")
    if not is_count(rev):
        raise RevealError("a revision is a count")
    content = {
        "run": run_id,
        "rev": rev,
        "template": template,
        "action_time": datetime_to_ms(action_time),
        "plan_hash": plan_hash,
    }
    return private_event(PLAN, content)


def amend_event(
    run_id: str,
    *,
    rev: int,
    prev_rev: int,
    plan_hash: str,
    cancel: bool = False,
    action_time: datetime | None = None,
) -> PrivateEvent:
    if not is_run_id(run_id) or not is_hex_hash(plan_hash):
        raise RevealError("an amendment needs a run id and a plan hash")
    if not (is_count(rev) and is_count(prev_rev) and prev_rev < rev):
        raise RevealError("an amendment's revision follows the one it amends")
    content: dict[str, Any] = {
        "run": run_id,
        "rev": rev,
        "prev_rev": prev_rev,
        "plan_hash": plan_hash,
        "cancel": cancel,
    }
    if action_time is not None:
        content["action_time"] = datetime_to_ms(action_time)
    return private_event(AMEND, content)


def liaison_event(room_id: str, liaison: str | None) -> PrivateEvent:
    if not is_room_id(room_id) or not (liaison is None or is_user_id(liaison)):
        raise RevealError("a liaison event needs a room id and a user id (or none)")
    return private_event(LIAISON, {"room": room_id, "liaison": liaison})
