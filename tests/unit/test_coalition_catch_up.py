"""After an outage a herald waits for two new beats of every other herald before it trusts a
look at a room: the first may ride in the federation catch-up beside the copies it must see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocols.coalition.liveness import CatchUp, Heartbeat, HeartbeatBook

BACK = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
A, B = "@herald:a.example", "@herald:b.example"


def beat(
    book: HeartbeatBook, who: str, seq: int, seconds_after_back: float, dead: bool = False
) -> HeartbeatBook:
    return book.record(Heartbeat(who, seq, dead), BACK + timedelta(seconds=seconds_after_back))


def test_beats_from_before_the_return_count_for_nothing() -> None:
    book = beat(beat(HeartbeatBook(), A, 10, -30), B, 11, -20)
    held = CatchUp(BACK).seen(book)
    assert held.behind(book, {A, B}) == {A, B}


def test_one_fresh_beat_is_not_enough_two_are() -> None:
    book = beat(HeartbeatBook(), A, 10, -30)
    held = CatchUp(BACK)
    book = beat(book, A, 20, 2)
    held = held.seen(book)
    assert held.behind(book, {A}) == {A}  # it may have come in the catch-up itself
    book = beat(book, A, 23, 5)
    held = held.seen(book)
    assert held.behind(book, {A}) == frozenset()


def test_each_herald_is_waited_for_on_its_own() -> None:
    book = HeartbeatBook()
    held = CatchUp(BACK)
    for seq, at in ((1, 1), (2, 4)):
        book = beat(book, A, seq, at)
        held = held.seen(book)
    book = beat(book, B, 7, 4)
    held = held.seen(book)
    assert held.behind(book, {A, B}) == {B}


def test_a_last_will_after_the_return_is_not_waited_for() -> None:
    book = beat(HeartbeatBook(), A, 10, -30)
    book = beat(book, A, 10, 3, dead=True)
    held = CatchUp(BACK).seen(book)
    assert held.behind(book, {A}) == frozenset()


def test_a_herald_never_seen_is_waited_for() -> None:
    held = CatchUp(BACK).seen(HeartbeatBook())
    assert held.behind(HeartbeatBook(), {A}) == {A}
