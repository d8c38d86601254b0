"""Tier 2: the herald's native affordances through the runtime (a fake homeserver with room
state, tests/bot/herald_state_fake.py).

A run's latest phase is pinned in each member room where the bot may pin, the previous one
replaced, and everything the run pinned comes down when it ends (stood down, the room left, or
finished), across a restart; a pin people set is never touched; a room that does not let the bot
pin gets its phases unpinned and one line in the log. ``!coalition space`` makes the coalition a
space that lists its rooms, says which it could not link (counts before names), and follows
rooms joining and leaving. Forgetting: a room that removes the bot, the sweeper, ``affinity
forget`` and ``affinity wipe``.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bots.cli import main
from bots.herald.leaderless import copy_content
from bots.herald.pinning import PINNED_AFTER_LAST, unpin_job_id
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from bots.runtime.scheduler import Scheduler
from tests.bot.fakes import BOT, ROOM, FakeBot, add_room, close
from tests.bot.herald_state_fake import StateFake
from tests.bot.test_herald import (
    ALICE,
    BOB,
    CAROL,
    NOW,
    ROOM_B,
    ROOM_C,
    coalition,
    herald,
    herald_factory,
    invite,
    settle,
    start_run,
)

ROOM_D = "!d:test.example"
DORA = "@dora:test.example"


async def pinning_coalition(tmp_path: Path) -> tuple[FakeBot, StateFake]:
    """The coalition of tests/bot/test_herald.py; the bot may pin in the coordination room and
    in B (where someone pinned their own message), not in C."""
    bot = await coalition(tmp_path)
    state = StateFake(bot.fake).install()
    for room in (ROOM, ROOM_B):
        bot.fake.powers[room][str(BOT)] = 50
    state.state[(ROOM_B, "m.room.pinned_events", "")] = {"pinned": ["$theirs"]}
    return bot, state


async def fire_due(bot: FakeBot, run: str) -> None:
    job = min(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-"))
    await bot.fire(job)
    await settle(bot)


async def phase_event(bot: FakeBot, run: str, room: str, phase: str) -> str:
    [d] = [d for d in await herald(bot).runs.deliveries(run) if d.room_id == room and d.phase_key == phase]
    assert d.event_id is not None, d
    return d.event_id


async def test_the_latest_phase_is_pinned_and_every_pin_comes_down_when_the_run_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bots.herald.pinning")
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        call_b = await phase_event(bot, run, ROOM_B, "call")
        assert state.pinned(ROOM_B) == [call_b, "$theirs"]  # newest first; theirs kept
        assert state.pinned(ROOM) == [await phase_event(bot, run, ROOM, "call")]
        assert state.pinned(ROOM_C) == []  # the bot may not pin there: the phase went out anyway

        bot.now = NOW + timedelta(minutes=30)
        await fire_due(bot, run)
        check_b = await phase_event(bot, run, ROOM_B, "check")
        assert state.pinned(ROOM_B) == [check_b, "$theirs"]  # the call's pin replaced
        bot.now = NOW + timedelta(hours=2)
        await fire_due(bot, run)
        debrief_b = await phase_event(bot, run, ROOM_B, "debrief")
        assert state.pinned(ROOM_B) == [debrief_b, "$theirs"]
        assert (await herald(bot).runs.get(run)).state == "done"  # type: ignore[union-attr]

        # Finished: the debrief stays up PINNED_AFTER_LAST, then comes down; theirs stays.
        assert f"herald:{unpin_job_id(run)}" in bot.scheduler.job_ids()
        finish = await herald(bot).finish_at(await herald(bot).runs.get(run))  # type: ignore[arg-type]
        assert finish == NOW + timedelta(hours=2) + PINNED_AFTER_LAST
        assert await herald(bot).settle_pins(run) == 0  # not yet
        bot.now = finish
        await bot.fire(f"herald:{unpin_job_id(run)}")
        assert state.pinned(ROOM_B) == ["$theirs"] and state.pinned(ROOM) == []
        assert await herald(bot).pins.run_ids() == []
        refusals = [r for r in caplog.records if "does not let this bot pin" in r.getMessage()]
        assert len(refusals) == 1 and ROOM_C in refusals[0].getMessage()  # once, for three phases
    finally:
        await close(bot)


async def test_a_stand_down_or_a_room_leaving_takes_the_runs_pins_down(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        assert len(state.pinned(ROOM_B)) == 2 and len(state.pinned(ROOM)) == 1
        await bot.say(ROOM_B, BOB, "!coalition leave")
        assert state.pinned(ROOM_B) == ["$theirs"]  # out of the coalition: the run is over there
        assert len(state.pinned(ROOM)) == 1
        await bot.say(ROOM, ALICE, f"!protocol cancel {run} Police closed the square")
        await settle(bot)
        stand_down = await phase_event(bot, run, ROOM, "cancel")
        assert state.pinned(ROOM) == []  # the stand-down is not pinned, the call came down
        assert stand_down not in state.pinned(ROOM)
        assert await herald(bot).pins.run_ids() == []
    finally:
        await close(bot)


async def test_pins_survive_a_restart_and_a_run_that_ended_meanwhile_is_unpinned(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        call_b = await phase_event(bot, run, ROOM_B, "call")
        # Down: someone else's homeserver-side cancel is what the tables say at the restart.
        await herald(bot).stop()
        bot.scheduler.shutdown()
        await herald(bot).runs.cancel(run, [], bot.now)
        assert state.pinned(ROOM_B) == [call_b, "$theirs"]
        bot.scheduler = Scheduler(bot.name)
        bot.features = [herald_factory()(bot)]
        await bot.features[0].ready()
        await bot.features[0].start()  # what it pinned before is in its table: it comes down
        assert state.pinned(ROOM_B) == ["$theirs"] and state.pinned(ROOM) == []
        assert await herald(bot).pins.run_ids() == []
    finally:
        await close(bot)


async def test_a_homeserver_away_keeps_the_row_and_the_next_look_takes_the_pin_down(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        await herald(bot).runs.cancel(run, [], bot.now)
        state.away = True
        assert await herald(bot).settle_pins(run) == 0
        assert await herald(bot).pins.run_ids() == [run]  # not forgotten: tried again
        state.away = False
        assert await herald(bot).forget_expired(bot.now) >= 2  # the sweeper settles too
        assert state.pinned(ROOM_B) == ["$theirs"] and await herald(bot).pins.run_ids() == []
    finally:
        await close(bot)


async def test_a_message_someone_pinned_first_stays_theirs(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:05")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        feature = herald(bot)
        [d] = [d for d in await feature.runs.deliveries(run) if d.room_id == ROOM_B and d.phase_key == "call"]
        state.state[(ROOM_B, "m.room.pinned_events", "")] = {"pinned": ["$sent-early", "$theirs"]}
        await feature.runs.mark_sent(d.txn_id, "$sent-early", bot.now)
        assert await feature.pin_phase(d, "$sent-early") is False
        await feature.runs.cancel(run, [], bot.now)
        await feature.settle_pins(run)
        assert state.pinned(ROOM_B) == ["$sent-early", "$theirs"]
    finally:
        await close(bot)


# -- the coalition as a space -------------------------------------------------------------------


async def test_coalition_space_lists_the_rooms_says_which_it_could_not_link_and_follows(
    tmp_path: Path,
) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        [made] = await bot.say(ROOM, ALICE, "!coalition space")
        [space] = [c["room_id"] for c in state.created]
        assert state.created[0]["creation_content"] == {"type": "m.space"}
        assert state.children(space) == {ROOM, ROOM_B, ROOM_C}
        assert state.state[(ROOM_B, "m.space.parent", space)]["canonical"] is True
        assert (ROOM_C, "m.space.parent", space) not in state.state  # no power there
        assert f"listing its 3 rooms: spring (https://matrix.to/#/{space})" in made.body
        assert "1 room could not be linked to the space" in made.body and made.body.endswith(
            "then type !coalition space again): Leeds group."
        )
        rule = state.state[(space, "m.room.join_rules", "")]
        assert rule["join_rule"] == "restricted"
        assert {a["room_id"] for a in rule["allow"]} == {ROOM, ROOM_B, ROOM_C}
        assert (space, ALICE) in bot.fake.invited

        # Given the power, the same command links the room; no second space is made.
        bot.fake.powers[ROOM_C][str(BOT)] = 50
        [again] = await bot.say(ROOM, ALICE, "!coalition space")
        assert "could not be linked" not in again.body and len(state.created) == 1
        assert state.state[(ROOM_C, "m.space.parent", space)]["via"] == ["test.example"]

        # It follows the coalition: a room leaves, another joins, another removes the bot.
        await bot.say(ROOM_C, CAROL, "!coalition leave")
        assert state.children(space) == {ROOM, ROOM_B}
        assert state.state[(ROOM_C, "m.space.parent", space)] == {}
        await add_room(bot, ROOM_D, [DORA], moderators=[DORA])
        await bot.say(ROOM_D, DORA, f"!coalition join {await invite(bot)}")
        assert state.children(space) == {ROOM, ROOM_B, ROOM_D}
        await herald(bot).forget_room(RoomID(ROOM_B))
        assert state.children(space) == {ROOM, ROOM_D}
        rule = state.state[(space, "m.room.join_rules", "")]
        assert {a["room_id"] for a in rule["allow"]} == {ROOM, ROOM_D}
    finally:
        await close(bot)


async def test_coalition_space_bad_input_changes_nothing(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        [member] = await bot.say(ROOM_B, BOB, "!coalition space")
        assert "Only a coalition's coordination room can do this" in member.body
        [weak] = await bot.say(ROOM, "@nobody:test.example", "!coalition space")
        assert "power level 50" in weak.body
        [extra] = await bot.say(ROOM, ALICE, "!coalition space now")
        assert "Usage: !coalition space" in extra.body
        assert state.created == [] and await herald(bot).spaces.every() == []
    finally:
        await close(bot)


# -- forgetting -----------------------------------------------------------------------------------


async def test_pins_and_spaces_are_forgotten_with_the_room_the_run_and_the_coalition(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        bot.fake.powers[ROOM_C][str(BOT)] = 50
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        await bot.say(ROOM, ALICE, "!coalition space")
        [space] = [c["room_id"] for c in state.created]
        feature = herald(bot)
        rows = "SELECT room_id FROM herald_pin ORDER BY room_id"
        assert [r[0] for r in await bot.db.fetchall(rows)] == sorted([ROOM, ROOM_B, ROOM_C])
        await feature.forget_room(RoomID(ROOM_B))  # removed from B: B's pin is B's now
        assert [r[0] for r in await bot.db.fetchall(rows)] == sorted([ROOM, ROOM_C])
        assert len(state.pinned(ROOM_B)) == 2
        # The coordination room removes the bot: the run is stood down, its pin in C comes down
        # (the one in the coordination room is that room's now), the coalition's rooms leave
        # it, and the space is emptied and forgotten.
        await feature.forget_room(RoomID(ROOM))
        assert await bot.db.fetchall(rows) == [] and state.pinned(ROOM_C) == []
        assert len(state.pinned(ROOM)) == 1
        await feature.forget_expired(bot.now + timedelta(days=40))
        assert await bot.db.fetchall("SELECT * FROM herald_space") == []
        assert state.children(space) == set()
    finally:
        await close(bot)


async def test_affinity_forget_drops_the_rows_of_expired_runs_offline(tmp_path: Path) -> None:
    bot, _ = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        assert len(await herald(bot).pins.run_ids()) == 1
        await bot.outbox.stop()
        runs = bot.app.bots[0].model_copy(update={"features": ["herald"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        await forget_contract_features(config, bot.db, NOW + timedelta(days=29))
        assert await herald(bot).pins.run_ids() == [run]  # its run is still kept
        await forget_contract_features(config, bot.db, NOW + timedelta(days=40))
        assert await bot.db.fetchall("SELECT * FROM herald_pin") == []
    finally:
        await close(bot)


def test_affinity_wipe_destroys_the_pins_and_spaces_with_the_database(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def pinned_and_spaced() -> None:
        bot, _ = await pinning_coalition(data)
        try:
            run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
            await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
            await settle(bot)
            await bot.say(ROOM, ALICE, "!coalition space")
            assert await bot.db.fetchall("SELECT * FROM herald_pin")
            assert await bot.db.fetchall("SELECT * FROM herald_space")
        finally:
            await close(bot)

    asyncio.run(pinned_and_spaced())
    assert (data / "affinity.db").exists()
    config = tmp_path / "config.yaml"
    config.write_text(
        "homeserver: http://127.0.0.1:1\ndata_dir: ./data\n"
        "bots:\n  - user_id: '@bot:test.example'\n    password: x\n    features: [herald]\n"
    )
    assert main(["wipe", "--config", str(config), "--yes-destroy-everything"]) == 0
    assert not (data / "affinity.db").exists()


async def test_coalition_space_answers_in_the_rooms_language(tmp_path: Path) -> None:
    bot, _ = await pinning_coalition(tmp_path)
    try:
        await herald(bot).host.settings.set_language(RoomID(ROOM), "pl")
        [made] = await bot.say(ROOM, ALICE, "!coalition space")
        assert made.body.startswith(
            "Koalicja spring jest teraz przestrzenią, która obejmuje 3 pokoje: spring"
        )
        assert "Nie udało się połączyć z przestrzenią 1 pokoju" in made.body
        assert made.body.endswith("wpisać ponownie !coalition space): Leeds group.")
        [usage] = await bot.say(ROOM, ALICE, "!help coalition space")
        assert "Pokaż koalicję i jej pokoje członkowskie jako przestrzeń Matrix" in usage.body
    finally:
        await close(bot)


async def test_another_heralds_later_phase_takes_this_heralds_pin_down(tmp_path: Path) -> None:
    bot, state = await pinning_coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:00")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        feature = herald(bot)
        call_b = await phase_event(bot, run, ROOM_B, "call")
        [check] = [
            d for d in await feature.runs.deliveries(run) if d.room_id == ROOM_B and d.phase_key == "check"
        ]
        registry = SimpleNamespace(admitted=frozenset({"@other:test.example"}))
        feature.view_for_room = lambda room: SimpleNamespace(registry=registry)  # type: ignore[method-assign,assignment,return-value]

        def copy_by(sender: str, event_id: str) -> dict[str, Any]:
            content = copy_content(check, rev=1)
            return {
                "type": "m.room.message",
                "sender": sender,
                "event_id": event_id,
                "origin_server_ts": 1,
                "content": content,
            }

        await feature.seen_copy(ROOM_B, copy_by("@nobody:test.example", "$forged"))
        assert state.pinned(ROOM_B) == [call_b, "$theirs"]  # not a herald: nothing changes
        await feature.seen_copy(ROOM_B, copy_by("@other:test.example", "$check-by-other"))
        assert state.pinned(ROOM_B) == ["$theirs"] and await feature.pins.get(run, ROOM_B) is None
    finally:
        await close(bot)
