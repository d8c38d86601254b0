"""Tier 1: sign-up slots: capacity, waitlist promotion, and the lottery when over-subscribed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dayofaction import slots as s
from protocols.lottery import recompute


def board(**caps: int) -> dict[str, s.Slot]:
    return {name: s.Slot(name, cap) for name, cap in caps.items()}


def test_checklist_items_with_a_capacity_are_slots_and_plain_items_are_not() -> None:
    found = s.slots_of(
        ["Marshal: 2", "medic: 1", "Legal observer: 1", "Safety briefing prepared", "marshal: 5"]
    )
    assert found == (s.SlotSpec("marshal", 2), s.SlotSpec("medic", 1), s.SlotSpec("legal observer", 1))
    with pytest.raises(s.SlotError):
        s.parse_slot_item("marshal: 0")


def test_a_full_slot_puts_the_next_on_the_waitlist_and_a_release_promotes_the_first_waiting() -> None:
    slots = board(medic=1)
    slots["medic"], first = s.claim(slots, "medic", "@a")
    slots["medic"], second = s.claim(slots, "Medic", "@b")
    slots["medic"], third = s.claim(slots, "medic", "@c")
    assert first.holds and not second.holds and second.position == 1 and third.position == 2
    slots["medic"], released = s.release(slots, "medic", "@a")
    assert released.promoted == "@b" and slots["medic"].holders == ("@b",)
    slots["medic"], released = s.release(slots, "medic", "@c")  # a waiting person leaves: nobody promoted
    assert released.promoted is None and slots["medic"].queue == ("@b",)


def test_bad_claims_are_refused_with_the_slots_named_and_change_nothing() -> None:
    slots = board(marshal=2)
    slots["marshal"], _ = s.claim(slots, "marshal", "@a")
    with pytest.raises(s.SlotError, match=r"no slot 'cook'.*marshal"):
        s.claim(slots, "cook", "@a")
    with pytest.raises(s.SlotError, match="already hold"):
        s.claim(slots, "marshal", "@a")
    with pytest.raises(s.SlotError, match="not claimed"):
        s.release(slots, "marshal", "@b")
    assert slots["marshal"].queue == ("@a",)


def test_an_oversubscribed_slot_is_drawn_by_the_verifiable_lottery() -> None:
    slots = board(marshal=2)
    for user in ("@a", "@b", "@c", "@d"):
        slots["marshal"], claimed = s.claim(slots, "marshal", user)
    assert claimed.provisional
    inputs = s.draw_inputs("!room", "slot-1", slots["marshal"])
    assignment = recompute(inputs, b"x" * 32, ["$c1", "$c2"])
    after = s.apply_draw(slots["marshal"], assignment)
    winners = [h for _, h in assignment.picks]
    assert after.holders == tuple(winners) and len(set(winners)) == 2
    assert after.waiting == tuple(u for u in ("@a", "@b", "@c", "@d") if u not in winners)
    assert after.drawn
    slots["marshal"] = after
    _, late = s.claim(slots, "marshal", "@e")
    assert not late.provisional  # after the draw: first-come
    with pytest.raises(s.SlotError):
        s.draw_inputs("!room", "slot-2", s.Slot("medic", 2, ("@a",)))


def test_the_board_shows_counts_never_names() -> None:
    slots = board(marshal=2, medic=1)
    slots["medic"], _ = s.claim(slots, "medic", "@a")
    slots["medic"], _ = s.claim(slots, "medic", "@b")
    rows = s.counts(slots.values())
    assert rows == [("marshal", 0, 2, 0), ("medic", 1, 0, 1)]


ops = st.lists(st.tuples(st.booleans(), st.sampled_from(["@a", "@b", "@c", "@d", "@e"])), max_size=40)


@given(capacity=st.integers(1, 4), steps=ops)
def test_holders_never_exceed_capacity_nobody_twice_and_releases_promote_in_order(
    capacity: int, steps: list[tuple[bool, str]]
) -> None:
    slots = board(x=capacity)
    for is_claim, user in steps:
        before = slots["x"]
        try:
            if is_claim:
                slots["x"], _ = s.claim(slots, "x", user)
            else:
                slots["x"], rel = s.release(slots, "x", user)
                if user in before.holders and before.waiting:
                    assert rel.promoted == before.waiting[0]
                    assert rel.promoted in slots["x"].holders
        except s.SlotError:
            assert slots["x"] == before
        now = slots["x"]
        assert len(now.holders) <= capacity
        assert len(set(now.queue)) == len(now.queue)
        assert not now.waiting or len(now.holders) == capacity


@given(capacity=st.integers(1, 5), extra=st.integers(1, 6), seed=st.binary(min_size=16, max_size=32))
def test_a_draw_gives_exactly_the_places_to_distinct_claimants(
    capacity: int, extra: int, seed: bytes
) -> None:
    people = tuple(f"@p{i}" for i in range(capacity + extra))
    slot = s.Slot("x", capacity, people)
    after = s.apply_draw(slot, recompute(s.draw_inputs("!r", "d", slot), seed, []))
    assert len(after.holders) == capacity and sorted(after.queue) == sorted(people)
