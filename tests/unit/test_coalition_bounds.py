"""The issue's bounds, simulated in pure code: three heralds, twelve rooms, faults on a clock.

Each herald folds the same control-room events, keeps its own heartbeat book, sees the others'
copies after a latency, and runs ``decide_all`` every second. This is the tier-1 twin of the e2e
fault matrix: it proves the rule, the e2e tests prove the wiring.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from protocols.coalition.delivery import (
    Action,
    DeliveryKey,
    PlannedKey,
    SeenCopy,
    decide_all,
    herald_view,
)
from protocols.coalition.liveness import Heartbeat, HeartbeatBook
from protocols.coalition.planhash import message_digest
from protocols.coalition.registry import Registry
from protocols.coalition.reveal import (
    PrivateEvent,
    StateWrite,
    amend_event,
    cancel_state,
    instance_state,
    run_state,
)

H1, H2, H3 = "@herald:one.example", "@herald:two.example", "@herald:three.example"
HERALDS = (H1, H2, H3)
ROOMS = [f"!room{i}:{['one', 'two', 'three'][i % 3]}.example" for i in range(12)]
T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
G = timedelta(seconds=45)
BEAT = timedelta(seconds=30)
LATENCY = timedelta(seconds=2)
START = T - timedelta(minutes=1)
PHASES = {"go": T, "start": T + timedelta(minutes=2)}
_ids = itertools.count()


def digest(room: str, key: str) -> str:
    return message_digest(f"{key} for {room}", None)


def planned(keys: dict[str, datetime]) -> list[PlannedKey]:
    return [
        PlannedKey(DeliveryKey("r42", k, room), due, digest(room, k))
        for k, due in keys.items()
        for room in ROOMS
    ]


def event(write: StateWrite | PrivateEvent, sender: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": write.event_type,
        "sender": sender,
        "event_id": f"$s{next(_ids)}",
        "origin_server_ts": next(_ids),
        "content": write.content,
    }
    if isinstance(write, StateWrite):
        out["state_key"] = write.state_key
    return out


@dataclass
class World:
    """Who is up, who sees whom, and every copy sent so far."""

    crashed_at: dict[str, datetime] = field(default_factory=dict)
    parts: list[frozenset[str]] = field(default_factory=lambda: [frozenset(HERALDS)])
    cancel_at: datetime | None = None
    control_latency: timedelta = LATENCY  # how long a control-room event takes to reach the others
    sent: list[tuple[datetime, SeenCopy]] = field(default_factory=list)

    def up(self, herald: str, now: datetime) -> bool:
        return herald not in self.crashed_at or now < self.crashed_at[herald]

    def linked(self, a: str, b: str) -> bool:
        return any(a in part and b in part for part in self.parts)


def run(
    world: World, keys: list[PlannedKey], until: datetime
) -> dict[DeliveryKey, list[tuple[datetime, str]]]:
    base = [event(instance_state(h), h) for h in HERALDS]
    base.append(event(run_state("r42", rev=1, plan_hash="a" * 64), H1))
    cancel = [
        event(cancel_state("r42"), H2),
        event(amend_event("r42", rev=2, prev_rev=1, plan_hash="b" * 64, cancel=True), H2),
    ]
    plain = Registry.empty(HERALDS).fold(base)
    cancelled = plain.fold(cancel)
    books = {h: HeartbeatBook() for h in HERALDS}
    now = START
    tick = timedelta(seconds=1)
    while now <= until:
        # Heartbeats: each live herald beats every BEAT; linked heralds receive it after LATENCY.
        seq = int((now - START) / BEAT)
        for sender in HERALDS:
            if not world.up(sender, now - LATENCY):
                continue
            for reader in HERALDS:
                if world.linked(sender, reader):
                    books[reader] = books[reader].record(Heartbeat(sender, seq, False), now)
        for me in HERALDS:
            if not world.up(me, now):
                continue
            registry = plain
            lag = world.control_latency if me != H2 else timedelta(0)  # H2 is the one who cancels
            if world.cancel_at is not None and now >= world.cancel_at + lag:
                registry = cancelled
            visible = [
                c
                for at, c in world.sent
                if c.sender == me or (world.linked(c.sender, me) and at + LATENCY <= now)
            ]
            view = herald_view(
                registry,
                books[me],
                me=me,
                now=now,
                joined={r: HERALDS for r in ROOMS},
                copies=visible,
                stagger=G,
            )
            for decision in decide_all(view, keys):
                if decision.action is Action.SEND:
                    k = decision.key
                    ms = int((now - T).total_seconds() * 1000) + 10**12
                    world.sent.append((now, SeenCopy(k, me, f"${next(_ids)}", ms, digest(k.room_id, k.key))))
        now += tick
    copies: dict[DeliveryKey, list[tuple[datetime, str]]] = {p.key: [] for p in keys}
    for at, c in world.sent:
        copies[c.key].append((at, c.sender))
    return copies


def test_no_faults_exactly_one_copy_per_room_and_phase_on_time() -> None:
    copies = run(World(), planned(PHASES), T + timedelta(minutes=5))
    assert all(len(c) == 1 for c in copies.values())
    assert all(c[0][0] == PHASES[k.key] for k, c in copies.items())
    # The work is spread: every herald sends some rooms' messages first.
    assert {c[0][1] for c in copies.values()} == set(HERALDS)


def test_a_herald_killed_before_or_during_a_phase_every_room_still_gets_one_copy() -> None:
    for crash in (T - timedelta(seconds=5), T + timedelta(milliseconds=100), T + G / 2):
        world = World(crashed_at={H1: crash})
        copies = run(world, planned(PHASES), T + timedelta(minutes=6))
        for key, sent in copies.items():
            assert len(sent) == 1, (crash, key, sent)
            assert sent[0][0] <= PHASES[key.key] + G, (crash, key, sent)


def test_two_heralds_killed_the_last_one_delivers_everything() -> None:
    world = World(crashed_at={H1: T - timedelta(minutes=1), H2: T - timedelta(minutes=1)})
    copies = run(world, planned(PHASES), T + timedelta(minutes=6))
    assert all(len(c) == 1 and c[0][1] == H3 for c in copies.values())
    assert all(c[0][0] <= PHASES[k.key] + 2 * G for k, c in copies.items())


def test_a_partition_into_two_parts_each_delivers_never_zero_at_most_two() -> None:
    world = World(parts=[frozenset({H1}), frozenset({H2, H3})])
    copies = run(world, planned({"go": T}), T + timedelta(minutes=4))
    assert all(1 <= len(c) <= 2 for c in copies.values())
    assert any(len(c) == 2 for c in copies.values())  # exactly-once is impossible here


def test_cancel_one_second_before_t_no_phase_after_it_is_delivered() -> None:
    keys = planned(PHASES) + [
        PlannedKey(DeliveryKey("r42", "cancel", room), T - timedelta(seconds=1), digest(room, "cancel"))
        for room in ROOMS
    ]
    world = World(cancel_at=T - timedelta(seconds=1), control_latency=timedelta(milliseconds=500))
    copies = run(world, keys, T + timedelta(minutes=5))
    for key, sent in copies.items():
        assert len(sent) == (1 if key.key == "cancel" else 0), (key, sent)


def test_a_cancel_later_than_the_latency_cannot_stop_that_phase_but_stops_the_next() -> None:
    # The documented limit: a cancel that reaches a herald after the phase's time is too late for
    # that phase (and a stand-down follows); every later phase is stopped.
    keys = planned(PHASES) + [
        PlannedKey(DeliveryKey("r42", "cancel", room), T - timedelta(seconds=1), digest(room, "cancel"))
        for room in ROOMS
    ]
    world = World(cancel_at=T - timedelta(seconds=1), control_latency=timedelta(seconds=3))
    copies = run(world, keys, T + timedelta(minutes=5))
    assert all(len(c) == 1 for k, c in copies.items() if k.key == "cancel")
    assert all(len(c) <= 1 for k, c in copies.items() if k.key == "go")
    assert all(c == [] for k, c in copies.items() if k.key == "start")
