"""Tier 2: the skill-swap board through the runtime, with a fake homeserver.

Asks and offers, the board, withdrawing, matches asked by DM with names revealed only after
two yeses (a no reveals nothing), skills recorded and confirmed, roles that require a skill,
bad input that changes nothing, and forgetting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.lottery import LotteryFeature
from bots.runtime.offline import forget_contract_features
from bots.skills import SkillsFeature
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, close, fake_bot

ANA = "@ana:test.example"  # moderator
BEN = "@ben:test.example"
CHI = "@chi:test.example"
PEOPLE = [ANA, BEN, CHI]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def skills_bot(tmp_path: Path, config_extra: str = "") -> FakeBot:
    return await fake_bot(
        tmp_path,
        [LotteryFeature, SkillsFeature],
        members=PEOPLE,
        moderators=[ANA],
        now=NOW,
        config_extra=config_extra,
    )


async def rows(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


def dms_to(bot: FakeBot, user: str) -> list[Sent]:
    rooms = {c["room_id"] for c in bot.fake.created if c["invite"] == [user] and c["is_direct"]}
    return [s for s in bot.fake.sent if s.room_id in rooms]


async def dm_room(bot: FakeBot, user: str) -> str:
    """The direct chat the bot opened with ``user``, joined by them."""
    room = next(c["room_id"] for c in bot.fake.created if c["invite"] == [user] and c["is_direct"])
    await add_room(bot, room, [user], direct=True)
    return str(room)


async def test_offer_ask_board_and_withdraw(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        [reply] = await bot.say(ROOM, BEN, "!offer First_Aids weekends, street medic training")
        assert "#1" in reply.body and "first-aid" in reply.body and "30d" in reply.body
        [reply] = await bot.say(ROOM, CHI, "!ask secure-comms")
        [board] = await bot.say(ROOM, BEN, "!skills")
        assert "first-aid: 1 offer, 0 asks" in board.body and "secure-comms: 0 offers, 1 ask" in board.body
        assert "weekends, street medic training" in board.body
        assert BEN not in board.body and CHI not in board.body  # counts and notes, no names
        assert "Yours:" in board.body and "#1 offer first-aid" in board.body
        [refused] = await bot.say(ROOM, CHI, "!skills withdraw 1")
        assert "not yours" in refused.body and await rows(bot, "skills_entry") == 2
        [done] = await bot.say(ROOM, BEN, "!skills withdraw 1")
        assert "Withdrawn: #1" in done.body and await rows(bot, "skills_entry") == 1
        [again] = await bot.say(ROOM, BEN, "!skills withdraw 1")
        assert "no open entry #1" in again.body
    finally:
        await close(bot)


async def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        [empty] = await bot.say(ROOM, BEN, "!offer")
        assert "Usage: !offer <skill> [<note>]" in empty.body
        [blank] = await bot.say(ROOM, BEN, "!offer ---")
        assert "Name a skill" in blank.body
        [long_note] = await bot.say(ROOM, BEN, "!offer cooking " + "x" * 3_900)
        assert "characters; a note is at most 280" in long_note.body
        [too_long] = await bot.say(ROOM, BEN, "!offer cooking " + "x" * 5_000)
        assert "limited to 4,000 characters" in too_long.body
        [long_skill] = await bot.say(ROOM, BEN, "!ask " + "a" * 60)
        assert "short tag" in long_skill.body
        [bad_id] = await bot.say(ROOM, BEN, "!skills withdraw seven")
        assert "Usage: !skills withdraw <entry>" in bad_id.body
        assert await rows(bot, "skills_entry") == 0 and await rows(bot, "skills_known") == 0
    finally:
        await close(bot)


async def test_a_match_reveals_names_only_after_two_yeses(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        await bot.say(ROOM, BEN, "!offer first-aid weekends")
        [reply] = [s for s in await bot.say(ROOM, CHI, "!ask first aid") if s.room_id == ROOM]
        assert "your ask of first-aid" in reply.body and "meets 1 offer:" in reply.body
        ben_dm, chi_dm = await dm_room(bot, BEN), await dm_room(bot, CHI)
        [to_ben] = dms_to(bot, BEN)
        [to_chi] = dms_to(bot, CHI)
        assert "asks for first-aid" in to_ben.body and "offers first-aid" in to_chi.body
        assert "weekends" in to_chi.body  # the offer's note, not the offerer's name
        for asked in (to_ben, to_chi):
            assert BEN not in asked.body + asked.html and CHI not in asked.body + asked.html
        match = int(to_ben.body.split("match ")[1].split(":")[0])
        [waiting] = await bot.say(chi_dm, CHI, f"!swap yes {match}")
        assert "When the other side says yes too" in waiting.body
        assert BEN not in waiting.body
        [in_room] = await bot.say(ROOM, BEN, f"!swap yes {match}")
        assert "in our direct chat" in in_room.body  # a group room learns nothing
        await add_room(bot, "!dm-ana:test.example", [ANA], direct=True)
        [stranger] = await bot.say("!dm-ana:test.example", ANA, f"!swap yes {match}")
        assert "no open match" in stranger.body
        sent = await bot.say(ben_dm, BEN, f"!swap yes {match}")
        intro = {s.room_id: s for s in sent}
        assert BEN in intro[chi_dm].body and BEN in intro[chi_dm].content["m.mentions"]["user_ids"]
        assert CHI in intro[ben_dm].body
        # Chi asked: the introduction says how to record the skill once learned; Ben offered.
        assert "!learned first-aid" in intro[chi_dm].body and "!learned" not in intro[ben_dm].body
        [late] = await bot.say(ben_dm, BEN, f"!swap no {match}")
        assert "already settled" in late.body
        # The same ask and offer never meet twice.
        assert await rows(bot, "skills_match") == 1
    finally:
        await close(bot)


async def test_a_refusal_reveals_nothing(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        await bot.say(ROOM, BEN, "!ask bookkeeping")
        await bot.say(ROOM, CHI, "!offer bookkeepings")
        ben_dm, chi_dm = await dm_room(bot, BEN), await dm_room(bot, CHI)
        match = int(dms_to(bot, BEN)[0].body.split("match ")[1].split(":")[0])
        await bot.say(ben_dm, BEN, f"!swap yes {match}")
        sent = await bot.say(chi_dm, CHI, f"!swap no {match}")
        everything = " ".join(s.body + s.html for s in bot.fake.sent if s.room_id in (ben_dm, chi_dm))
        assert BEN not in everything.replace(f"!swap yes {match}", "") and CHI not in everything
        assert any("did not go ahead" in s.body for s in sent if s.room_id == ben_dm)
        assert any("Nobody learns your name" in s.body for s in sent if s.room_id == chi_dm)
        [after] = await bot.say(ben_dm, BEN, f"!swap yes {match}")
        assert "already settled" in after.body
    finally:
        await close(bot)


async def test_a_skill_of_several_words_is_typed_with_a_colon(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        [offered] = await bot.say(ROOM, BEN, "!offer legal observing: at marches, weekends")
        assert "your offer of legal-observing" in offered.body
        [board] = await bot.say(ROOM, BEN, "!skills")
        assert "legal-observing: 1 offer" in board.body and "at marches, weekends" in board.body
        sent = await bot.say(ROOM, CHI, "!ask legal observing")  # known now: no colon needed
        [asked] = [s for s in sent if s.room_id == ROOM]
        assert "your ask of legal-observing" in asked.body and "meets 1 offer" in asked.body
    finally:
        await close(bot)


async def test_known_skills_suggest_a_close_tag(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        await bot.say(ROOM, BEN, "!offer facilitation")
        [reply] = await bot.say(ROOM, CHI, "!ask facilitaton")
        assert "close to it: facilitation" in reply.body
        [board] = await bot.say(ROOM, CHI, "!skills")
        assert "Known skills: facilitation, facilitaton." in board.body
    finally:
        await close(bot)


async def test_entries_and_matches_expire_and_a_room_is_forgotten(tmp_path: Path) -> None:
    bot = await skills_bot(
        tmp_path, config_extra="features:\n  skills:\n    entry_ttl: 2d\n    match_ttl: 1d\n"
    )
    try:
        await bot.say(ROOM, BEN, "!offer cooking")
        await bot.say(ROOM, CHI, "!ask cooking")
        await bot.say(ROOM, CHI, "!learned cooking")
        assert await rows(bot, "skills_match") == 1
        skills = next(f for f in bot.features if f.name == "skills")
        bot.now += timedelta(days=1, minutes=1)
        await skills.forget_expired(bot.now)
        assert await rows(bot, "skills_match") == 0 and await rows(bot, "skills_entry") == 2
        bot.now += timedelta(days=1)
        await skills.forget_expired(bot.now)
        assert await rows(bot, "skills_entry") == 0 and await rows(bot, "skills_known") == 0
        assert await rows(bot, "skills_held") == 1  # a skill held counts for held_ttl
        await bot.say(ROOM, ANA, "!roles confirm-skills on")
        await skills.forget_room(ROOM)
        for table in ("skills_held", "skills_room", "skills_requirement"):
            assert await rows(bot, table) == 0
    finally:
        await close(bot)


async def test_a_match_owed_its_messages_after_a_crash_gets_them_at_start(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        await bot.say(ROOM, BEN, "!offer cooking")
        await bot.say(ROOM, CHI, "!ask cooking")
        # As if the process died right after the match was written: nobody was asked yet.
        await bot.db.execute("UPDATE skills_match SET id = 2, asked = 0 WHERE id = 1")
        skills = next(f for f in bot.features if f.name == "skills")
        before = len(bot.fake.sent)
        await skills.start()
        await bot.flush()
        asked = [s.body for s in bot.fake.sent[before:]]
        assert len(asked) == 2 and all("match 2" in b for b in asked)
        await skills.start()  # owed no more: nothing is sent twice
        await bot.flush()
        assert len(bot.fake.sent) == before + 2
    finally:
        await close(bot)


async def test_a_match_in_a_polish_room_opens_direct_chats_named_and_spoken_in_polish(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path)
    try:
        [done] = await bot.say(ROOM, ANA, "!language pl")
        assert "polski" in done.body
        bot.fake.names[ROOM] = ""  # a room whose name cannot be read
        await bot.say(ROOM, BEN, "!offer first-aid")
        await bot.say(ROOM, CHI, "!ask first-aid")
        dms = [c for c in bot.fake.created if c["is_direct"]]
        assert sorted(c["invite"][0] for c in dms) == [BEN, CHI]
        for dm in dms:
            assert (dm["name"], dm["topic"]) == (
                "Wymiana umiejętności",
                "Prośby, które spotykają oferty: ty decydujesz, czy chcesz kontaktu",
            )
        [to_ben], [to_chi] = dms_to(bot, BEN), dms_to(bot, CHI)
        # The room has no name: the phrase standing for it is Polish too, like the rest.
        assert to_chi.body.startswith("Wymiana umiejętności, dopasowanie 1: Ktoś w pokoju twojej grupy ")
        assert "Czy chcesz nawiązać kontakt?" in to_ben.body
    finally:
        await close(bot)


async def test_affinity_forget_applies_the_board_retention_offline(tmp_path: Path) -> None:
    # `affinity forget` runs without bots: the board's own forget_expired, on an offline host.
    bot = await skills_bot(
        tmp_path, config_extra="features:\n  skills:\n    entry_ttl: 2d\n    held_ttl: 5d\n"
    )
    try:
        await bot.say(ROOM, BEN, "!offer cooking")
        await bot.say(ROOM, CHI, "!ask cooking")
        await bot.say(ROOM, CHI, "!learned cooking")
        runs = bot.app.bots[0].model_copy(update={"features": ["skills"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        assert await forget_contract_features(config, bot.db, NOW + timedelta(days=1)) == {"skills": 0}
        counts = await forget_contract_features(config, bot.db, NOW + timedelta(days=3))
        assert counts == {"skills": 3}  # the two entries and the known skill
        assert await rows(bot, "skills_held") == 1 and await rows(bot, "skills_match") == 1  # 7d
        await forget_contract_features(config, bot.db, NOW + timedelta(days=8))
        for table in ("skills_entry", "skills_match", "skills_known", "skills_held"):
            assert await rows(bot, table) == 0, table
    finally:
        await close(bot)
