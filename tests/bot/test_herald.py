"""Tier 2: the herald through the runtime, with a fake homeserver.

Coalitions, plans, confirmation and delivery, acknowledgements (command and reaction),
escalation, amendments, stand-downs, the calendar and its .ics upload, refusals and resuming a
broadcast after a crash; and the bad input that must change nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import yaml

from bots.calendar import CalendarFeature
from bots.herald import HeraldFeature
from bots.runtime.bot import FeatureFactory
from bots.runtime.contract import factory
from bots.runtime.delivery import KindedSender
from bots.runtime.errors import TransportError
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from bots.runtime.outbox import Outbox
from bots.runtime.scheduler import Scheduler
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, close, fake_bot

ALICE = "@alice:test.example"  # moderator of the coordination room
BOB = "@bob:test.example"  # moderator and liaison of room B
CAROL = "@carol:test.example"  # moderator and liaison of room C
DAN = "@dan:test.example"  # member of room B, no power
ROOM_B = "!b:test.example"
ROOM_C = "!c:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def herald(bot: FakeBot) -> HeraldFeature:
    return next(f for f in bot.features if isinstance(f, HeraldFeature))


def herald_factory(config_extra: str = "") -> FeatureFactory:
    """The herald as the runtime builds it, with the ``features.herald`` section of ``config_extra``."""
    raw = yaml.safe_load(config_extra or "{}") or {}
    return factory(HeraldFeature, (raw.get("features") or {}).get("herald") or {})


async def settle(bot: FakeBot) -> None:
    """Let the outbox send and the herald record every outcome."""
    for _ in range(3):
        await bot.flush()
        await herald(bot).settle()
    await bot.flush()


async def invite(bot: FakeBot, room: str = "", sender: str = ALICE, where: str = ROOM) -> str:
    """A one-time invitation token issued in the coordination room."""
    [reply] = await bot.say(where, sender, f"!coalition invite {room}".strip())
    match = re.search(r"cj-[a-z2-7]{32}", reply.body)
    assert match, reply.body
    return match.group(0)


async def coalition(tmp_path: Path, config_extra: str = "") -> FakeBot:
    """A coalition 'spring' coordinated from ROOM, with rooms B and C as members."""
    bot = await fake_bot(
        tmp_path,
        [herald_factory(config_extra), CalendarFeature],  # the calendar: !event and !events (bots/calendar)
        members=[ALICE],
        moderators=[ALICE],
        now=NOW,
        config_extra=config_extra,
    )
    await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
    await add_room(bot, ROOM_C, [CAROL], moderators=[CAROL])
    bot.fake.names.update({ROOM: "Coordination", ROOM_B: "Lyon group", ROOM_C: "Leeds group"})
    [created] = await bot.say(ROOM, ALICE, "!coalition create spring")
    assert "coordinates it" in created.body
    [joined_b] = [
        s for s in await bot.say(ROOM_B, BOB, f"!coalition join {await invite(bot)}") if s.room_id == ROOM_B
    ]
    assert "joined coalition spring" in joined_b.body, joined_b.body
    await bot.say(ROOM_C, CAROL, f"!coalition join {await invite(bot)}")
    await bot.say(ROOM_B, BOB, "!local set meeting_point Place Bellecour, by the statue")
    await bot.say(ROOM_B, BOB, "!local set timezone Europe/Paris")
    return bot


async def start_run(bot: FakeBot, template: str, when: str) -> str:
    [plan] = await bot.say(ROOM, ALICE, f"!protocol start {template} at {when}")
    match = re.search(r"Plan (\w+):", plan.body)
    assert match, plan.body
    return match.group(1)


def in_room(sent: list[Sent], room: str) -> list[Sent]:
    return [s for s in sent if s.room_id == room]


async def test_coalition_membership_liaison_and_rooms(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        notes = [s.body for s in bot.fake.sent if s.room_id == ROOM and "joined coalition spring" in s.body]
        assert len(notes) == 2 and any("Lyon group (test.example)" in n for n in notes)
        [rooms] = await bot.say(ROOM_C, CAROL, "!coalition rooms")
        assert "Coordination (coordination) — test.example — liaison @alice:test.example" in rooms.body
        assert "<li>" in rooms.html and "<table" not in rooms.html and "Leeds group" in rooms.html
        [again] = await bot.say(ROOM_B, BOB, f"!coalition join {await invite(bot)}")
        assert "already in coalition spring" in again.body
        [denied] = await bot.say(ROOM_B, DAN, f"!coalition join {await invite(bot)}")
        assert "power level 50" in denied.body
        [liaison] = await bot.say(ROOM_B, BOB, f"!coalition liaison {DAN}")
        assert f"{DAN} is now this room's liaison" in liaison.body
        [stranger] = await bot.say(ROOM_B, BOB, "!coalition liaison @eve:test.example")
        assert "not in this room" in stranger.body
        [stay] = await bot.say(ROOM, ALICE, "!coalition leave")
        assert "coordinates coalition spring" in stay.body
        left, note = await bot.say(ROOM_C, CAROL, "!coalition leave")
        assert "left coalition spring" in left.body
        assert note.room_id == ROOM and note.body == "➖ Leeds group left coalition spring."
        members = await herald(bot).coalitions.members("spring")
        assert {m.room_id for m in members} == {ROOM, ROOM_B}
        [lyon] = [m for m in members if m.room_id == ROOM_B]
        assert lyon.liaison == DAN and lyon.homeserver == "test.example"
        [local] = await bot.say(ROOM_B, DAN, "!local show")
        assert "meeting_point: Place Bellecour, by the statue" in local.body
        [bad] = await bot.say(ROOM_B, DAN, "!local set mood great")
        assert "not a local detail" in bad.body
    finally:
        await close(bot)


async def test_templates_list_and_show(tmp_path: Path) -> None:
    extra = tmp_path / "templates"
    extra.mkdir()
    (extra / "vigil.yaml").write_text(
        "name: vigil\ndescription: A quiet vigil.\nphases:\n"
        "  - key: gather\n    offset: '0'\n    title: Gather\n    message: Gather at $meeting_point.\n"
    )
    (extra / "broken.yaml").write_text("name: broken\nphases: []\n")
    extra_config = f"features:\n  herald:\n    template_dirs: ['{extra}']\n"
    bot = await fake_bot(tmp_path, [herald_factory(extra_config)], members=[ALICE], config_extra=extra_config)
    try:
        [listing] = await bot.say(ROOM, ALICE, "!protocol list")
        assert "national-day-of-action" in listing.body and "rapid-response" in listing.body
        assert "vigil — 1 phase:" in listing.body and "1 template file could not be loaded" in listing.body
        [show] = await bot.say(ROOM, ALICE, "!protocol show national-day-of-action")
        assert "announce — Announcement (ack within 2d)" in show.body
        assert "<li>" in show.html and "<table" not in show.html and "Marshals named and briefed" in show.html
        [unknown] = await bot.say(ROOM, ALICE, "!protocol show nope")
        assert "no template 'nope'" in unknown.body and "rapid-response" in unknown.body
    finally:
        await close(bot)


async def test_plan_confirm_deliver_ack_and_escalate(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        # Nothing is sent before confirmation; the plan is rooms x phases in each room's zone.
        plan = next(s for s in bot.fake.sent if f"Plan {run}" in s.body)
        assert "3 rooms x 3 phases = 9 messages" in plan.body
        assert "11-22 14:00 CET" in plan.html  # room B reads its own zone
        missing = next(line for line in plan.body.split("\n") if line.startswith("Local details not set yet"))
        assert "Leeds group" in missing and "Coordination" in missing
        [confirmed] = await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        assert "9 messages to 3 rooms" in confirmed.body and "Next at 2026-11-22 13:00 UTC" in confirmed.body
        jobs = [j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]
        assert len(jobs) == 3
        # Each room's key is shared ahead of its first phase (a run confirmed while running).
        assert bot.keys_ahead.pending() == 3

        bot.now = NOW + timedelta(hours=1)
        call_job = min(jobs, key=lambda j: int(j.rsplit("-", 1)[1]))
        batches: list[int] = []
        enqueue_batch = bot.outbox.enqueue_batch

        async def counted(items: Any) -> int:
            batches.append(len(items))
            return await enqueue_batch(items)

        bot.outbox.enqueue_batch = counted  # type: ignore[method-assign]
        sent = await bot.fire(call_job)
        assert batches == [3]  # the phase to its three rooms, queued in one transaction
        await settle(bot)
        calls = [s for s in sent if "Call-out" in s.body]
        assert sorted(s.room_id for s in calls) == sorted([ROOM, ROOM_B, ROOM_C])
        lyon = in_room(calls, ROOM_B)[0]
        assert "Place Bellecour, by the statue" in lyon.body and "14:00 CET" in lyon.body
        assert "[not set yet: !local set meeting_point <value>]" in in_room(calls, ROOM_C)[0].body
        assert f"!ack {run}" in lyon.body

        # The liaison of B acks with the command; C's liaison with the reaction; a plain member's
        # reaction does not count.
        [acked] = await bot.say(ROOM_B, BOB, f"!ack {run}")
        assert "Acknowledged run" in acked.body and "call" in acked.body
        [nothing] = await bot.say(ROOM_B, BOB, "!ack")
        assert "Nothing from any run awaits" in nothing.body
        [not_liaison] = await bot.say(ROOM_B, DAN, "!ack")
        assert "Only this room's liaison" in not_liaison.body
        leeds = in_room(calls, ROOM_C)[0]
        assert await bot.react(ROOM_C, "@nobody:test.example", leeds.event_id, "✅") == []
        [thanks] = await bot.react(ROOM_C, CAROL, leeds.event_id, "✅️")
        assert "Acknowledged for this room by @carol:test.example" in thanks.body

        [board] = await bot.say(ROOM_C, CAROL, f"!protocol status {run}")
        assert "<li>" in board.html and "<table" not in board.html and "Lyon group: call ✅" in board.body
        assert "Coordination: call ⏳" in board.body

        # The coordination room (also a member) stays silent: at the deadline its liaison gets
        # a DM (a new encrypted direct room), half a window later the coordinators get a note.
        bot.now = NOW + timedelta(hours=1, minutes=16)
        sent = await bot.fire(f"herald:escalate-{run}")
        [dm] = bot.fake.created
        assert dm["is_direct"] and dm["encrypted"] and dm["invite"] == [ALICE]
        [reminder] = in_room(sent, dm["room_id"])
        assert "Coordination has not acknowledged “Call-out”" in reminder.body
        bot.now = NOW + timedelta(hours=1, minutes=24)
        sent = await bot.fire(f"herald:escalate-{run}")
        [note] = in_room(sent, ROOM)
        assert "No acknowledgement from Coordination (test.example)" in note.body
        assert len(bot.fake.created) == 1  # one DM room per liaison, not one per reminder
        # The liaison may answer the reminder from the DM.
        bot.direct_rooms[dm["room_id"]] = True
        await bot._set_joined_ts(dm["room_id"], 0, overwrite=True)
        [from_dm] = await bot.say(dm["room_id"], ALICE, f"!ack {run}")
        assert f"Acknowledged run {run} for Coordination: call" in from_dm.body
    finally:
        await close(bot)


async def test_a_phase_already_due_goes_out_at_once(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        sent = await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        assert "Going out now: call" in sent[0].body
        assert len([s for s in bot.fake.sent if s.txn_id.startswith(f"aff-{run}-call-")]) == 3
        deliveries = await herald(bot).runs.deliveries(run)
        assert {d.state for d in deliveries if d.phase_key == "call"} == {"sent"}
        [again] = await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        assert "only a planned run can be confirmed" in again.body
    finally:
        await close(bot)


async def test_amend_and_cancel_reach_every_room_and_ask_for_fresh_acks(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:05")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        bot.now = NOW + timedelta(minutes=5)
        await bot.fire(next(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")))
        await settle(bot)
        await bot.say(ROOM_B, BOB, f"!ack {run}")
        calls = {s.room_id: s for s in bot.fake.sent if "Call-out" in s.body}

        before = len(bot.fake.sent)
        reply = (
            await bot.say(ROOM, ALICE, f"!protocol amend {run} Meet at the north gate instead, it's safer")
        )[0]
        await settle(bot)
        sent = bot.fake.sent[before:]
        assert "Amendment #1" in reply.body
        notices = [s for s in sent if "AMENDED (#1)" in s.body and "m.new_content" not in s.content]
        assert sorted(s.room_id for s in notices) == sorted([ROOM, ROOM_B, ROOM_C])
        assert all("Meet at the north gate instead, it's safer" in s.body for s in notices)
        edits = [s for s in sent if "m.new_content" in s.content]
        assert {s.content["m.relates_to"]["event_id"] for s in edits} == {c.event_id for c in calls.values()}
        assert all(s.content["m.relates_to"]["rel_type"] == "m.replace" for s in edits)
        [board] = await bot.say(ROOM, ALICE, f"!protocol status {run}")
        assert "Lyon group: call ✅, check ·, debrief ·, amend-1 ⏳" in board.body.replace("✉️", "·")

        before = len(bot.fake.sent)
        reply = (await bot.say(ROOM, ALICE, f"!protocol cancel {run} Police closed the square"))[0]
        assert "stand-down is going out to 3 rooms" in reply.body
        await settle(bot)
        sent = bot.fake.sent[before:]
        stand_downs = [s for s in sent if "STAND DOWN" in s.body and "m.new_content" not in s.content]
        assert sorted(s.room_id for s in stand_downs) == sorted([ROOM, ROOM_B, ROOM_C])
        assert all("Police closed the square" in s.body for s in stand_downs)
        assert len([s for s in sent if "m.new_content" in s.content and "CANCELLED" in s.body]) == 3
        assert not [j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]
        # A later phase never goes out, even if its job fires anyway.
        bot.now = NOW + timedelta(hours=3)
        assert await herald(bot).deliver_due(run) == 0
        await settle(bot)
        assert not [
            s for s in bot.fake.sent if s.txn_id.startswith((f"aff-{run}-check-", f"aff-{run}-debrief-"))
        ]
        [twice] = await bot.say(ROOM, ALICE, f"!protocol cancel {run}")
        assert "already cancelled" in twice.body
        [late] = await bot.say(ROOM, ALICE, f"!protocol amend {run} more")
        assert "can no longer be amended" in late.body
    finally:
        await close(bot)


async def test_bad_input_changes_nothing_and_sends_nothing(tmp_path: Path) -> None:
    bot = await coalition(
        tmp_path, config_extra="  coordinators: ['@alice:test.example', 'allies.example']\n"
    )
    try:
        runs = herald(bot).runs
        [unknown] = await bot.say(ROOM, ALICE, "!protocol start nope at 2026-12-01 12:00")
        assert "There is no template 'nope'" in unknown.body
        [past] = await bot.say(ROOM, ALICE, "!protocol start rapid-response at 2026-11-01 12:00")
        assert "is in the past" in past.body
        [garbled] = await bot.say(ROOM, ALICE, "!protocol start rapid-response at tomorrow-ish")
        assert "not a valid" in garbled.body or "use" in garbled.body.lower()
        [no_at] = await bot.say(ROOM, ALICE, "!protocol start rapid-response")
        assert "Usage: !protocol start <template> at <when>" in no_at.body
        await add_room(bot, ROOM, [ALICE, DAN], moderators=[ALICE, "@zed:test.example"])
        [weak] = await bot.say(ROOM, DAN, "!protocol start rapid-response at 2026-12-01 12:00")
        assert "power level 50" in weak.body
        [not_listed] = await bot.say(
            ROOM, "@zed:test.example", "!protocol start rapid-response at 2026-12-01 12:00"
        )
        assert "access.coordinators" in not_listed.body
        [member_room] = await bot.say(ROOM_B, BOB, "!protocol start rapid-response at 2026-12-01 12:00")
        assert "coordination room" in member_room.body
        [no_run] = await bot.say(ROOM, ALICE, "!protocol confirm zzzz")
        assert "There is no run zzzz" in no_run.body
        assert await runs.list_for("spring") == []

        # A room that left between planning and sending gets nothing, and its !ack is refused.
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM_C, CAROL, "!coalition leave")
        before = len(bot.fake.sent)
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        assert not in_room(bot.fake.sent[before:], ROOM_C)
        [refused] = await bot.say(ROOM_C, CAROL, f"!ack {run}")
        assert "not in a coalition (or it left)" in refused.body
        [event] = await bot.say(ROOM_C, CAROL, "!event add Picnic at 2026-12-01 12:00")
        assert "not in a coalition" in event.body
    finally:
        await close(bot)


async def test_a_refusing_room_is_recorded_and_the_others_still_get_it(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        bot.fake.refuse.add(ROOM_C)  # the bot was kicked
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        states = {d.room_id: d.state for d in await herald(bot).runs.deliveries(run) if d.phase_key == "call"}
        assert states == {ROOM: "sent", ROOM_B: "sent", ROOM_C: "failed"}
        [board] = await bot.say(ROOM, ALICE, f"!protocol status {run}")
        assert "Leeds group: call ❌" in board.body
        assert "Not delivered to Leeds group (call): M_FORBIDDEN" in board.body and "❌" in board.html
    finally:
        await close(bot)


async def test_events_listing_and_ics_upload(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        [added] = await bot.say(
            ROOM_B, BOB, "!event add Bike ride at the river at 2026-12-05 10:00 where Quai Saint-Antoine"
        )
        assert "Bike ride at the river, 2026-12-05 10:00 CET at Quai Saint-Antoine" in added.body
        await bot.say(ROOM_C, CAROL, "!event add Teach-in at 2026-12-01 18:00 Europe/London")
        [past] = await bot.say(ROOM_C, CAROL, "!event add Old at 2026-01-01 10:00")
        assert "is in the past" in past.body
        [weak] = await bot.say(ROOM_B, DAN, "!event add Mine at 2026-12-01 10:00")
        assert "liaison or a moderator" in weak.body
        [listing] = await bot.say(ROOM, ALICE, "!events")
        assert listing.body.index("Teach-in") < listing.body.index("Bike ride")
        assert "2026-12-05 09:00 UTC: Bike ride at the river — Quai Saint-Antoine" in listing.body
        sent = await bot.say(ROOM, ALICE, "!events ics")
        [file] = [s for s in sent if s.content.get("msgtype") == "m.file"]
        [(data, mime, name)] = bot.fake.uploads
        assert (
            mime == "text/calendar" and name == "spring.ics" and file.content["url"] == "mxc://test.example/1"
        )
        calendar = icalendar.Calendar.from_ical(data)
        summaries = [str(e["summary"]) for e in calendar.walk("VEVENT")]
        assert summaries == ["Teach-in", "Bike ride at the river"]
        # In an encrypted room the file itself is encrypted.
        bot.fake.encrypted.add(ROOM_B)
        sent = await bot.say(ROOM_B, BOB, "!events ics")
        [secret] = [s for s in sent if s.content.get("msgtype") == "m.file"]
        assert "url" not in secret.content and secret.content["file"]["v"] == "v2"
        assert (
            bot.fake.uploads[1][1] == "application/octet-stream" and b"Teach-in" not in bot.fake.uploads[1][0]
        )
    finally:
        await close(bot)


async def test_a_broadcast_cut_by_a_crash_resumes_with_one_copy_each(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    fake = bot.fake

    # The homeserver accepts room B, and is away for the others when the bot dies.
    async def flaky(room: Any, kind: str, event_type: str, content: dict[str, Any], txn: str) -> Any:
        if room != ROOM_B:
            raise TransportError("away")
        return await fake.send_event(room, event_type, content, txn)

    run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
    await bot.outbox.stop()
    bot.outbox = Outbox(bot.db, bot.name, flaky, clock=lambda: bot.now.timestamp())
    bot.outbox.start()
    await bot.handle(
        ROOM,
        {  # as bot.say does, without waiting for an outbox that cannot drain
            "type": "m.room.message",
            "event_id": "$confirm",
            "sender": ALICE,
            "origin_server_ts": int(NOW.timestamp() * 1000),
            "content": {"msgtype": "m.text", "body": f"!protocol confirm {run}"},
        },
    )
    for _ in range(50):
        if in_room(fake.sent, ROOM_B) and any("Call-out" in s.body for s in in_room(fake.sent, ROOM_B)):
            break
        await herald(bot).settle(0.02)
    cut = Counter(s.room_id for s in fake.sent if s.txn_id.startswith(f"aff-{run}-call-"))
    assert cut == {ROOM_B: 1}, "the crash must come mid-broadcast"
    # Crash: the followers die, the outbox stops with rows pending, scheduled jobs are gone.
    await herald(bot).stop()
    await bot.outbox.stop()
    bot.scheduler.shutdown()
    # Restart on the same database and the same homeserver (which dedups by transaction id).
    again = bot
    try:
        again.scheduler = Scheduler(again.name)
        again.features = [herald_factory()(again)]
        again.outbox = Outbox(
            again.db, again.name, KindedSender(fake).send, clock=lambda: again.now.timestamp()
        )
        again.outbox.start()
        await again.features[0].ready()
        await again.features[0].start()
        job = next(j for j in again.scheduler.job_ids() if j.startswith(f"herald:due-{run}-"))
        await again.fire(job)
        await settle(again)
        calls = Counter(s.room_id for s in fake.sent if s.txn_id.startswith(f"aff-{run}-call-"))
        assert calls == {ROOM: 1, ROOM_B: 1, ROOM_C: 1}
        states = {d.state for d in await herald(again).runs.deliveries(run) if d.phase_key == "call"}
        assert states == {"sent"}
    finally:
        await close(again)


async def test_a_phase_overdue_past_the_grace_is_skipped_with_a_note(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        # The bot was away for the whole day: the call-out and the check-in are stale by now.
        bot.now = NOW + timedelta(hours=10)
        await herald(bot).deliver_due(run)
        await settle(bot)
        assert not [s for s in bot.fake.sent if s.txn_id.startswith(f"aff-{run}-")]
        [note] = [s for s in bot.fake.sent if "fell due while the bot was away" in s.body]
        assert note.room_id == ROOM and "call, check, debrief" in note.body and "6h" in note.body
        assert {d.state for d in await herald(bot).runs.deliveries(run)} == {"cancelled"}
    finally:
        await close(bot)


async def test_expired_runs_are_redacted_then_forgotten(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await bot.say(ROOM_B, BOB, "!event add Picnic at 2026-11-30 12:00")
        await settle(bot)
        sent = {(d.room_id, d.event_id) for d in await herald(bot).runs.deliveries(run) if d.event_id}
        assert len(sent) == 3
        await herald(bot).forget_expired(NOW + timedelta(days=29))
        assert bot.fake.redacted == [] and await herald(bot).runs.get(run) is not None
        await herald(bot).forget_expired(NOW + timedelta(days=40))
        await bot.flush()  # the redactions go through the outbox
        assert set(bot.fake.redacted) == sent
        assert await herald(bot).runs.get(run) is None
        assert await herald(bot).events.list_for("spring") == []
    finally:
        await close(bot)


async def test_a_rooms_zone_and_language_are_the_shared_room_settings(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        settings = herald(bot).host.settings
        # !local set timezone (in coalition()) wrote the room's one zone, which every feature reads.
        assert (await settings.zone(RoomID(ROOM_B))).key == "Europe/Paris"
        [ok] = await bot.say(ROOM_B, BOB, "!local set language pt-BR")
        assert "language set to: pt-BR" in ok.body and await settings.language(RoomID(ROOM_B)) == "pt-BR"
        [refused] = await bot.say(ROOM_B, BOB, "!local set language Portuguese")
        assert "not a language tag" in refused.body
        assert await settings.language(RoomID(ROOM_B)) == "pt-BR"  # a refusal changes nothing
        [shown] = await bot.say(ROOM_B, BOB, "!local show")
        assert "timezone: Europe/Paris" in shown.body and "language: pt-BR" in shown.body
        assert "meeting_point: Place Bellecour, by the statue" in shown.body
        # The zone set by another feature (the ghost chair writes the same setting) is the herald's too.
        await settings.set_zone(RoomID(ROOM_C), ZoneInfo("Europe/London"))
        run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        board = next(s for s in bot.fake.sent if f"Plan {run}" in s.body)
        assert "Leeds group: call 11-22 13:00 GMT" in board.body
    finally:
        await close(bot)


async def test_affinity_forget_forgets_herald_records_offline(tmp_path: Path) -> None:
    # `affinity forget` runs without bots: the herald's own forget_expired, on an offline host.
    # The redactions it owes are queued for the bot's next run; the rows go at once.
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await bot.say(ROOM_B, BOB, "!event add Picnic at 2026-11-30 12:00")
        await settle(bot)
        sent = {d.event_id for d in await herald(bot).runs.deliveries(run) if d.event_id}
        assert len(sent) == 3
        await bot.outbox.stop()  # the bot is not running while `affinity forget` does its work
        runs = bot.app.bots[0].model_copy(update={"features": ["herald"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        kept = await forget_contract_features(config, bot.db, NOW + timedelta(days=29))
        assert kept.get("herald", 0) == 0 and await herald(bot).runs.get(run) is not None
        counts = await forget_contract_features(config, bot.db, NOW + timedelta(days=40))
        assert counts["herald"] >= 1  # the run (the event is the calendar's: tests/bot/test_calendar.py)
        assert await herald(bot).runs.get(run) is None and await herald(bot).events.list_for("spring") == []
        rows = await bot.db.fetchall(
            "SELECT content FROM outbox WHERE kind = 'redaction' AND state = 'pending'"
        )
        assert {json.loads(r[0])["redacts"] for r in rows} == sent
    finally:
        await close(bot)
