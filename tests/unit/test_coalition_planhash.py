"""The plan hash: canonical, order-free, sensitive to every room, key, text and due time."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.herald.render_phases import say
from protocols.coalition.planhash import (
    PlanEntry,
    entry_for,
    message_digest,
    plan_entries,
    plan_hash,
    verify_plan,
)
from protocols.herald.plan import MemberRoom, PlannedMessage, make_cancellation, make_plan
from protocols.herald.templates import load_library, shipped_library

NATIONAL = load_library([shipped_library()])["national-day-of-action"]
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROOMS = [
    MemberRoom("!paris:a.org", ZoneInfo("Europe/Paris"), {"meeting_point": "Place de la République"}),
    MemberRoom("!nyc:b.org", ZoneInfo("America/New_York"), {"meeting_point": "Union Square"}),
]
SALT = bytes(range(16))


def plan() -> list[PlannedMessage]:
    return make_plan("run1", NATIONAL, ACTION, ROOMS, NOW, coalition="No Kings", render=say)


def test_the_hash_is_stable_and_independent_of_order() -> None:
    messages = plan()
    first = plan_hash("run1", messages, SALT)
    assert first == plan_hash("run1", list(reversed(messages)), SALT)
    assert first == plan_hash("run1", plan(), SALT)  # planned again: the same messages
    assert first == plan_hash("run1", [entry_for(m) for m in messages], SALT)
    assert len(first) == 64 and int(first, 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        lambda m: replace(m, body=m.body + " "),
        lambda m: replace(m, html=m.html.replace("<p>", "<p> ", 1)),
        lambda m: replace(m, due_at=m.due_at + timedelta(milliseconds=1)),
        lambda m: replace(m, room_id="!other:c.org"),
        lambda m: replace(m, phase_key="other"),
    ],
)
def test_any_change_to_one_message_changes_the_hash(
    change: Callable[[PlannedMessage], PlannedMessage],
) -> None:
    messages = plan()
    altered = [change(messages[0]), *messages[1:]]
    assert plan_hash("run1", altered, SALT) != plan_hash("run1", messages, SALT)


def test_run_salt_and_membership_are_part_of_the_hash() -> None:
    messages = plan()
    base = plan_hash("run1", messages, SALT)
    assert plan_hash("run2", messages, SALT) != base
    assert plan_hash("run1", messages, bytes(16)) != base
    assert plan_hash("run1", messages[:-1], SALT) != base
    cancel = make_cancellation("run1", "confirmed", "", NATIONAL, ACTION, ROOMS, [], NOW, render=say)
    assert plan_hash("run1", [*messages, *cancel.messages], SALT) != base


def test_bad_plans_are_refused() -> None:
    messages = plan()
    with pytest.raises(ValueError, match="twice"):
        plan_entries([*messages, messages[0]])
    with pytest.raises(ValueError, match="salt"):
        plan_hash("run1", messages, b"short")
    with pytest.raises(ValueError, match="malformed"):
        plan_hash("run 1", messages, SALT)
    with pytest.raises(ValueError, match="malformed"):
        plan_entries([PlanEntry("no-room", "p1", 0, "0" * 64)])
    with pytest.raises(ValueError, match="aware"):
        entry_for(replace(messages[0], due_at=datetime(2026, 5, 1)))


def test_a_plan_is_used_only_if_it_matches_the_registry_hash() -> None:
    messages = plan()
    expected = plan_hash("run1", messages, SALT)
    verified = verify_plan("run1", messages, SALT, expected)
    assert verified is not None and verified.plan_hash == expected
    m = messages[0]
    assert verified.expected_digest(m.room_id, m.phase_key) == message_digest(m.body, m.html)
    assert verified.expected_digest(m.room_id, "nope") is None
    tampered = [replace(m, body="Go home."), *messages[1:]]
    assert verify_plan("run1", tampered, SALT, expected) is None
    assert verify_plan("run1", messages, bytes(16), expected) is None
    assert verify_plan("run1", [*messages, m], SALT, expected) is None


def test_the_digest_covers_what_a_client_shows() -> None:
    assert message_digest("hi", None) != message_digest("hi", "hi")
    assert message_digest("hi", "<b>hi</b>") != message_digest("hi", "<i>hi</i>")
    # No way to shift text between the two fields and keep the digest.
    assert message_digest("ab", "c") != message_digest("a", "bc")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["!a:x", "!b:y", "!c"]),
            st.sampled_from(["p1", "p2", "cancel"]),
            st.integers(0, 2**40),
            st.text(max_size=20),
        ),
        unique_by=lambda t: (t[0], t[1]),
        max_size=9,
    ),
    st.randoms(use_true_random=False),
)
def test_entries_hash_the_same_in_any_order(
    rows: list[tuple[str, str, int, str]], rnd: random.Random
) -> None:
    entries = [PlanEntry(r, k, due, message_digest(text, None)) for r, k, due, text in rows]
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert plan_hash("r", entries, SALT) == plan_hash("r", shuffled, SALT)


def test_an_empty_html_body_is_no_html_body() -> None:
    # The runtime sends no formatted_body for an empty HTML text; the digests must agree.
    assert message_digest("hi", "") == message_digest("hi", None)
