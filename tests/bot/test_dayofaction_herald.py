"""Tier 2: the day-of-action features with the real herald (bots/herald/dayofaction_port.py):
a declined room gets no phase and no escalation, the slot list answers the checklist, the
backup is DMed after the liaison, the local note goes under the phase."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bots.dayofaction.feature import DayOfActionFeature
from bots.herald import HeraldFeature
from bots.runtime.contract import factory
from bots.slots.feature import SlotsFeature
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot
from tests.bot.test_herald import herald, invite, settle

ALICE, BOB, CAROL, DAN = (f"@{n}:test.example" for n in ("alice", "bob", "carol", "dan"))
ROOM_B, ROOM_C = "!b:test.example", "!c:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TEMPLATE = {
    "name": "doa-test",
    "description": "A day of action with slots.",
    "phases": [
        {
            "key": "checklist",
            "offset": "-1h",
            "title": "Checklist",
            "message": "Tomorrow at $time we act.",
            "checklist": ["Medic: 1", "Marshal: 2", "Water for everyone"],
            "ack": {"needed": True, "within": "30m"},
        },
        {"key": "go", "offset": "0", "title": "Go", "message": "We start now."},
    ],
}


async def coalition(tmp_path: Path, template: Mapping[str, object] = TEMPLATE) -> FakeBot:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "doa-test.yaml").write_text(yaml.safe_dump(dict(template)))
    bot = await fake_bot(
        tmp_path,
        [factory(HeraldFeature, {"template_dirs": [str(folder)]}), SlotsFeature, DayOfActionFeature],
        members=[ALICE],
        moderators=[ALICE],
        now=NOW,
    )
    await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
    await add_room(bot, ROOM_C, [CAROL], moderators=[CAROL])
    bot.fake.names.update({ROOM: "Coordination", ROOM_B: "Lyon", ROOM_C: "Leeds"})
    await bot.say(ROOM, ALICE, "!coalition create spring")
    await bot.say(ROOM_B, BOB, f"!coalition join {await invite(bot)}")
    await bot.say(ROOM_C, CAROL, f"!coalition join {await invite(bot)}")
    return bot


async def test_a_run_through_the_herald_with_a_declined_room_slots_a_note_and_the_backup(
    tmp_path: Path,
) -> None:
    bot = await coalition(tmp_path)
    try:
        [plan] = await bot.say(ROOM, ALICE, "!protocol start doa-test at 2026-11-22 14:00 UTC")
        run = re.search(r"Plan (\w+):", plan.body).group(1)  # type: ignore[union-attr]
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        out = await bot.say(ROOM_C, CAROL, f"!protocol decline {run} we march at the port")
        assert "sits run" in out[0].body and any("Leeds declined" in s.body for s in out if s.room_id == ROOM)
        [note] = await bot.say(ROOM_B, BOB, f"!local note {run} Treffpunkt am Brunnen")
        assert "ends with your note" in note.body
        [backup] = await bot.say(ROOM_B, BOB, f"!coalition backup {DAN}")
        assert "Backup liaison" in backup.body

        bot.now = NOW + timedelta(hours=1)
        job = min(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-"))
        await bot.fire(job)
        await settle(bot)
        phases = [s for s in bot.fake.sent if "Tomorrow at" in s.body]
        assert sorted(s.room_id for s in phases) == sorted([ROOM, ROOM_B])  # Leeds declined
        lyon = next(s for s in phases if s.room_id == ROOM_B)
        listing = next(s for s in bot.fake.sent if s.room_id == ROOM_B and "Slots for run" in s.body)
        assert listing.reply_to == lyon.event_id and "medic: 0 of 1" in listing.body
        local = next(s for s in bot.fake.sent if s.room_id == ROOM_B and s.body.startswith("Local note"))
        assert local.reply_to == lyon.event_id and "am Brunnen" in local.body
        [claimed] = await bot.say(ROOM_B, DAN, "!slot claim medic")
        assert "You hold a place as medic" in claimed.body
        [board] = await bot.say(ROOM, ALICE, f"!slot board run {run}")
        assert "Lyon: marshal 0/2; medic 1/0" in board.body and DAN not in board.body

        # Lyon stays silent: its liaison first, then the backup (and the coordination room).
        bot.now = NOW + timedelta(hours=1, minutes=31)
        first = await bot.fire(f"herald:escalate-{run}")
        to_bob = [s for s in first if "has not acknowledged" in s.body]
        assert len(to_bob) == 2  # Lyon's liaison and the coordination room's (also a member)
        bot.now = NOW + timedelta(hours=1, minutes=46)
        second = await bot.fire(f"herald:escalate-{run}")
        dms = {c["room_id"]: c["invite"] for c in bot.fake.created}
        to_dan = [s for s in second if dms.get(s.room_id) == [DAN]]
        assert (
            len(to_dan) == 1 and "Lyon has not acknowledged" in to_dan[0].body and "backup" in to_dan[0].body
        )
        assert any("No acknowledgement from Lyon" in s.body for s in second if s.room_id == ROOM)
        everything = " ".join(s.body for s in bot.fake.sent if s.room_id == ROOM_C)
        assert "Tomorrow at" not in everything and "acknowledge" not in everything.lower()
        assert not [s for s in bot.fake.sent if "Leeds" in s.body and "acknowledg" in s.body]
        out = await bot.say(ROOM, ALICE, f"!protocol status {run}")
        assert "Leeds: declined (we march at the port)" in out[-1].body and "not silent" in out[-1].body
        # Bob answers at last, by reaction: an escalation answered, counted for 30 days.
        await bot.react(ROOM_B, BOB, lyon.event_id, "✅")
        [liaisons] = await bot.say(ROOM, ALICE, "!coalition liaisons")
        assert f"Lyon: liaison {BOB}" in liaisons.body and "answered 1 escalation" in liaisons.body
        assert f"backup {DAN}" in liaisons.body
        assert herald(bot) is not None
    finally:
        await close(bot)


async def test_a_drill_of_a_herald_template_renders_each_rooms_phase_marked_drill(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        [unknown] = await bot.say(ROOM, ALICE, "!protocol drill nope")
        assert "no template 'nope'" in unknown.body
        [started] = await bot.say(ROOM, ALICE, "!protocol drill doa-test speed 3600x")
        drill_id = re.search(r"(drill-\w+)", started.body).group(1)  # type: ignore[union-attr]
        assert "2 phases to 3 rooms" in started.body
        sent = await bot.fire(f"dayofaction:drill:{drill_id}:send:0")
        assert sorted(s.room_id for s in sent) == sorted([ROOM, ROOM_B, ROOM_C])
        assert all(s.body.startswith("DRILL — Checklist") and "Tomorrow at" in s.body for s in sent)
        assert not await herald(bot).runs.list_for("spring")  # a drill is not a run
    finally:
        await close(bot)


async def test_the_template_sets_the_slot_deadline_and_survey_the_board_counts_slots_and_a_typed_ack_counts(
    tmp_path: Path,
) -> None:
    bus = {"key": "bus", "prompt": "Which bus do you take?", "options": ["first", "second"]}
    bot = await coalition(tmp_path, {**TEMPLATE, "slots_close": "-90m", "survey": ["why", bus]})
    try:
        [plan] = await bot.say(ROOM, ALICE, "!protocol start doa-test at 2026-11-22 14:00 UTC")
        run = re.search(r"Plan (\w+):", plan.body).group(1)  # type: ignore[union-attr]
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        spec = await herald(bot).dayofaction_spec(run)
        assert spec.slots_close == NOW + timedelta(minutes=30) and spec.survey == ("why", bus)
        await bot.say(ROOM_B, DAN, "!slot claim medic")
        drawn = await bot.say(ROOM_B, BOB, "!slot claim medic")
        # Before the template's deadline: no first come, a seed committed, the draw at 12:30.
        assert any("SHA-256" in s.body for s in drawn)
        assert any("drawn by lottery at 2026-11-22 12:30" in s.body for s in drawn)
        out = await bot.say(ROOM, ALICE, f"!protocol status {run}")
        assert "Slots per room" in out[-1].body and "Lyon: marshal 0/2; medic" in out[-1].body
        assert DAN not in out[-1].body and BOB not in out[-1].body

        bot.now = NOW + timedelta(hours=1)
        job = min(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-"))
        await bot.fire(job)
        await settle(bot)
        bot.now = NOW + timedelta(hours=1, minutes=31)
        await bot.fire(f"herald:escalate-{run}")  # Lyon's liaison, Bob, is asked by DM
        [acked] = await bot.say(ROOM_B, BOB, f"!ack {run}")
        assert "Acknowledged" in acked.body
        [liaisons] = await bot.say(ROOM, ALICE, "!coalition liaisons")
        assert f"Lyon: liaison {BOB}" in liaisons.body and "answered 1 escalation" in liaisons.body

        # The herald's sweep forgets the run: the slots go with it, and their messages.
        await herald(bot).forget_expired(NOW + timedelta(days=31))  # the herald's own sweep alone
        await settle(bot)
        for table in ("slots_slot", "slots_claim", "slots_message"):
            row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row is not None and row[0] == 0, table
        assert any(s.event_id == e for _, e in bot.fake.redacted for s in drawn)
    finally:
        await close(bot)
