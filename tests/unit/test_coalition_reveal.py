"""What the control room may reveal: ids, hashes, counts and flags, and nothing else."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.coalition.registry import ACKS, AMEND, LIAISON, MEMBER_ROOM, PLAN, RUN, Registry
from protocols.coalition.reveal import (
    PrivateEvent,
    RevealError,
    StateWrite,
    acks_state,
    admission_state,
    amend_event,
    cancel_state,
    check_state,
    cleared_state,
    coordination_state,
    heartbeat_state,
    instance_state,
    liaison_event,
    member_room_state,
    plan_event,
    run_state,
)
from protocols.coalition.shapes import (
    is_hex_hash,
    is_phase_key,
    is_room_id,
    is_run_id,
    is_server_name,
    is_user_id,
)

A, B, C = "@a:one.example", "@b:two.example", "@c:three.example"
H1, H2 = "a" * 64, "b" * 64
ROOM = "!room:one.example"
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def as_event(write: StateWrite | PrivateEvent, sender: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": write.event_type,
        "sender": sender,
        "event_id": f"$r{next(_ids)}",
        "origin_server_ts": next(_ids),
        "content": write.content,
    }
    if isinstance(write, StateWrite):
        event["state_key"] = write.state_key
    return event


def test_what_the_builders_write_is_what_the_registry_reads() -> None:
    writes: list[tuple[StateWrite | PrivateEvent, str]] = [
        (instance_state(A), A),
        (instance_state(C), C),
        (admission_state(C), A),
        (heartbeat_state(A, seq=3), A),
        (coordination_state("!coord"), B),
        (member_room_state(ROOM, "one.example"), A),
        (run_state("r42", rev=2, plan_hash=H2), B),
        (acks_state(A, {"r42": [(ROOM, "p1"), (ROOM, "amend-1")]}), A),
        (plan_event("r42", template="strike-day", action_time=ACTION, plan_hash=H1), A),
        (amend_event("r42", rev=2, prev_rev=1, plan_hash=H2), B),
        (liaison_event(ROOM, "@li:one.example"), A),
    ]
    reg = Registry.empty([A, B]).fold(as_event(w, s) for w, s in writes)
    assert reg.live_heralds == {A, C} and reg.heralds[C].added_by == A
    assert reg.coordination_rooms == {"!coord"}
    assert reg.member_rooms[ROOM].liaison == "@li:one.example"
    run = reg.runs["r42"]
    assert (run.rev, run.plan_hash, run.template, run.action_time) == (2, H2, "strike-day", ACTION)
    assert reg.acked("r42") == {(ROOM, "p1"), (ROOM, "amend-1")}
    assert not run.cancelled
    assert reg.fold([as_event(cancel_state("r42"), C)]).runs["r42"].cancelled


@pytest.mark.parametrize(
    ("event_type", "state_key", "content", "match"),
    [
        (
            RUN,
            "r42",
            {"rev": 1, "plan_hash": H1, "cancelled": False, "phases": [{"text": "Meet at the town hall"}]},
            "may not carry phases",
        ),
        (
            RUN,
            "r42",
            {"rev": 1, "plan_hash": H1, "cancelled": False, "action_time": "2026-05-01T12:00Z"},
            "may not carry action_time",
        ),
        (
            RUN,
            "r42",
            {"rev": 1, "plan_hash": H1, "cancelled": False, "template": "strike-day"},
            "may not carry template",
        ),
        (RUN, "r42", {"rev": 1, "plan_hash": "Meet at the town hall", "cancelled": False}, "plan_hash"),
        (RUN, "r42", {"rev": True, "plan_hash": H1, "cancelled": False}, "rev"),
        (RUN, "r42", {"rev": 1, "plan_hash": H1}, "needs cancelled"),
        (
            MEMBER_ROOM,
            ROOM,
            {"homeserver": "one.example", "active": True, "liaison": "@li:one.example"},
            "may not carry liaison",
        ),
        (
            MEMBER_ROOM,
            ROOM,
            {"homeserver": "one.example", "active": True, "meeting_point": "Town hall"},
            "may not carry meeting_point",
        ),
        (MEMBER_ROOM, ROOM, {"homeserver": "Town hall steps", "active": True}, "homeserver"),
        (ACKS, A, {"runs": {"r42": {ROOM: ["Yes, we will be there!"]}}}, "runs"),
        (ACKS, A, {"runs": {"r42": {ROOM: {"p1": {"body": "ok", "sender": "@li:x"}}}}}, "runs"),
        (ACKS, A, {"runs": {"r42": {ROOM: ["p1"]}}, "texts": {"p1": "ok"}}, "may not carry texts"),
        (ACKS, A, {"runs": {"r42": {ROOM: ["p1", "p1"]}}}, "runs"),
        (ACKS, B, {"runs": {}}, None),  # valid content; key checked separately below
        (PLAN, "r42", {"run": "r42"}, "plan is private"),
        (AMEND, "r42", {"run": "r42"}, "amendment is private"),
        (LIAISON, ROOM, {"room": ROOM}, "liaison names a person"),
        ("org.affinity.herald.notes", "x", {}, "not a coalition state kind"),
        ("org.affinity.herald.cancel", "r42", {"cancelled": False}, "cancelled"),
        ("org.affinity.herald.instance", "not-a-user", {"active": True}, "own user id"),
        (
            "org.affinity.herald.admission",
            "c:three.example",
            {"user_id": B, "generation": 0, "retired": False},
            "without its @",
        ),
        ("org.affinity.herald.run", "r 42", {"rev": 1, "plan_hash": H1, "cancelled": False}, "state key"),
        ("org.affinity.herald.heartbeat", A, {"seq": 1, "status": "up", "note": "all good"}, "note"),
    ],
)
def test_state_that_would_reveal_more_than_ids_hashes_and_flags_is_refused(
    event_type: str, state_key: str, content: dict[str, Any], match: str | None
) -> None:
    if match is None:
        check_state(event_type, state_key, content)
        return
    with pytest.raises(RevealError, match=match):
        check_state(event_type, state_key, content)


def test_builders_refuse_bad_values_and_oversized_sets() -> None:
    with pytest.raises(RevealError, match="user_id"):
        admission_state("bob")  # `!coalition herald add bob`: not a Matrix user
    with pytest.raises(RevealError):
        member_room_state(ROOM, "Town hall")
    with pytest.raises(RevealError):
        heartbeat_state(A, seq=-1)
    with pytest.raises(RevealError):
        run_state("r42", rev=1, plan_hash="not a hash")
    with pytest.raises(RevealError, match="bytes"):
        acks_state(
            A,
            {
                f"r{i}": [(f"!room{j}:one.example", f"p{k}") for j in range(200) for k in range(8)]
                for i in range(8)
            },
        )
    with pytest.raises(RevealError):
        plan_event("r42", template="Strike Day!", action_time=ACTION, plan_hash=H1)
    with pytest.raises(RevealError, match="follows"):
        amend_event("r42", rev=1, prev_rev=1, plan_hash=H1)
    with pytest.raises(RevealError):
        liaison_event(ROOM, "li")
    with pytest.raises(ValueError, match="aware"):
        plan_event("r42", template="t", action_time=datetime(2026, 5, 1), plan_hash=H1)


def test_acks_state_is_canonical() -> None:
    one = acks_state(A, {"r42": [(ROOM, "p2"), (ROOM, "p1"), (ROOM, "p1")]})
    two = acks_state(A, {"r42": {(ROOM, "p1"), (ROOM, "p2")}})
    assert one == two and one.content == {"runs": {"r42": {ROOM: ["p1", "p2"]}}}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_kinds = st.sampled_from(
    [
        "org.affinity.herald.instance",
        "org.affinity.herald.admission",
        "org.affinity.herald.heartbeat",
        "org.affinity.herald.coordination",
        "org.affinity.herald.room",
        "org.affinity.herald.run",
        "org.affinity.herald.cancel",
        "org.affinity.herald.acks",
    ]
)
_valid: dict[str, tuple[str, dict[str, Any]]] = {
    "org.affinity.herald.instance": (A, {"active": True}),
    "org.affinity.herald.admission": (B[1:], {"user_id": B, "generation": 0, "retired": False}),
    "org.affinity.herald.heartbeat": (A, {"seq": 1, "status": "up"}),
    "org.affinity.herald.coordination": (ROOM, {"active": True}),
    "org.affinity.herald.room": (ROOM, {"homeserver": "one.example", "active": True}),
    "org.affinity.herald.run": ("r42", {"rev": 1, "plan_hash": H1, "cancelled": False}),
    "org.affinity.herald.cancel": ("r42", {"cancelled": True}),
    "org.affinity.herald.acks": (A, {"runs": {"r42": {ROOM: ["p1"]}}}),
}


@settings(max_examples=100, deadline=None)
@given(_kinds, st.text(min_size=1, max_size=12), _json)
def test_no_extra_field_of_any_kind_ever_reaches_state(kind: str, name: str, value: Any) -> None:
    state_key, content = _valid[kind]
    check_state(kind, state_key, content)
    if name in content:
        return
    with pytest.raises(RevealError):
        check_state(kind, state_key, {**content, name: value})


@settings(max_examples=100, deadline=None)
@given(_kinds, st.text(max_size=12), st.dictionaries(st.text(max_size=10), _json, max_size=4))
def test_checking_arbitrary_content_either_passes_or_raises_reveal_error(
    kind: str, state_key: str, content: dict[str, Any]
) -> None:
    try:
        check_state(kind, state_key, content)
    except RevealError:
        return
    # Whatever passed holds no free text: every string in it is an id, a hash or a status.
    shapes = (is_user_id, is_room_id, is_run_id, is_phase_key, is_hex_hash, is_server_name)
    for leaf in _strings(content):
        assert leaf in ("up", "dead") or any(shape(leaf) for shape in shapes), leaf


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)] if isinstance(s, str)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_cleared_state_hides_a_record_from_a_rebuild_but_never_a_cancellation() -> None:
    cleared = cleared_state(RUN, "r42")
    check = Registry.empty([A]).fold([as_event(cleared, A)])
    assert cleared.content == {} and check.runs == {}
    assert cleared_state(MEMBER_ROOM, ROOM).content == {}
    with pytest.raises(RevealError):
        cleared_state("org.affinity.herald.cancel", "r42")
    with pytest.raises(RevealError):
        cleared_state(RUN, "r 42")
