"""Tier 2: a room in several coalitions at once (a coalition of coalitions).

Lyon is in 'spring' and in 'summer'. Each coalition's runs reach it; a command that needs one
coalition refuses to guess and names them, takes ``in <coalition>``, or reads the coalition from
the run it names; leaving one keeps the other. A room still coordinates one coalition at most.
"""

from __future__ import annotations

from pathlib import Path

from tests.bot.fakes import ROOM, add_room, close
from tests.bot.test_herald import ALICE, BOB, ROOM_B, coalition, herald, in_room, invite, settle, start_run

ROOM_D = "!d:test.example"


async def test_a_room_in_two_coalitions_gets_both_and_commands_name_which(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        await add_room(bot, ROOM_D, [ALICE], moderators=[ALICE])
        bot.fake.names[ROOM_D] = "Summer coordination"
        [created] = await bot.say(ROOM_D, ALICE, "!coalition create summer")
        assert "coordinates it" in created.body
        [refused] = await bot.say(ROOM, ALICE, "!coalition create autumn")
        assert "already coordinates coalition spring" in refused.body
        assert await herald(bot).coalitions.get("autumn") is None

        token = await invite(bot, where=ROOM_D)
        joined = [s for s in await bot.say(ROOM_B, BOB, f"!coalition join {token}") if s.room_id == ROOM_B]
        assert "joined coalition summer" in joined[0].body
        [again] = await bot.say(ROOM_B, BOB, f"!coalition join {await invite(bot, where=ROOM_D)}")
        assert "already in coalition summer" in again.body

        before = len(await herald(bot).coalitions.members("spring"))
        [which] = await bot.say(ROOM_B, BOB, "!coalition rooms")
        assert "several coalitions (spring, summer)" in which.body and "in <coalition>" in which.body
        [summer] = await bot.say(ROOM_B, BOB, "!coalition rooms in summer")
        assert "Summer coordination" in summer.body and "Leeds group" not in summer.body
        [nope] = await bot.say(ROOM_B, BOB, "!coalition rooms in autumn")
        assert "not in coalition autumn; it is in: spring, summer" in nope.body
        [unsure] = await bot.say(ROOM_B, BOB, "!coalition leave")
        assert "several coalitions" in unsure.body
        assert len(await herald(bot).coalitions.members("spring")) == before  # nothing changed

        # A run of each coalition reaches Lyon; the run named says which coalition it is about.
        spring_run = await start_run(bot, "rapid-response", "2026-11-22 13:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {spring_run}")
        [plan] = await bot.say(ROOM_D, ALICE, "!protocol start rapid-response at 2026-11-22 13:00")
        summer_run = plan.body.split("Plan ", 1)[1].split(":", 1)[0]
        await bot.say(ROOM_D, ALICE, f"!protocol confirm {summer_run}")
        bot.now = bot.now.replace(hour=13)
        sent = []
        for job in sorted(j for j in bot.scheduler.job_ids() if j.startswith("herald:due-")):
            sent += await bot.fire(job)
        await settle(bot)
        lyon = [s.body for s in in_room(sent, ROOM_B) if "Call-out" in s.body]
        assert len(lyon) == 2 and any(spring_run in b for b in lyon) and any(summer_run in b for b in lyon)
        [board] = await bot.say(ROOM_B, BOB, f"!protocol status {summer_run}")
        assert "Summer coordination" in board.body and "Leeds group" not in board.body
        [acked] = await bot.say(ROOM_B, BOB, f"!ack {summer_run}")
        assert f"Acknowledged run {summer_run}" in acked.body

        left = await bot.say(ROOM_B, BOB, "!coalition leave in spring")
        assert "left coalition spring" in left[0].body
        assert [c.name for c in await herald(bot).coalitions.coalitions_of(ROOM_B)] == ["summer"]
        [only] = await bot.say(ROOM_B, BOB, "!coalition rooms")
        assert "Summer coordination" in only.body
    finally:
        await close(bot)
