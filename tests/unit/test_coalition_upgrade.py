"""Upgrading a single-herald coalition into a control room loses no run, delivery or ack."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bots.herald.render_phases import say
from protocols.coalition.delivery import Action, HeraldView, decide_all
from protocols.coalition.plan_parts import assemble_plan
from protocols.coalition.registry import Registry
from protocols.coalition.reveal import PrivateEvent, StateWrite, check_state
from protocols.coalition.upgrade import upgrade_single_herald
from protocols.herald.plan import MemberRoom, PlannedMessage, make_amendment, make_cancellation, make_plan
from protocols.herald.templates import load_library, shipped_library

ME = "@herald:one.example"
COORD = "!coord:one.example"
NATIONAL = load_library([shipped_library()])["national-day-of-action"]
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROOMS = [
    MemberRoom("!paris:one.example", ZoneInfo("Europe/Paris"), {}),
    MemberRoom("!nyc:two.example", ZoneInfo("America/New_York"), {}),
]
_ids = itertools.count()


@dataclass(frozen=True)
class Member:
    room_id: str
    homeserver: str
    liaison: str | None


@dataclass(frozen=True)
class Run:
    run_id: str
    template: str
    action_at: datetime
    state: str


@dataclass(frozen=True)
class Delivery:
    room_id: str
    phase_key: str
    due_at: datetime
    body: str
    html: str
    state: str
    event_id: str | None
    sent_at: datetime | None
    acked_at: datetime | None


def delivered(m: PlannedMessage, *, sent: bool, acked: bool = False, state: str | None = None) -> Delivery:
    return Delivery(
        m.room_id,
        m.phase_key,
        m.due_at,
        m.body,
        m.html,
        state or ("sent" if sent else "pending"),
        f"$d{next(_ids)}" if sent else None,
        m.due_at if sent else None,
        m.due_at + timedelta(minutes=5) if acked else None,
    )


def as_event(write: StateWrite | PrivateEvent) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": write.event_type,
        "sender": ME,
        "event_id": f"$u{next(_ids)}",
        "origin_server_ts": next(_ids),
        "content": write.content,
    }
    if isinstance(write, StateWrite):
        event["state_key"] = write.state_key
    return event


def legacy() -> tuple[list[Member], list[Run], dict[str, list[Delivery]], dict[str, int]]:
    members = [
        Member("!paris:one.example", "one.example", "@ana:one.example"),
        Member("!nyc:two.example", "two.example", None),
    ]
    live = make_plan("live1", NATIONAL, ACTION, ROOMS, NOW, render=say)
    amended = make_amendment(
        "live1", "confirmed", 1, "New meeting point.", NATIONAL, ACTION, ROOMS, NOW, render=say
    )
    first_key = live[0].phase_key
    live_d = [
        delivered(
            m,
            sent=m.phase_key == first_key,
            acked=m.room_id == "!paris:one.example" and m.phase_key == first_key,
        )
        for m in live
    ]
    live_d += [delivered(m, sent=True) for m in amended]
    gone = make_plan("gone1", NATIONAL, ACTION, ROOMS, NOW, render=say)
    stand_down = make_cancellation("gone1", "confirmed", "", NATIONAL, ACTION, ROOMS, [], NOW, render=say)
    gone_d = [delivered(m, sent=False, state="cancelled") for m in gone]
    gone_d += [delivered(m, sent=True) for m in stand_down.messages]
    runs = [
        Run("live1", NATIONAL.name, ACTION, "confirmed"),
        Run("gone1", NATIONAL.name, ACTION, "cancelled"),
        Run("draft1", NATIONAL.name, ACTION, "planned"),
    ]
    return members, runs, {"live1": live_d, "gone1": gone_d}, {"live1": 1}


def test_the_control_room_gets_every_run_room_and_ack_and_state_reveals_no_plan() -> None:
    members, runs, deliveries, amendments = legacy()
    salts = {r.run_id: bytes([i]) * 16 for i, r in enumerate(runs)}
    up = upgrade_single_herald(ME, COORD, members, runs, deliveries, amendments, salts)
    for write in up.state:
        check_state(write.event_type, write.state_key, write.content)
    writes: list[StateWrite | PrivateEvent] = [*up.state, *up.private]
    reg = Registry.empty([ME]).fold(as_event(w) for w in writes)
    assert reg.live_heralds == {ME}
    assert reg.coordination_rooms == {COORD}
    assert {r: (m.homeserver, m.liaison) for r, m in reg.member_rooms.items()} == {
        "!paris:one.example": ("one.example", "@ana:one.example"),
        "!nyc:two.example": ("two.example", None),
    }
    assert set(reg.runs) == {"live1", "gone1"}  # the never-confirmed draft stays local
    assert (reg.runs["live1"].rev, reg.runs["live1"].cancelled) == (2, False)
    assert (reg.runs["gone1"].rev, reg.runs["gone1"].cancelled) == (2, True)
    assert reg.runs["live1"].template == NATIONAL.name and reg.runs["live1"].action_time == ACTION
    acked = {(d.room_id, d.phase_key) for d in deliveries["live1"] if d.acked_at}
    assert reg.acked("live1") == acked and len(acked) == 1
    # Every message of every run can be reassembled by another herald, and checks out.
    events = [as_event(p) for p in up.private]
    for run_id, run in reg.runs.items():
        shared = assemble_plan(
            events, run_id=run_id, rev=run.rev, expected_hash=run.plan_hash, registered=[ME]
        )
        assert shared is not None and len(shared.messages) == len(deliveries[run_id])


def test_after_the_upgrade_one_herald_behaves_as_today() -> None:
    members, runs, deliveries, amendments = legacy()
    salts = {r.run_id: bytes([7]) * 16 for r in runs}
    up = upgrade_single_herald(ME, COORD, members, runs, deliveries, amendments, salts)
    writes: list[StateWrite | PrivateEvent] = [*up.state, *up.private]
    reg = Registry.empty([ME]).fold(as_event(w) for w in writes)
    events = [as_event(p) for p in up.private]
    view = HeraldView(
        me=ME,
        now=ACTION + timedelta(days=1),
        registered=reg.admitted,
        live=reg.live_heralds,
        joined={m.room_id: frozenset({ME}) for m in members},
        alive=frozenset({ME}),
        copies=up.own_copies,
        cancelled_runs=frozenset(r for r in reg.runs if reg.is_cancelled(r)),
    )
    for run_id, run in reg.runs.items():
        shared = assemble_plan(
            events, run_id=run_id, rev=run.rev, expected_hash=run.plan_hash, registered=[ME]
        )
        assert shared is not None
        fate = {(d.room_id, d.phase_key): d.state for d in deliveries[run_id]}
        for decision in decide_all(view, shared.planned_keys()):
            was = fate[(decision.key.room_id, decision.key.key)]
            # Sent stays sent, pending is sent now (alone, no stagger), skipped stays skipped.
            expected = {"sent": Action.HOLD, "pending": Action.SEND, "cancelled": Action.HOLD}[was]
            assert decision.action is expected, (decision, was)


def test_nothing_is_written_when_a_record_cannot_be_represented() -> None:
    members, runs, deliveries, amendments = legacy()
    with pytest.raises(ValueError, match="salt"):
        upgrade_single_herald(ME, COORD, members, runs, deliveries, amendments, {})
    with pytest.raises(ValueError):
        upgrade_single_herald(ME, COORD, [Member("!r", "bad host", None)], [], {}, {}, {})
