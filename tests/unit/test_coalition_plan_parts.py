"""Sharing a plan among heralds: parts that fit an encrypted event, reassembled only if verified."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.herald.render_phases import say
from protocols.coalition.delivery import DeliveryKey
from protocols.coalition.plan_parts import (
    PART_BUDGET_BYTES,
    SharedMessage,
    assemble_plan,
    plan_parts,
)
from protocols.coalition.planhash import message_digest, plan_hash
from protocols.coalition.reveal import PrivateEvent, RevealError, check_state
from protocols.herald.plan import MemberRoom, make_plan
from protocols.herald.templates import load_library, shipped_library

A, B = "@a:one.example", "@b:two.example"
MALLORY = "@mallory:evil.example"
SALT = bytes(range(32))
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def as_events(parts: list[PrivateEvent], sender: str = A, ts: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "type": p.event_type,
            "sender": sender,
            "event_id": f"$p{next(_ids)}",
            "origin_server_ts": ts,
            "content": p.content,
        }
        for p in parts
    ]


def big_plan(rooms: int = 200) -> list[SharedMessage]:
    text = "Meet at the usual place. " * 60
    return [
        SharedMessage(
            f"!room{i}:hs{i % 3}.example",
            key,
            ACTION + timedelta(hours=h),
            f"{text} {i}",
            f"<p>{text} {i}</p>",
        )
        for i in range(rooms)
        for h, key in enumerate(["p1", "p2", "p3"])
    ]


def test_a_real_plan_round_trips_and_gives_the_delivery_keys() -> None:
    national = load_library([shipped_library()])["national-day-of-action"]
    rooms = [
        MemberRoom("!paris:a.org", ZoneInfo("Europe/Paris"), {"meeting_point": "République"}),
        MemberRoom("!nyc:b.org", ZoneInfo("America/New_York"), {}),
    ]
    messages = make_plan("run1", national, ACTION, rooms, NOW, render=say)
    expected = plan_hash("run1", messages, SALT)
    parts = plan_parts("run1", 1, messages, SALT)
    assert len(parts) == 1
    shared = assemble_plan(as_events(parts), run_id="run1", rev=1, expected_hash=expected, registered=[A, B])
    assert shared is not None and shared.plan_hash == expected and shared.salt == SALT
    keys = {p.key: p for p in shared.planned_keys()}
    m = messages[0]
    planned = keys[DeliveryKey("run1", m.phase_key, m.room_id)]
    assert planned.due_at == m.due_at and planned.digest == message_digest(m.body, m.html)
    assert len(keys) == len(messages)


def test_a_large_plan_is_split_into_parts_that_fit_an_encrypted_event() -> None:
    messages = big_plan()
    parts = plan_parts("run1", 3, messages, SALT)
    assert len(parts) > 10
    for part in parts:
        size = len(json.dumps(part.content, separators=(",", ":"), ensure_ascii=False).encode())
        assert size <= PART_BUDGET_BYTES
        with pytest.raises(RevealError, match="private"):
            check_state(part.event_type, "run1", part.content)
    assert parts == plan_parts("run1", 3, list(reversed(messages)), SALT)  # deterministic
    events = as_events(parts)
    random.Random(4).shuffle(events)
    expected = plan_hash("run1", messages, SALT)
    shared = assemble_plan(events + events[:3], run_id="run1", rev=3, expected_hash=expected, registered=[A])
    assert shared is not None
    assert sorted(shared.messages, key=lambda m: (m.room_id, m.phase_key)) == sorted(
        messages, key=lambda m: (m.room_id, m.phase_key)
    )


def test_only_a_complete_genuine_plan_from_heralds_assembles() -> None:
    messages = big_plan(40)
    expected = plan_hash("run1", messages, SALT)
    parts = plan_parts("run1", 1, messages, SALT)
    events = as_events(parts)
    kwargs: dict[str, Any] = {"run_id": "run1", "rev": 1, "expected_hash": expected, "registered": [A, B]}
    assert len(parts) > 1
    assert assemble_plan(events[1:], **kwargs) is None  # a part missing
    assert assemble_plan(events, **{**kwargs, "rev": 2}) is None
    assert assemble_plan(events, **{**kwargs, "expected_hash": "0" * 64}) is None
    assert assemble_plan(as_events(parts, sender=MALLORY), **kwargs) is None
    # A forged part (earlier, same index) from a non-herald cannot spoil the genuine plan.
    forged = json.loads(json.dumps(parts[0].content))
    forged["messages"][0][3] = "Stay home."
    spoiler = as_events([PrivateEvent(parts[0].event_type, forged)], sender=MALLORY, ts=1)
    assert assemble_plan(spoiler + events, **kwargs) is not None
    # The same tampering by a herald: the hash no longer matches, nothing is believed.
    assert (
        assemble_plan(
            as_events([PrivateEvent(parts[0].event_type, forged)], sender=B, ts=1) + events[1:], **kwargs
        )
        is None
    )
    # Sent as state, or malformed: ignored, never raising.
    as_state = [{**e, "state_key": ""} for e in events]
    assert assemble_plan(as_state, **kwargs) is None
    junk = [
        {**events[0], "content": {**events[0]["content"], "messages": [["!r", "p1", 1, "b"]]}},
        {**events[0], "content": {**events[0]["content"], "salt": "zz"}},
        {**events[0], "content": {**events[0]["content"], "part": 9, "parts": 2}},
        "junk",
    ]
    assert assemble_plan(junk, **kwargs) is None


def test_sharing_refuses_what_cannot_be_shared() -> None:
    huge = [SharedMessage("!r", "p1", ACTION, "x" * 50_000, "")]
    with pytest.raises(ValueError, match="too long"):
        plan_parts("run1", 1, huge, SALT)
    with pytest.raises(ValueError, match="salt"):
        plan_parts("run1", 1, big_plan(1), b"")
    with pytest.raises(ValueError, match="revision"):
        plan_parts("run1", -1, big_plan(1), SALT)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["!a", "!b:x", "!c"]),
            st.sampled_from(["p1", "p2", "amend-1", "cancel"]),
            st.integers(0, 2**41),
            st.text(max_size=300),
            st.text(max_size=50),
        ),
        unique_by=lambda t: (t[0], t[1]),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_any_plan_reassembles_from_its_parts_in_any_order(
    rows: list[tuple[str, str, int, str, str]], rnd: random.Random
) -> None:
    messages = [
        SharedMessage(r, k, datetime.fromtimestamp(ms / 1000, tz=UTC), body, html)
        for r, k, ms, body, html in rows
    ]
    events = as_events(plan_parts("r", 1, messages, SALT))
    rnd.shuffle(events)
    shared = assemble_plan(
        events, run_id="r", rev=1, expected_hash=plan_hash("r", messages, SALT), registered=[A]
    )
    assert shared is not None
    assert set(shared.messages) == set(messages)


def test_a_shared_escalation_is_moot_once_its_phase_is_acknowledged() -> None:
    messages = [
        SharedMessage("!r", "go", ACTION, "Go", ""),
        SharedMessage("!r", "esc1-go", ACTION, "Ack?", ""),
    ]
    events = as_events(plan_parts("r", 1, messages, SALT))
    shared = assemble_plan(
        events, run_id="r", rev=1, expected_hash=plan_hash("r", messages, SALT), registered=[A]
    )
    assert shared is not None
    chased = {p.key.key: p.unless_acked for p in shared.planned_keys()}
    assert chased == {"go": None, "esc1-go": ("!r", "go")}
