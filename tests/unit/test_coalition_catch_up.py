"""After an outage a herald waits for two new beats of every other herald before it trusts a
look at a room: the first may ride in the federation catch-up beside the copies it must see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from protocols.coalition.liveness import CatchUp, Heartbeat, HeartbeatBook

BACK = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
MS = int(BACK.timestamp() * 1000)  # a beat's seq is its writer's clock in ms
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
    book = beat(book, A, MS + 2000, 2)
    held = held.seen(book)
    assert held.behind(book, {A}) == {A}  # it may have come in the catch-up itself
    book = beat(book, A, MS + 5000, 5)
    held = held.seen(book)
    assert held.behind(book, {A}) == frozenset()


def test_each_herald_is_waited_for_on_its_own() -> None:
    book = HeartbeatBook()
    held = CatchUp(BACK)
    for seq, at in ((MS + 1000, 1), (MS + 4000, 4)):
        book = beat(book, A, seq, at)
        held = held.seen(book)
    book = beat(book, B, MS + 4000, 4)
    held = held.seen(book)
    assert held.behind(book, {A, B}) == {B}


def test_beats_written_before_the_return_but_received_after_it_are_not_news() -> None:
    # Relayed in the catch-up of another herald's events, a backlog of old beats arrives late.
    book = HeartbeatBook()
    held = CatchUp(BACK)
    for seq, at in ((MS - 9000, 60), (MS - 6000, 61), (MS - 3000, 62)):
        book = beat(book, A, seq, at)
        held = held.seen(book)
    assert held.behind(book, {A}) == {A}
    book = beat(book, A, MS + 61_000, 63)
    held = held.seen(book)
    assert held.behind(book, {A}) == {A}
    book = beat(book, A, MS + 64_000, 66)
    assert held.seen(book).behind(book, {A}) == frozenset()


def test_a_last_will_after_the_return_is_not_waited_for() -> None:
    book = beat(HeartbeatBook(), A, 10, -30)
    book = beat(book, A, 10, 3, dead=True)
    held = CatchUp(BACK).seen(book)
    assert held.behind(book, {A}) == frozenset()


def test_a_herald_never_seen_is_waited_for() -> None:
    held = CatchUp(BACK).seen(HeartbeatBook())
    assert held.behind(HeartbeatBook(), {A}) == {A}
