"""Tier 2: a coalition is joined by invitation, never by name, and never from a direct chat.

Every refusal changes nothing: no member added, no token used up, nothing sent elsewhere.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from protocols.herald.consent import MAX_OPEN_INVITES
from storage.herald import token_hash
from tests.bot.fakes import ROOM, add_room, close, fake_bot
from tests.bot.test_herald import (
    ALICE,
    BOB,
    CAROL,
    DAN,
    ROOM_B,
    ROOM_C,
    coalition,
    herald,
    herald_factory,
    invite,
    settle,
    start_run,
)

EVE = "@eve:test.example"  # moderator of a room of her own, and of her DM with the bot
ROOM_E = "!e:test.example"
DM_E = "!dm-eve:test.example"


async def members_of(bot: object, name: str = "spring") -> set[str]:
    return {m.room_id for m in await herald(bot).coalitions.members(name)}  # type: ignore[arg-type]


async def test_a_name_alone_joins_nothing_and_a_direct_chat_sets_nothing_up(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        await add_room(bot, ROOM_E, [EVE], moderators=[EVE])
        await add_room(bot, DM_E, [EVE], moderators=[EVE], direct=True)
        before = await members_of(bot)
        [by_name] = await bot.say(ROOM_E, EVE, "!coalition join spring")
        assert "joined by invitation, not by name" in by_name.body
        token = await invite(bot)
        for command in (
            "!coalition join spring",
            f"!coalition join {token}",
            "!coalition create mine",
            "!coalition invite",
            "!coalition leave",
            f"!coalition remove {ROOM_B}",
            f"!coalition liaison {EVE}",
        ):
            [dm] = await bot.say(DM_E, EVE, command)
            assert "works in a group room, not in a direct chat" in dm.body, (command, dm.body)
        [garbage] = await bot.say(ROOM_E, EVE, "!coalition join cj-0000")
        assert "not an invitation token" in garbage.body
        assert await members_of(bot) == before
        assert await herald(bot).coalitions.coalitions_of(DM_E) == []
        # The token refused in the DM is still good, once, in a group room.
        joined = await bot.say(ROOM_E, EVE, f"!coalition join {token.upper()}")
        [reply] = [s for s in joined if s.room_id == ROOM_E]
        assert "joined coalition spring" in reply.body
        assert "coordinated from “Coordination” (!room:test.example) by @alice:test.example" in reply.body
        [note] = [s for s in joined if s.room_id == ROOM]
        assert note.body.startswith(
            "➕ !e:test.example (test.example) joined coalition spring with an invitation"
        )
        [again] = await bot.say(ROOM_E, EVE, f"!coalition join {await invite(bot)}")
        assert "already in coalition spring" in again.body
        await bot.say(ROOM_E, EVE, "!coalition leave")
        [reused] = await bot.say(ROOM_E, EVE, f"!coalition join {token}")
        assert "not valid" in reused.body and "used already" in reused.body
        assert ROOM_E not in await members_of(bot)
        # Only the hash is stored, and the used token is gone.
        rows = await bot.db.fetchall("SELECT token_hash FROM herald_invite")
        assert token_hash(token) not in {r[0] for r in rows} and all(token not in r[0] for r in rows)
    finally:
        await close(bot)


async def test_names_cannot_be_squatted_and_only_coordinators_invite(tmp_path: Path) -> None:
    bot = await coalition(tmp_path, config_extra="  coordinators: ['@alice:test.example']\n")
    try:
        await add_room(bot, ROOM_E, [EVE], moderators=[EVE])
        [taken] = await bot.say(ROOM_E, EVE, "!coalition create spring")
        assert "already exists on this bot" in taken.body
        [bad] = await bot.say(ROOM_E, EVE, "!coalition create Spring!Action")
        assert "not a coalition name" in bad.body
        # A member room may coordinate a coalition of its own (a coalition of coalitions).
        [member_room] = await bot.say(ROOM_B, BOB, "!coalition create other")
        assert "Coalition other created" in member_room.body
        [from_member] = await bot.say(ROOM_C, CAROL, "!coalition invite")
        assert "coordination room" in from_member.body
        await add_room(bot, ROOM, [ALICE, DAN, "@zed:test.example"], moderators=[ALICE, "@zed:test.example"])
        [weak] = await bot.say(ROOM, DAN, "!coalition invite")
        assert "power level 50" in weak.body
        [not_listed] = await bot.say(ROOM, "@zed:test.example", "!coalition invite")
        assert "access.coordinators" in not_listed.body
        assert await bot.db.fetchall("SELECT 1 FROM herald_invite") == []
        # Eve's own coalition is hers; its name is unique on this bot, not a way into spring.
        [own] = await bot.say(ROOM_E, EVE, "!coalition create autumn")
        assert "Coalition autumn created" in own.body
        assert (await herald(bot).coalitions.get("autumn")).coordination_room == ROOM_E  # type: ignore[union-attr]
    finally:
        await close(bot)


async def test_an_invitation_for_one_room_expires_and_is_swept(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        await add_room(bot, ROOM_E, [EVE], moderators=[EVE])
        await add_room(bot, "!f:test.example", [EVE], moderators=[EVE])
        bot.fake.aliases["#eve:test.example"] = ROOM_E
        [unknown] = await bot.say(ROOM, ALICE, "!coalition invite #nobody:test.example")
        assert "cannot find that room" in unknown.body
        [member] = await bot.say(ROOM, ALICE, f"!coalition invite {ROOM_B}")
        assert "already in coalition spring" in member.body
        for_eve = await invite(bot, "#eve:test.example")
        [elsewhere] = await bot.say("!f:test.example", EVE, f"!coalition join {for_eve}")
        assert "issued for another room" in elsewhere.body
        later = await invite(bot)
        bot.now += timedelta(hours=49)
        [expired] = await bot.say(ROOM_E, EVE, f"!coalition join {later}")
        assert "not valid" in expired.body and "last 2d" in expired.body
        assert ROOM_E not in await members_of(bot)
        await herald(bot).forget_expired(bot.now)
        assert await bot.db.fetchall("SELECT 1 FROM herald_invite") == []
    finally:
        await close(bot)


async def test_invitations_and_members_are_bounded(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        for _ in range(MAX_OPEN_INVITES):
            await invite(bot)
        [full] = await bot.say(ROOM, ALICE, "!coalition invite")
        assert f"already has {MAX_OPEN_INVITES} open invitations" in full.body
        assert len(await bot.db.fetchall("SELECT 1 FROM herald_invite")) == MAX_OPEN_INVITES
        await bot.db.execute("DELETE FROM herald_invite")
        h = herald(bot)
        MAX_MEMBERS = 12  # an operator's bound (features.herald.max_member_rooms)
        h.config = h.config.model_copy(update={"max_member_rooms": MAX_MEMBERS})
        token = await invite(bot)
        for i in range(MAX_MEMBERS - 3):
            await h.coalitions.add_member("spring", f"!filler{i}:test.example", "test.example", None, bot.now)
        await add_room(bot, ROOM_E, [EVE], moderators=[EVE])
        [crowded] = await bot.say(ROOM_E, EVE, f"!coalition join {token}")
        assert f"already has {MAX_MEMBERS} rooms" in crowded.body
        [no_more] = await bot.say(ROOM, ALICE, "!coalition invite")
        assert f"has {MAX_MEMBERS} rooms" in no_more.body
        assert ROOM_E not in await members_of(bot) and len(await members_of(bot)) == MAX_MEMBERS
    finally:
        await close(bot)


async def test_remove_takes_a_room_out_and_cancels_what_it_was_owed(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        [from_member] = await bot.say(ROOM_B, BOB, f"!coalition remove {ROOM_C}")
        assert "coordination room" in from_member.body
        [itself] = await bot.say(ROOM, ALICE, f"!coalition remove {ROOM}")
        assert "cannot remove itself" in itself.body
        [stranger] = await bot.say(ROOM, ALICE, "!coalition remove !nowhere:test.example")
        assert "not in coalition spring" in stranger.body
        sent = await bot.say(ROOM, ALICE, f"!coalition remove {ROOM_C}")
        [told] = [s for s in sent if s.room_id == ROOM_C]
        assert "removed from coalition spring by its coordination room" in told.body
        [done] = [s for s in sent if s.room_id == ROOM]
        assert "Leeds group is out of coalition spring" in done.body and "2 pending messages" in done.body
        assert await members_of(bot) == {ROOM, ROOM_B}
        states = {d.phase_key: d.state for d in await herald(bot).runs.deliveries(run) if d.room_id == ROOM_C}
        assert states == {"call": "sent", "check": "cancelled", "debrief": "cancelled"}
        # Nothing further: not the later phases, not an amendment.
        before = len(bot.fake.sent)
        await bot.say(ROOM, ALICE, f"!protocol amend {run} North gate instead")
        bot.now += timedelta(hours=2)
        for job in [j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]:
            await bot.fire(job)
        await settle(bot)
        assert not [s for s in bot.fake.sent[before:] if s.room_id == ROOM_C]
        [rooms] = await bot.say(ROOM_C, CAROL, "!coalition rooms")
        assert "not in a coalition" in rooms.body
    finally:
        await close(bot)


async def test_two_coalitions_on_one_bot_do_not_see_each_other(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [herald_factory()], members=[ALICE], moderators=[ALICE])
    try:
        await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
        await add_room(bot, ROOM_E, [EVE], moderators=[EVE])
        await bot.say(ROOM, ALICE, "!coalition create spring")
        await bot.say(ROOM_E, EVE, "!coalition create spring-2")
        token = await invite(bot)
        await bot.say(ROOM_B, BOB, f"!coalition join {token}")
        [eve_rooms] = await bot.say(ROOM_E, EVE, "!coalition rooms")
        assert ROOM_B not in eve_rooms.body and "Lyon" not in eve_rooms.body
        assert re.search(r"spring-2", eve_rooms.body)
    finally:
        await close(bot)
