"""Tier 1: a slot poll's pure rule (protocols/dayofaction/slot_poll.py): what it offers, the order
its answers are claimed in, and a first-come full slot refusing an answer."""

from __future__ import annotations

import pytest

from protocols.dayofaction.slot_poll import MAX_OFFERED, Choice, claim_by_poll, in_order, offer
from protocols.dayofaction.slots import Slot, SlotError


def test_it_offers_the_open_slots_in_name_order_up_to_the_polls_limit() -> None:
    slots = [Slot("medic", 1), Slot("marshal", 2, ("a",)), Slot("cook", 1, ("b",))]
    assert [s.name for s in offer(slots).offered] == ["marshal", "medic"]
    many = [Slot(f"role {n:02}", 1) for n in range(MAX_OFFERED + 3)]
    made = offer(many)
    assert len(made.offered) == MAX_OFFERED and [s.name for s in made.left_out] == [
        "role 20",
        "role 21",
        "role 22",
    ]


@pytest.mark.parametrize(
    ("slots", "says"),
    [
        ([Slot("cook", 1, ("b",))], "No slot has a free place"),
        ([Slot("cook", 1, ("b",)), Slot("medic", 1)], "Only 'medic' has a free place"),
        ([], "No slot has a free place"),
    ],
)
def test_it_refuses_a_poll_with_less_than_two_answers(slots: list[Slot], says: str) -> None:
    with pytest.raises(SlotError, match=says):
        offer(slots)


def test_answers_are_claimed_in_the_order_they_came_and_ties_by_user() -> None:
    chosen = {"marshal": ("@b", "@a"), "medic": ("@c",), "cook": ()}
    latest = {"@a": (5, "$a"), "@b": (5, "$b"), "@c": (1, "$c")}
    assert in_order(chosen, latest) == [
        Choice("@c", "medic", 1, "$c"),
        Choice("@a", "marshal", 5, "$a"),
        Choice("@b", "marshal", 5, "$b"),
    ]


def test_a_full_first_come_slot_refuses_while_a_slot_before_its_draw_takes_everyone() -> None:
    first_come = {"medic": Slot("medic", 1, ("@a",), drawn=True)}
    with pytest.raises(SlotError, match="were taken before the poll ended"):
        claim_by_poll(first_come, "medic", "@b")
    with pytest.raises(SlotError, match="already hold"):  # the typed claim's own refusal
        claim_by_poll(first_come, "medic", "@a")
    before_draw = {"medic": Slot("medic", 1, ("@a",), drawn=False)}
    new, claimed = claim_by_poll(before_draw, "medic", "@b")
    assert new.queue == ("@a", "@b") and claimed.provisional
