"""Tier 2: every kind of record the day of action keeps (slots, intake, rides, declines, notes,
liaisons, escalations answered, drills, and the messages about them) is forgotten when its
retention ends, when a room removes the bot, by ``affinity forget`` and by ``affinity wipe``.

The tables are read from the database itself (every table of the four features), so a record
kind added later is checked without this test naming it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bots.cli import main
from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, PhaseView, RunSpec
from bots.intake.feature import IntakeFeature
from bots.lottery.feature import LotteryFeature
from bots.rides.feature import RidesFeature
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from bots.slots.feature import SlotsFeature
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

MOD, ANA, BEN, CAI = (f"@{n}:test.example" for n in ("mod", "ana", "ben", "cai"))
ROOM2 = "!room2:test.example"
COORD = "!coord:test.example"
FEATURES = ("slots", "intake", "rides", "dayofaction")
PREFIXES = tuple(f"{name}_" for name in FEATURES)
MARKERS = (b"quokkahill", b"we march at the port", b"bring the banner")  # words typed into records


async def tables(bot: FakeBot) -> list[str]:
    rows = await bot.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [str(r[0]) for r in rows if str(r[0]).startswith(PREFIXES)]


async def counts(bot: FakeBot) -> dict[str, int]:
    out = {}
    for table in await tables(bot):
        row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
        assert row is not None
        out[table] = int(row[0])
    return out


async def mentioning(bot: FakeBot, room: str) -> list[str]:
    """Every table with a row holding ``room`` in any column."""
    found = []
    for table in await tables(bot):
        columns = [str(c[1]) for c in await bot.db.fetchall(f"PRAGMA table_info({table})")]
        where = " OR ".join(f"{c} = ?" for c in columns)
        row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE {where}", (room,) * len(columns))
        if row is not None and row[0]:
            found.append(table)
    return found


async def a_day_of_action(tmp_path: Path) -> tuple[FakeBot, str, str]:
    """A bot with a record of every kind: (bot, the intake DM, the drill id)."""
    bot = await fake_bot(
        tmp_path,
        [StubHerald, LotteryFeature, SlotsFeature, IntakeFeature, RidesFeature, DayOfActionFeature],
        members=[MOD, ANA, BEN],
        moderators=[MOD],
    )
    await add_room(bot, ROOM2, [CAI], moderators=[CAI])
    await add_room(bot, COORD, [MOD], moderators=[MOD])
    stub = stub_of(bot.features)
    stub.coalitions.append(CoalitionInfo("north", (RoomID(ROOM), RoomID(ROOM2)), (RoomID(COORD),)))
    stub.add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=2), [ROOM, ROOM2], [COORD]),
        RunSpec(("medic: 1",), bot.now + timedelta(hours=1), ("why",)),
    )
    stub.templates["doa-drill"] = [PhaseView("go", "Go", timedelta(hours=-2), "Go", timedelta(hours=1))]
    await stub.send_phase("r1", "checklist", "Checklist", ["medic: 1"])
    await bot.say(ROOM, ANA, "!slot claim medic")
    await bot.say(ROOM, BEN, "!slot claim medic")  # over-subscribed: a seed is kept until the draw
    await bot.say(ROOM2, CAI, "!protocol decline r1 we march at the port")
    await bot.say(ROOM, MOD, "!local note r1 bring the banner")
    await bot.say(ROOM, MOD, f"!coalition backup {BEN}")
    await bot.say(COORD, MOD, "!intake start r1")
    [question] = [s for s in await bot.say(ROOM, ANA, "!intake me") if s.room_id not in (ROOM, COORD)]
    dm = question.room_id
    await add_room(bot, dm, [ANA], direct=True)
    await bot.say(dm, ANA, "friends")
    await bot.say(ROOM, BEN, "!intake me")  # opted in, not answered yet
    await bot.say(ROOM, ANA, "!ride offer 3 from quokkahill at 08:00")
    await bot.say(ROOM, BEN, "!ride need from quokkahill 2")
    await next(f for f in bot.features if isinstance(f, DayOfActionFeature)).record_answer(ROOM, BEN, bot.now)
    [started] = await bot.say(COORD, MOD, "!protocol drill doa-drill speed 3600x")
    drill_id = re.search(r"(drill-\w+)", started.body).group(1)  # type: ignore[union-attr]
    await bot.fire(f"dayofaction:drill:{drill_id}:send:0")
    await bot.flush()
    empty = [t for t, n in (await counts(bot)).items() if n == 0]
    assert empty == [], f"the test makes no record in {empty}"
    return bot, dm, drill_id


async def sweep(bot: FakeBot) -> None:
    for f in bot.features:
        if f.name in FEATURES:
            await f.forget_expired(bot.now)
    await bot.flush()


async def test_every_record_is_forgotten_when_its_retention_ends(tmp_path: Path) -> None:
    bot, _, _ = await a_day_of_action(tmp_path)
    try:
        bot.now += timedelta(days=2)  # the run's retention ends; drills (7 d) and liaisons stay
        await sweep(bot)
        left = {t for t, n in (await counts(bot)).items() if n}
        assert left == {
            "dayofaction_drill",
            "dayofaction_drill_phase",
            "dayofaction_message",
            "dayofaction_liaison",
            "dayofaction_answer",
        }
        bot.now += timedelta(days=5, hours=1)  # the drill's week is over
        await sweep(bot)
        assert {t for t, n in (await counts(bot)).items() if n} == {
            "dayofaction_liaison",
            "dayofaction_answer",
        }
        bot.now += timedelta(days=30)  # answers (30 d) and the backup named without a term (30 d)
        await sweep(bot)
        assert {t: n for t, n in (await counts(bot)).items() if n} == {}
        said = {s.event_id for s in bot.fake.sent if s.room_id != ROOM or "Checklist" not in s.body}
        redacted = {e for _, e in bot.fake.redacted}
        assert redacted <= said  # the herald's checklist is never redacted by these features
        assert any("quokkahill" in s.body and s.event_id in redacted for s in bot.fake.sent)
    finally:
        await close(bot)


async def test_a_room_that_removes_the_bot_leaves_no_record_of_it(tmp_path: Path) -> None:
    bot, dm, _ = await a_day_of_action(tmp_path)
    try:
        for room in (ROOM, ROOM2, COORD, dm):
            assert await mentioning(bot, room), room
            for f in bot.features:
                if f.name in FEATURES:
                    await f.forget_room(RoomID(room))
            assert await mentioning(bot, room) == [], room
    finally:
        await close(bot)


async def test_affinity_forget_and_wipe_leave_none_of_it_on_disk(tmp_path: Path) -> None:
    bot, _, _ = await a_day_of_action(tmp_path)
    try:
        await bot.outbox.stop()  # the bot is not running while `affinity forget` does its work
        names = bot.app.bots[0].model_copy(update={"features": list(FEATURES)})
        config = bot.app.model_copy(update={"bots": [names]})
        await forget_contract_features(config, bot.db, bot.now + timedelta(hours=1))
        assert all(n for n in (await counts(bot)).values())  # nothing has expired yet
        await forget_contract_features(config, bot.db, bot.now + timedelta(days=40))
        assert {t: n for t, n in (await counts(bot)).items() if n} == {}
        pending = await bot.db.fetchone(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'redaction' AND state = 'pending'"
        )
        assert pending is not None and pending[0] > 0  # redacted at the bot's next run
    finally:
        await close(bot)

    bot, _, _ = await a_day_of_action(tmp_path / "again")
    await close(bot)
    data = tmp_path / "again"
    assert any(m in b"".join(p.read_bytes() for p in data.glob("affinity.db*")) for m in MARKERS)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f'homeserver: http://localhost:1\ndata_dir: "{data}"\n'
        'bots:\n  - user_id: "@bot:test.example"\n    password: x\n'
        f"    features: [{', '.join(FEATURES)}]\n"
    )
    assert main(["wipe", "--config", str(config_file), "--yes-destroy-everything"]) == 0
    assert not list(data.glob("affinity.db*"))
    left = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert not any(m in left for m in MARKERS)
