"""Coalitions without a center: the longer fault runs, behind ``make test-redundancy``.

Same set-up as ``test_no_center.py`` (three federating Synapses, a herald on each, twelve member
rooms plain and encrypted); this file is not collected by ``make test`` (its name does not start
with ``test_``), only when named. Copies are counted from a client on each room's own server.

- SIGSTOP: the herald on C is stopped two seconds before the action time and continued once the
  others have delivered; every room has exactly one copy (the stopped herald, back, first lets its
  sync catch up for one stagger and then sees the copies).
- Cancel at T - 1 s: the run is cancelled one second before its call-out; the stand-down reaches
  every room once, no herald keeps any later phase pending, and no room gets the call twice.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.federation import federation3  # noqa: F401 - the fixture
from tests.e2e.helpers import ask_event as command
from tests.e2e.helpers import body, next_minute, until
from tests.e2e.test_no_center import (
    Coalition,
    all_decided,
    coalition,  # noqa: F401 - the fixture
    copies_of,
    pending_in,
    start_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


async def test_sigstop_before_the_action_time_still_one_copy_per_room(coalition: Coalition) -> None:
    alice, herald_c = coalition.people[0], coalition.heralds[2]
    action, words = next_minute(at_least=45)
    run = await start_run(alice, coalition.coord, words)
    assert "confirmed" in body(await command(alice, coalition.coord, f"!protocol confirm {run}", timeout=60))
    db = herald_c.directory / "data" / "affinity.db"
    await until(lambda: pending_in(db, herald_c.user_id, run) > 0, "C adopted the plan", 150)
    await until(
        lambda: time.time() >= action.timestamp() - 2, "two seconds before the action", 120, every=0.1
    )
    coalition.herald_c.send_signal(signal.SIGSTOP)
    try:
        for room, owner in coalition.rooms.items():
            await until(lambda r=room, o=owner: len(copies_of(o, r, run, "call")) >= 1, "the call", 120)
        await until(lambda: all_decided(coalition.heralds[:2], run), "A and B decided every key", 90)
    finally:
        coalition.herald_c.send_signal(signal.SIGCONT)
    await until(lambda: all_decided(coalition.heralds, run), "C, continued, decided every key", 120)
    counts = {room: len(copies_of(owner, room, run, "call")) for room, owner in coalition.rooms.items()}
    print(f"SIGSTOP: copies {sorted(counts.values())}")
    assert set(counts.values()) == {1}, counts


async def test_cancel_one_second_before_the_action(coalition: Coalition) -> None:
    alice = coalition.people[0]
    action, words = next_minute(at_least=20)
    run = await start_run(alice, coalition.coord, words)
    assert "confirmed" in body(await command(alice, coalition.coord, f"!protocol confirm {run}", timeout=60))
    await until(
        lambda: time.time() >= action.timestamp() - 1, "one second before the action", 120, every=0.05
    )
    reply = body(await command(alice, coalition.coord, f"!protocol cancel {run} weather", timeout=60))
    assert "cancelled" in reply, reply
    for room, owner in coalition.rooms.items():
        await until(lambda r=room, o=owner: len(copies_of(o, r, run, "cancel")) >= 1, "the stand-down", 120)
    alive = coalition.heralds if coalition.herald_c.poll() is None else coalition.heralds[:2]
    for harness in alive:
        later = pending_later_phases(harness, run)
        await until(lambda h=harness: pending_later_phases(h, run) == 0, "no later phase pending", 60)
        print(f"cancel: {harness.user_id} had {later} later phases pending")
    stand_downs = {
        room: len(copies_of(owner, room, run, "cancel")) for room, owner in coalition.rooms.items()
    }
    calls = {room: len(copies_of(owner, room, run, "call")) for room, owner in coalition.rooms.items()}
    print(f"cancel at T-1s: stand-downs {sorted(stand_downs.values())}, calls {sorted(calls.values())}")
    assert set(stand_downs.values()) == {1}, stand_downs
    assert max(calls.values()) <= 1, calls


def pending_later_phases(harness: object, run: str) -> int:
    import sqlite3

    directory = harness.directory  # type: ignore[attr-defined]
    user_id = harness.user_id  # type: ignore[attr-defined]
    with sqlite3.connect(directory / "data" / "affinity.db") as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM herald_delivery WHERE bot = ? AND run_id = ? AND state = 'pending'"
            " AND phase NOT IN ('call', 'cancel')",
            (user_id, run),
        ).fetchone()
    return int(row[0])
