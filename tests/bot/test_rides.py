"""Tier 2: rides matched by area and time, approved by the driver by DM, names only by DM."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.dayofaction.herald_port import RunSpec
from bots.rides.feature import RidesFeature
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

DRIVER, RIDER, OTHER = (f"@{n}:test.example" for n in ("dana", "rui", "otto"))
ROOM2 = "!room2:test.example"


async def rides_bot(tmp_path: Path) -> FakeBot:
    bot = await fake_bot(tmp_path, [StubHerald, RidesFeature], members=[DRIVER, OTHER])
    await add_room(bot, ROOM2, [RIDER])
    stub_of(bot.features).add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=2), [ROOM, ROOM2], []), RunSpec()
    )
    return bot


def dms(bot: FakeBot) -> list[str]:
    return [c["room_id"] for c in bot.fake.created]


async def rows(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_a_ride_is_matched_approved_by_dm_and_names_are_shared_only_by_dm(tmp_path: Path) -> None:
    bot = await rides_bot(tmp_path)
    try:
        [kept] = await bot.say(ROOM, DRIVER, "!ride offer 3 from North at 08:00")
        assert "Offer kept: 3 seats from north at 08:00" in kept.body
        out = await bot.say(ROOM2, RIDER, "!ride need from north 2 at 08:30")
        in_room = [s for s in out if s.room_id == ROOM2]
        assert len(in_room) == 1 and DRIVER not in in_room[0].body and "Need kept: 2 seats" in in_room[0].body
        [proposal] = [s for s in out if s.room_id != ROOM2]
        assert "Ride proposal" in proposal.body and RIDER not in proposal.body
        driver_dm = proposal.room_id
        ride = proposal.body.split("!ride approve ")[1].split()[0]
        [nope] = await bot.say(ROOM, DRIVER, f"!ride approve {ride}")
        assert "direct chat" in nope.body
        await add_room(bot, driver_dm, [DRIVER], direct=True)  # the driver joined the DM
        [counts] = await bot.say(ROOM, OTHER, "!rides")
        assert "north: 1 offered, 0 needed" in counts.body and DRIVER not in counts.body
        await add_room(bot, "!otherdm:test.example", [OTHER], direct=True)
        [stranger] = await bot.say("!otherdm:test.example", OTHER, f"!ride approve {ride}")
        assert "No ride proposal" in stranger.body
        out = await bot.say(driver_dm, DRIVER, f"!ride approve {ride}")
        to_driver = [s for s in out if s.room_id == driver_dm]
        to_rider = [s for s in out if s.room_id not in (driver_dm, ROOM, ROOM2, "!otherdm:test.example")]
        assert RIDER in to_driver[0].body and DRIVER in to_rider[0].body
        assert all(
            DRIVER not in s.body and RIDER not in s.body for s in bot.fake.sent if s.room_id in (ROOM, ROOM2)
        )
        assert len(set(dms(bot))) == 2
    finally:
        await close(bot)


async def test_a_declined_rider_is_offered_to_the_next_fitting_driver(tmp_path: Path) -> None:
    bot = await rides_bot(tmp_path)
    try:
        await bot.say(ROOM, DRIVER, "!ride offer 2 from north at 08:00")
        await bot.say(ROOM, OTHER, "!ride offer 2 from north at 09:00")
        out = await bot.say(ROOM2, RIDER, "!ride need from north")
        [first] = [s for s in out if "Ride proposal" in s.body]
        await add_room(bot, first.room_id, [DRIVER], direct=True)
        out = await bot.say(
            first.room_id, DRIVER, "!ride decline " + first.body.split("approve ")[1].split()[0]
        )
        assert "Declined" in out[0].body
        [second] = [s for s in out if "Ride proposal" in s.body]
        assert second.room_id != first.room_id and "leaves at 09:00" in second.body
    finally:
        await close(bot)


async def test_bad_ride_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    bot = await rides_bot(tmp_path)
    try:
        for bad, why in (
            ("!ride offer 0 from north at 08:00", "out of range"),
            ("!ride offer 500 from north at 08:00", "out of range"),
            ("!ride offer 2 from north at 25:00", "not a time of day"),
            ("!ride offer 2 from <b> at 08:00", "place name"),
            ("!ride offer 2 at 08:00", "missing 'from"),
            ("!ride need from north 500", "out of range"),
            ("!ride need from north run nope", "no run 'nope'"),
        ):
            [reply] = await bot.say(ROOM, DRIVER, bad)
            assert why in reply.body, (bad, reply.body)
        dm = "!dm:test.example"
        await add_room(bot, dm, [DRIVER], direct=True)
        [reply] = await bot.say(dm, DRIVER, "!ride offer 2 from north at 08:00")
        assert "name the run" in reply.body
        await add_room(bot, "!dm2:test.example", ["@stranger:test.example"], direct=True)
        [reply] = await bot.say("!dm2:test.example", "@stranger:test.example", "!ride need from north run r1")
        assert "none of the member rooms" in reply.body
        assert await rows(bot, "rides_offer") == 0 and await rows(bot, "rides_need") == 0
        [ok] = await bot.say(dm, DRIVER, "!ride offer 2 from north at 08:00 run r1")
        assert "Offer kept" in ok.body
    finally:
        await close(bot)


async def test_rides_and_their_dms_are_forgotten_with_the_run(tmp_path: Path) -> None:
    bot = await rides_bot(tmp_path)
    try:
        await bot.say(ROOM, DRIVER, "!ride offer 3 from north at 08:00")
        await bot.say(ROOM2, RIDER, "!ride need from north")
        bot.now += timedelta(days=2)
        [feature] = [f for f in bot.features if f.name == "rides"]
        await feature.forget_expired(bot.now)
        await bot.flush()
        for table in ("rides_offer", "rides_need", "rides_proposal", "rides_message"):
            assert await rows(bot, table) == 0
        assert len(bot.fake.redacted) == 3  # two replies in rooms, one proposal by DM
    finally:
        await close(bot)


async def test_affinity_forget_deletes_expired_rides_slots_and_answers_offline(tmp_path: Path) -> None:
    from bots.intake.feature import IntakeFeature
    from bots.runtime.offline import forget_contract_features
    from bots.slots.feature import SlotsFeature

    bot = await fake_bot(
        tmp_path, [StubHerald, RidesFeature, SlotsFeature, IntakeFeature], members=[DRIVER, OTHER]
    )
    await add_room(bot, ROOM2, [RIDER])
    stub_of(bot.features).add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=2), [ROOM, ROOM2], []),
        RunSpec(("medic: 1",)),
    )
    try:
        await bot.say(ROOM, DRIVER, "!ride offer 3 from north at 08:00")
        await bot.say(ROOM, OTHER, "!slot claim medic")
        await bot.outbox.stop()  # the bot is not running while `affinity forget` does its work
        names = bot.app.bots[0].model_copy(update={"features": ["rides", "slots", "intake"]})
        config = bot.app.model_copy(update={"bots": [names]})
        kept = await forget_contract_features(config, bot.db, bot.now + timedelta(days=1))
        assert kept.get("rides", 0) == 0 and await rows(bot, "rides_offer") == 1
        counts = await forget_contract_features(config, bot.db, bot.now + timedelta(days=2))
        assert counts["rides"] == 1 and counts["slots"] == 1
        for table in ("rides_offer", "rides_message", "slots_slot", "slots_claim", "slots_message"):
            assert await rows(bot, table) == 0, table
        redactions = await bot.db.fetchone(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'redaction' AND state = 'pending'"
        )
        assert redactions is not None and redactions[0] == 2  # both replies, redacted at the next run
    finally:
        await close(bot)
