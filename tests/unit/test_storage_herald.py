"""Contract tests of the herald repositories against a temporary SQLite database."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.herald.render_phases import say
from protocols.herald.board import escalations_due
from protocols.herald.plan import (
    MemberRoom,
    PlannedMessage,
    make_amendment,
    make_cancellation,
    make_plan,
)
from protocols.herald.templates import load_library, shipped_library
from storage.db import Database, Migration
from storage.herald import Coalitions, HeraldEvents, HeraldRuns, LocalDetails

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TEMPLATE = load_library([shipped_library()])["national-day-of-action"]
ROOMS = [
    MemberRoom("!paris:a.org", ZoneInfo("Europe/Paris"), {"meeting_point": "République"}),
    MemberRoom("!nyc:b.org", ZoneInfo("America/New_York"), {}),
]


def _migrations() -> list[Migration]:
    # Only the runtime's and ours: the herald tables must not depend on other features'.
    folder = resources.files("storage.migrations")
    return [
        Migration(n, name, (folder / name).read_text("utf-8"))
        for n, name in [(1, "001_runtime.sql"), (5, "005_herald.sql"), (8, "008_herald_consent.sql")]
    ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "herald.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


async def _coalition(db: Database) -> Coalitions:
    coalitions = Coalitions(db)
    await coalitions.join("nk", "!paris:a.org", "a.org", "@ana:a.org", NOW)
    await coalitions.join("nk", "!nyc:b.org", "b.org", None, NOW + timedelta(seconds=1))
    return coalitions


async def _confirmed_run(db: Database) -> tuple[HeraldRuns, list[PlannedMessage]]:
    await _coalition(db)
    runs = HeraldRuns(db)
    await runs.create("run1", "nk", TEMPLATE.name, ACTION, NOW)
    plan = make_plan("run1", TEMPLATE, ACTION, ROOMS, NOW, coalition="nk", render=say)
    assert await runs.confirm("run1", plan, NOW)
    return runs, plan


# --- coalitions and local details ---------------------------------------------------------


async def test_the_first_room_creates_and_coordinates_the_coalition(db: Database) -> None:
    coalitions = Coalitions(db)
    first = await coalitions.join("nk", "!paris:a.org", "a.org", "@ana:a.org", NOW)
    assert first.created and not first.already_member
    assert first.coalition.coordination_room == "!paris:a.org"
    second = await coalitions.join("nk", "!nyc:b.org", "b.org", None, NOW + timedelta(hours=1))
    assert not second.created and second.coalition.coordination_room == "!paris:a.org"
    again = await coalitions.join("nk", "!nyc:b.org", "b.org", None, NOW + timedelta(hours=2))
    assert again.already_member
    members = await coalitions.members("nk")
    assert [(m.room_id, m.homeserver, m.liaison) for m in members] == [
        ("!paris:a.org", "a.org", "@ana:a.org"),
        ("!nyc:b.org", "b.org", None),
    ]
    assert members[1].joined_at == NOW + timedelta(hours=1)  # the first join counts
    assert [c.name for c in await coalitions.coalitions_of("!nyc:b.org")] == ["nk"]
    assert [c.name for c in await coalitions.coordinated_by("!paris:a.org")] == ["nk"]
    assert await coalitions.coordinated_by("!nyc:b.org") == []


async def test_leave_liaison_and_dissolve(db: Database) -> None:
    coalitions = await _coalition(db)
    assert await coalitions.set_liaison("nk", "!nyc:b.org", "@bo:b.org")
    assert not await coalitions.set_liaison("nk", "!nowhere:c.org", "@x:c.org")
    assert (await coalitions.members("nk"))[1].liaison == "@bo:b.org"
    assert await coalitions.leave("nk", "!nyc:b.org")
    assert not await coalitions.leave("nk", "!nyc:b.org")
    assert await coalitions.coalitions_of("!nyc:b.org") == []
    await HeraldEvents(db).add("nk", "!paris:a.org", "Rally", ACTION, None, NOW)
    assert await coalitions.delete("nk")
    assert await coalitions.get("nk") is None
    assert await coalitions.members("nk") == []
    assert await HeraldEvents(db).list_for("nk") == []


async def test_local_details(db: Database) -> None:
    local = LocalDetails(db)
    await local.set("!paris:a.org", "meeting_point", "République", NOW)
    await local.set("!paris:a.org", "meeting_point", "Bastille", NOW)
    await local.set("!paris:a.org", "timezone", "Europe/Paris", NOW)
    await local.set("!nyc:b.org", "language", "English", NOW)
    assert await local.get_all("!paris:a.org") == {
        "meeting_point": "Bastille",
        "timezone": "Europe/Paris",
    }
    assert await local.unset("!paris:a.org", "timezone")
    assert not await local.unset("!paris:a.org", "timezone")
    assert await local.forget_room("!paris:a.org") == 1
    assert await local.get_all("!paris:a.org") == {}
    assert await local.get_all("!nyc:b.org") == {"language": "English"}


# --- runs ---------------------------------------------------------------------------------


async def test_confirm_stores_the_plan_once(db: Database) -> None:
    runs, plan = await _confirmed_run(db)
    run = await runs.get("run1")
    assert run is not None and run.state == "confirmed" and run.action_at == ACTION
    stored = await runs.deliveries("run1")
    assert {d.txn_id for d in stored} == {m.txn_id for m in plan}
    assert all(d.state == "pending" and d.escalation_step == 0 for d in stored)
    first = next(d for d in stored if d.txn_id == plan[0].txn_id)
    assert (first.due_at, first.ack_by, first.body, first.html) == (
        plan[0].due_at,
        plan[0].ack_by,
        plan[0].body,
        plan[0].html,
    )
    assert not await runs.confirm("run1", plan, NOW)  # a second confirm changes nothing
    assert await runs.add_messages(plan) == 0  # same txn ids: never stored twice
    assert len(await runs.deliveries("run1")) == len(plan)
    assert [r.run_id for r in await runs.list_for("nk", ["confirmed"])] == ["run1"]
    assert await runs.list_for("nk", ["planned"]) == []


async def test_due_send_fail_and_done(db: Database) -> None:
    runs, plan = await _confirmed_run(db)
    assert await runs.next_due_at() == plan[0].due_at
    assert await runs.due(plan[0].due_at - timedelta(seconds=1)) == []
    due = await runs.due(plan[0].due_at)
    assert {d.txn_id for d in due} == {m.txn_id for m in plan if m.due_at == plan[0].due_at}
    assert await runs.mark_failed(due[0].txn_id, "forbidden")
    assert await runs.mark_sent(due[1].txn_id, "$e1", NOW)
    assert not await runs.mark_sent(due[1].txn_id, "$e2", NOW)  # once sent, stays sent
    assert await runs.mark_sent(due[0].txn_id, "$e0", NOW)  # a retry after failure may succeed
    sent = await runs.delivery(due[0].txn_id)
    assert sent is not None and sent.state == "sent" and sent.event_id == "$e0"
    assert sent.error is None and sent.sent_at == NOW
    assert not await runs.mark_done("run1", NOW)  # still pending phases
    for m in plan:
        await runs.mark_sent(m.txn_id, "$" + m.txn_id, NOW)
    assert await runs.next_due_at() is None
    assert await runs.mark_done("run1", NOW)
    done = await runs.get("run1")
    assert done is not None and done.state == "done"


async def test_ack_and_escalation_are_recorded_once(db: Database) -> None:
    runs, plan = await _confirmed_run(db)
    announce = [m for m in plan if m.phase_key == "announce"]
    for m in announce:
        await runs.mark_sent(m.txn_id, "$" + m.txn_id, NOW)
    # Nothing to acknowledge in a room that has not been sent anything needing it.
    assert await runs.ack("run1", "!nowhere:c.org", "@x:c.org", NOW) == 0
    assert await runs.ack("run1", "!paris:a.org", "@ana:a.org", NOW) == 1
    assert await runs.ack("run1", "!paris:a.org", "@ana:a.org", NOW) == 0
    stored = await runs.deliveries("run1")
    paris = next(d for d in stored if d.txn_id == announce[0].txn_id)
    assert paris.acked_at == NOW and paris.acked_by == "@ana:a.org"
    assert announce[0].ack_by is not None
    late = announce[0].ack_by + timedelta(days=3)
    due = escalations_due(TEMPLATE, stored, late)
    assert [(e.room_id, e.step) for e in due] == [("!nyc:b.org", 1), ("!nyc:b.org", 2)]
    for e in due:
        assert await runs.record_escalation(e.txn_id, e.step)
        assert not await runs.record_escalation(e.txn_id, e.step)
    assert escalations_due(TEMPLATE, await runs.deliveries("run1"), late) == []


async def test_amendments_are_numbered_and_ask_for_fresh_acks(db: Database) -> None:
    runs, _ = await _confirmed_run(db)
    seq = await runs.next_amendment_seq("run1")
    assert seq == 1
    messages = make_amendment(
        "run1", "confirmed", seq, "North gate", TEMPLATE, ACTION, ROOMS, NOW, render=say
    )
    assert await runs.amend("run1", seq, "North gate", messages, NOW)
    assert not await runs.amend("run1", seq, "again", messages, NOW)  # number taken
    assert await runs.next_amendment_seq("run1") == 2
    assert [(a.seq, a.text) for a in await runs.amendments("run1")] == [(1, "North gate")]
    amend = [d for d in await runs.deliveries("run1") if d.phase_key == "amend-1"]
    assert len(amend) == 2 and all(d.ack_by == NOW + timedelta(hours=1) for d in amend)
    await runs.mark_sent(amend[0].txn_id, "$a", NOW)
    assert await runs.ack("run1", amend[0].room_id, "@ana:a.org", NOW, phase_key="amend-1") == 1


async def test_amending_a_run_that_is_not_confirmed_is_refused(db: Database) -> None:
    await _coalition(db)
    runs = HeraldRuns(db)
    await runs.create("run2", "nk", TEMPLATE.name, ACTION, NOW)
    assert not await runs.amend("run2", 1, "x", [], NOW)
    assert await runs.amendments("run2") == []


async def test_cancel_skips_pending_and_stores_the_stand_down(db: Database) -> None:
    runs, plan = await _confirmed_run(db)
    await runs.mark_sent(plan[0].txn_id, "$first", NOW)
    stored = await runs.deliveries("run1")
    result = make_cancellation(
        "run1",
        "confirmed",
        "storm",
        TEMPLATE,
        ACTION,
        ROOMS,
        [(d.txn_id, d.state) for d in stored],
        NOW,
        render=say,
    )
    assert await runs.cancel("run1", result.messages, NOW)
    assert not await runs.cancel("run1", result.messages, NOW)
    run = await runs.get("run1")
    assert run is not None and run.state == "cancelled"
    after = {d.txn_id: d for d in await runs.deliveries("run1")}
    assert after[plan[0].txn_id].state == "sent"
    assert {t for t, d in after.items() if d.state == "cancelled"} == set(result.skip_txn_ids)
    due = await runs.due(NOW)
    assert {d.phase_key for d in due} == {"cancel"} and len(due) == len(ROOMS)
    assert not await runs.mark_done("run1", NOW)


async def test_forget_old_runs_after_naming_messages_to_redact(db: Database) -> None:
    runs, plan = await _confirmed_run(db)
    await runs.mark_sent(plan[0].txn_id, "$old", NOW)
    await runs.create("fresh", "nk", TEMPLATE.name, ACTION + timedelta(days=30), NOW)
    await runs.create("stale", "nk", TEMPLATE.name, ACTION + timedelta(days=30), NOW)
    await runs.confirm("fresh", [], NOW)
    cutoff = ACTION + timedelta(days=1)  # after run1's action; "stale" was never confirmed
    assert await runs.sent_messages_older_than(cutoff) == [(plan[0].room_id, "$old")]
    assert await runs.forget_older_than(ACTION - timedelta(days=20)) == 0
    assert await runs.forget_older_than(cutoff) == 2
    assert await runs.get("run1") is None and await runs.get("stale") is None
    assert await runs.get("fresh") is not None
    assert await runs.deliveries("run1") == []
    assert await db.fetchone("SELECT 1 FROM herald_delivery WHERE run_id = 'run1'") is None


# --- events -------------------------------------------------------------------------------


async def test_events_list_and_forget(db: Database) -> None:
    await _coalition(db)
    events = HeraldEvents(db)
    late = await events.add("nk", "!nyc:b.org", "Rally", ACTION + timedelta(days=1), "Union Sq", NOW)
    early = await events.add("nk", "!paris:a.org", "Town hall", ACTION, None, NOW)
    listed = await events.list_for("nk")
    assert [(e.id, e.title, e.place) for e in listed] == [
        (early, "Town hall", None),
        (late, "Rally", "Union Sq"),
    ]
    assert listed[0].starts_at == ACTION and listed[0].created_at == NOW
    assert [e.id for e in await events.list_for("nk", since=ACTION + timedelta(hours=1))] == [late]
    assert await events.forget_older_than(ACTION + timedelta(hours=1)) == 1
    assert [e.id for e in await events.list_for("nk")] == [late]
    assert await events.forget_older_than(ACTION + timedelta(days=2)) == 1
    assert await events.list_for("nk") == []


async def test_runs_need_a_coalition(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await HeraldRuns(db).create("orphan", "nobody", TEMPLATE.name, ACTION, NOW)
