"""The day of action end to end against two federating Synapses, two tests sharing one pair of
servers (module scope: the second costs only its own run).

The first covers the whole day with the tests' stand-in herald, which implements the narrow port
the day-of-action features use (tests/bot/dayofaction_stub.py), so a phase can be sent at once:
slots by reaction and command with a draw and a waitlist, a declined room, intake counts from
three answers, a ride approved by DM, a drawn liaison escalated to in a drill with its backup
next, the drill's report, and the sweep after the run's retention leaving nothing on disk. The
second runs the real herald: a declined room gets no phase, the slot list answers the checklist,
the drawn liaison then the backup get the escalation DMs, and the board counts slots and tells
the declined room apart. The features, the lottery, the outbox and the rooms are real; people
and rooms are set up concurrently, times are configured down to seconds, every wait polls with a
deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bots.dayofaction.herald_port import CoalitionInfo, PhaseView, RunSpec
from bots.herald import HeraldFeature
from bots.runtime.ids import RoomID
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.e2e.dayofaction_helpers import from_bot, open_dm, people, readable, room_of
from tests.e2e.federation import Federation, federation  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness
from tests.e2e.helpers import ask, ask_event, body, react, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

FEATURES = ["tests.bot.dayofaction_stub", "lottery", "slots", "rides", "intake", "dayofaction"]
TABLES = (
    "slots_slot",
    "slots_claim",
    "slots_message",
    "rides_offer",
    "rides_need",
    "rides_proposal",
    "rides_message",
    "intake_run",
    "intake_respondent",
    "intake_answer",
    "intake_message",
    "dayofaction_decline",
    "dayofaction_note",
)


async def rows(bot: BotHarness, table: str) -> int:
    row = await bot.runtime.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0])


async def test_the_day_of_action_across_two_servers(federation: Federation, tmp_path: Path) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a,
        tmp_path / "bot",
        FEATURES,
        extra={
            "access": {"allowed_servers": federation.server_names},
            "retention": {"sweep_every": "2s", "outbox": "1s", "handled_events": "1s"},
            "features": {
                "lottery": {"commit_window": "3s", "default_term": "1h"},
                "dayofaction": {"liaison_check": "2s", "drill_min_window": "10s"},
            },
        },
    )
    await bot.start()
    (mod, ana, cai), (ben, sue) = await asyncio.gather(people(a, tmp_path, 3), people(b, tmp_path, 2))
    by_id = {p.user_id: p for p in (mod, ana, cai, ben)}  # ben and sue are on the second server
    try:
        coord, north, south = await asyncio.gather(
            room_of(mod, bot, "Coordination", [], encrypted=True),
            room_of(mod, bot, "North", [ana, cai, ben], encrypted=True),
            room_of(sue, bot, "South", [], encrypted=False),  # hosted on the second server
        )
        stub: StubHerald = stub_of(bot.runtime.features)
        now = datetime.now(UTC)
        stub.coalitions.append(CoalitionInfo("e2e", (RoomID(north), RoomID(south)), (RoomID(coord),)))
        stub.add_run(
            run_info("r1", now + timedelta(days=1), now + timedelta(hours=1), [north, south], [coord]),
            RunSpec(
                ("Medic: 1", "Marshal: 2", "Water for everyone"),
                now + timedelta(seconds=40),
                ("why", "seats"),
            ),
        )
        stub.templates["doa-drill"] = [
            PhaseView("go", "Go", timedelta(hours=-2), "Two hours to go", timedelta(hours=1))
        ]

        # -- slots: a reaction on the list under the checklist, a command, an over-subscribed draw
        await stub.send_phase("r1", "checklist", "Checklist for tomorrow", ["Medic: 1", "Marshal: 2"])
        listing = await ana.wait_for(from_bot(bot, north, "Slots for run r1"), timeout=45)
        await react(ana, north, listing["event_id"], "2️⃣")  # sorted: marshal, medic
        await ana.wait_for(from_bot(bot, north, "You hold a place as medic"), timeout=45)
        assert "drawn by lottery" in await ask(ben, north, "!slot claim medic", timeout=45)
        await ana.wait_for(from_bot(bot, north, "SHA-256"), timeout=45)
        assert "You hold a place as marshal" in await ask(cai, north, "!slot claim Marshal")
        assert "no slot 'cook'" in await ask(cai, north, "!slot claim cook")
        assert "already hold" in await ask(cai, north, "!slot claim marshal")

        # -- a room declines: it gets nothing more, the others do
        assert "liaison or a moderator" in await ask(ana, north, "!protocol decline r1", timeout=45)
        assert "sits run r1 out" in await ask(
            sue, south, "!protocol decline r1 we march at the port", timeout=45
        )
        await mod.wait_for(from_bot(bot, coord, "South declined run r1: we march at the port"), timeout=45)
        sent = await stub.send_phase("r1", "go", "Two hours to go")
        assert list(sent) == [north]
        await ana.wait_for(from_bot(bot, north, "Two hours to go"), timeout=45)

        # -- intake: counts only once three answered
        assert "Invited 1 member room" in await ask(mod, coord, "!intake start")
        invitation = await ana.wait_for(from_bot(bot, north, "A short survey for run r1"), timeout=45)
        for who, answers, by_reaction in ((ana, ["friends", "2"], False), (ben, ["1", "0"], True)):
            seen = len(who.invites)
            if by_reaction:
                await react(who, north, invitation["event_id"], "✋")
            else:
                assert "questions are in our direct chat" in await ask(who, north, "!intake me", timeout=45)
            dm = await open_dm(who, seen, bot)
            for i, answer in enumerate(answers):
                await readable(who, bot, dm, f"Question {i + 1} of 2")
                await who.send_text(dm, answer)
            await readable(who, bot, dm, "your answers are in")
        counts = await ask(mod, coord, "!intake counts")
        assert "No room has 3 answers" in counts and "friends" not in counts
        seen = len(cai.invites)
        await ask(cai, north, "!intake me", timeout=45)
        dm = await open_dm(cai, seen, bot)
        await readable(cai, bot, dm, "Question 1 of 2")
        await cai.send_text(dm, "friends")
        await readable(cai, bot, dm, "Question 2 of 2")
        await cai.send_text(dm, "500")
        await readable(cai, bot, dm, "out of range")
        await cai.send_text(dm, "2")
        await readable(cai, bot, dm, "your answers are in")
        counts = await ask(mod, coord, "!intake counts")
        assert (
            "North (3 answered)" in counts
            and "why: solidarity 1, friends 2" in counts
            and "seats: 0 1, 2 2" in counts
        )

        # -- a ride across servers: matched, approved by DM, names only by DM
        assert "out of range" in await ask(cai, north, "!ride offer 500 from quokkahill at 08:00")
        assert "out of range" in await ask(cai, north, "!ride offer 0 from quokkahill at 08:00")
        assert "Offer kept: 3 seats" in await ask(cai, north, "!ride offer 3 from quokkahill at 08:00")
        seen = len(cai.invites)
        need = await ask(ben, north, "!ride need from quokkahill 2", timeout=45)
        assert "Need kept: 2 seats" in need and cai.user_id not in need
        rides_dm = await open_dm(cai, seen, bot)
        proposal = await readable(cai, bot, rides_dm, "Ride proposal")
        assert ben.user_id not in body(proposal)
        ride = re.search(r"!ride approve (\d+)", body(proposal)).group(1)  # type: ignore[union-attr]
        seen = len(ben.invites)
        approved = await ask(cai, rides_dm, f"!ride approve {ride}", timeout=45)
        assert ben.user_id in approved
        ben_dm = await open_dm(ben, seen, bot)
        assert cai.user_id in body(await readable(ben, bot, ben_dm, "A driver takes you"))
        assert "quokkahill: 1 offered, 0 needed" in await ask(ana, north, "!rides")
        ride_notes = [
            e for r, e in ana.events if r == north and re.search(r"Offer kept|Need kept|Rides for", body(e))
        ]
        assert len(ride_notes) == 3
        assert all(cai.user_id not in body(e) and ben.user_id not in body(e) for e in ride_notes)

        # -- the over-subscribed slot was drawn at its deadline; a release promotes the waiting
        drawn = await ana.wait_for(from_bot(bot, north, "Drawn by lottery for medic"), timeout=60)
        holder = re.search(r"medic: (@\S+)\.", body(drawn)).group(1)  # type: ignore[union-attr]
        other = ben if holder == ana.user_id else ana
        assert "gave up" in await ask(by_id[holder], north, "!slot release medic", timeout=45)
        promoted = await ana.wait_for(from_bot(bot, north, "moved up from the waitlist"), timeout=45)
        assert other.user_id in body(promoted)

        # -- a drawn liaison, a backup, and a drill: escalated to the liaison, then the backup
        await ask(mod, north, "!roles set liaison")
        commit = await ask_event(mod, north, "!draw liaison")
        draw_id = re.search(r"Draw (\w+)", body(commit)).group(1)  # type: ignore[union-attr]
        await mod.wait_for(from_bot(bot, north, f"Draw {draw_id} result"), timeout=45)
        told = await mod.wait_for(from_bot(bot, north, "is this room's liaison"), timeout=45)
        liaison = by_id[body(told).split(" is this room")[0].strip()]
        backup = next(p for p in (cai, ana, mod) if p is not liaison)  # on the bot's server
        assert "Backup liaison" in await ask(mod, north, f"!coalition backup {backup.user_id}")
        assert "no template 'nope'" in await ask(mod, coord, "!protocol drill nope")
        seen_l, seen_b = len(liaison.invites), len(backup.invites)
        started = await ask(mod, coord, "!protocol drill doa-drill speed 3600x")
        drill_id = re.search(r"(drill-\w+)", started).group(1)  # type: ignore[union-attr]
        await mod.wait_for(from_bot(bot, north, "DRILL — Go"), timeout=45)

        async def backup_asked() -> bool:  # the drill's ladder reached its second step in North
            row = await bot.runtime.db.fetchone(
                "SELECT escalated FROM dayofaction_drill_phase WHERE drill_id = ? AND room_id = ?",
                (drill_id, north),
            )
            return row is not None and int(row[0]) >= 2

        # The backup answers as soon as it is asked, well before the report's fixed time (on a
        # loaded machine, opening both DMs first could take longer than the drill itself).
        await until(backup_asked, "the drill asks the liaison, then the backup", timeout=45)
        assert "Acknowledged (drill" in await ask(backup, north, "!ack drill", timeout=45)
        alert = await open_dm(liaison, seen_l, bot)
        assert "North" in body(await readable(liaison, bot, alert, "no acknowledgement"))
        backup_alert = await open_dm(backup, seen_b, bot)
        assert "North" in body(await readable(backup, bot, backup_alert, "no acknowledgement"))
        report = await mod.wait_for(from_bot(bot, coord, f"report of drill {drill_id}"), timeout=60)
        assert re.search(r"North: go \d+s", body(report)) and "South: go silent" in body(report)
        assert "Silent rooms: South." in body(report)

        # -- once the run's retention is over, the sweep leaves nothing of it on disk
        later = stub.runs["r1"].forget_at + timedelta(seconds=1)
        for feature in bot.runtime.features:
            if feature.name in ("slots", "rides", "intake", "dayofaction"):
                await feature.forget_expired(later)

        async def forgotten() -> bool:
            return all([await rows(bot, t) == 0 for t in TABLES])

        await until(forgotten, "the run's slots, rides, intake and declines are forgotten", timeout=45)

        async def redacted() -> bool:
            found = await mod.api("GET", f"/_matrix/client/v3/rooms/{north}/event/{listing['event_id']}")
            return not found.get("content")

        await until(redacted, "the slot list is redacted", timeout=45)
        database = Path(bot.runtime.db.path)
        deadline = time.monotonic() + 30
        while True:
            await bot.runtime.db.checkpoint()
            data = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file())
            if b"quokkahill" not in data and b"we march at the port" not in data:
                break
            assert time.monotonic() < deadline, "the run's words are still in the database files"
            await asyncio.sleep(1)
    finally:
        await bot.stop()
        for p in (mod, ana, cai, ben, sue):
            await p.close()


HERALD_TEMPLATE = {
    "name": "doa-e2e",
    "description": "A call with slots.",
    "phases": [
        {
            "key": "call",
            "offset": "0",
            "title": "Call-out",
            "message": "We gather now.",
            "checklist": ["Medic: 1"],
            "ack": {"needed": True, "within": "15m"},
        },
        {"key": "debrief", "offset": "+2h", "title": "Debrief", "message": "How did it go?"},
    ],
}


async def test_with_the_real_herald_a_declined_room_gets_nothing_and_the_drawn_liaison_then_the_backup_are_asked(
    federation: Federation, tmp_path: Path
) -> None:
    """The real herald across the two servers: a room that declines gets no phase while the
    others do, the slot list answers the checklist, the liaison drawn by the room's lottery gets
    the escalation DM and the backup a DM of its own next, and the board tells the declined room
    apart from the silent. The escalation clock is moved, not waited (as in test_herald.py)."""
    a, b = federation.a, federation.b
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "doa-e2e.yaml").write_text(yaml.safe_dump(HERALD_TEMPLATE))
    bot = BotHarness(
        a,
        tmp_path / "bot",
        ["herald", "lottery", "slots", "dayofaction"],
        extra={
            "access": {"allowed_servers": federation.server_names},
            "features": {
                "herald": {"template_dirs": [str(templates)]},
                "lottery": {"commit_window": "3s", "default_term": "1h"},
                "dayofaction": {"liaison_check": "2s"},
            },
        },
    )
    await bot.start()
    (alice, dan, carol), (bob,) = await asyncio.gather(people(a, tmp_path, 3), people(b, tmp_path, 1))
    real_clock = bot.runtime.clock
    try:
        coord, lyon, leeds = await asyncio.gather(
            room_of(alice, bot, "Coordination", [], encrypted=True),
            room_of(bob, bot, "Lyon", [dan], encrypted=True),  # owned by Bob, on the second server
            room_of(carol, bot, "Leeds", [], encrypted=False),
        )
        assert "coordinates it" in await ask(alice, coord, "!coalition create e2e", timeout=45)
        for owner, room in ((bob, lyon), (carol, leeds)):
            invite = await ask(alice, coord, "!coalition invite", timeout=45)
            token = re.search(r"cj-[a-z2-7]{32}", invite).group(0)  # type: ignore[union-attr]
            assert "joined coalition e2e" in await ask(owner, room, f"!coalition join {token}", timeout=45)

        # Lyon's lottery draws its liaison (Dan steps back, so it is Bob, on the other server);
        # the room names Dan its backup.
        await ask(bob, lyon, "!roles set liaison", timeout=45)
        await ask(dan, lyon, "!stepback", timeout=45)
        commit = await ask_event(bob, lyon, "!draw liaison", timeout=45)
        draw_id = re.search(r"Draw (\w+)", body(commit)).group(1)  # type: ignore[union-attr]
        await bob.wait_for(from_bot(bot, lyon, f"Draw {draw_id} result"), timeout=45)
        told = await bob.wait_for(from_bot(bot, lyon, "is this room's liaison"), timeout=45)
        assert body(told).startswith(bob.user_id)
        liaison, backup = bob, dan
        assert "Backup liaison" in await ask(bob, lyon, f"!coalition backup {backup.user_id}", timeout=45)

        when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        plan = await ask(alice, coord, f"!protocol start doa-e2e at {when}", timeout=45)
        run = re.search(r"Plan (\w+):", plan).group(1)  # type: ignore[union-attr]
        assert "sits run" in await ask(
            carol, leeds, f"!protocol decline {run} we march at the port", timeout=45
        )
        assert "confirmed" in await ask(alice, coord, f"!protocol confirm {run}", timeout=45)
        call = await bob.wait_for(from_bot(bot, lyon, "We gather now"), timeout=60)
        listing = await bob.wait_for(from_bot(bot, lyon, "Slots for run"), timeout=45)
        assert listing["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == call["event_id"]
        assert "You hold a place as medic" in await ask(dan, lyon, "!slot claim medic", timeout=45)
        await alice.wait_for(from_bot(bot, coord, "We gather now"), timeout=45)

        # Lyon stays silent: the drawn liaison first, then the backup; Leeds is never chased.
        herald = next(f for f in bot.runtime.features if isinstance(f, HeraldFeature))
        seen_l, seen_b = len(liaison.invites), len(backup.invites)
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=16)
        await herald.escalate(run)
        alert = await open_dm(liaison, seen_l, bot)
        assert "Lyon has not acknowledged" in body(
            await readable(liaison, bot, alert, "has not acknowledged")
        )
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=24)
        await herald.escalate(run)
        backup_alert = await open_dm(backup, seen_b, bot)  # a DM of its own, with the bot's alert in it
        assert backup_alert not in (alert, coord, lyon, leeds)
        assert "backup" in body(await readable(backup, bot, backup_alert, "has not acknowledged"))
        note = await alice.wait_for(from_bot(bot, coord, "No acknowledgement from Lyon"), timeout=45)
        assert "Leeds" not in body(note)
        bot.runtime.clock = real_clock
        status = await alice.send_text(coord, f"!protocol status {run}")
        await until(
            lambda: len(alice.replies(coord, status)) >= 2, "the board and its declined rooms", timeout=45
        )
        board = body(alice.replies(coord, status)[-1])
        assert "Leeds: declined (we march at the port)" in board
        assert "Lyon: medic 1/0" in board and dan.user_id not in board  # counts, never names
        # Leeds got its own answer to the decline and nothing of the run.
        from_run = [
            e
            for r, e in carol.events
            if r == leeds and e.get("sender") == bot.user_id and "gather" in body(e)
        ]
        assert from_run == []
    finally:
        bot.runtime.clock = real_clock
        await bot.stop()
        for p in (alice, dan, carol, bob):
            await p.close()
