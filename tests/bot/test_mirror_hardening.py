"""Tier 2: the blind mirror's hardening (issue 10): consent, quotas, eligibility, the pickle key,
no DM reply on disk, a room that removed the bot, two bots on one database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.runtime.ids import RoomID, UserID
from bots.runtime.runtime_host import RuntimeHost
from storage.room_settings import RoomSettings
from tests.bot.fakes import ROOM, close
from tests.bot.mirror_helpers import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DMS,
    KEEPER,
    MOD,
    OTHER,
    ask,
    count_rows,
    dm,
    feature,
    mirror_bot,
    open_round,
    outbox_rows,
    reflect,
)

# -- hardening (issue 10) --------------------------------------------------------------------


async def test_the_conversation_leaves_no_outbox_row_in_the_dm(tmp_path: Path) -> None:
    # An outbox row per reply, with its time, next to a copy of the database would say when
    # each person submitted: the order of the authors.
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        replies = await reflect(bot, ALICE, code)
        assert "Thank you" in replies[-1].body and replies[-1].reply_to
        refusals = [
            *await dm(bot, BOB, "reflect zzzzzz"),
            *await dm(bot, BOB, "submit"),
            *await dm(bot, BOB, f"reflect {code}", encrypted=False),
        ]
        assert len(refusals) == 3 and "No round has the code" in refusals[0].body
        for user in (ALICE, BOB):
            assert await outbox_rows(bot, DMS[user]) == 0
    finally:
        await close(bot)


async def test_no_round_opens_without_a_real_pickle_key(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        for secret in ("affinity-default-pickle-key", None, ""):
            bot.pickle_key = secret  # type: ignore[attr-defined,assignment]
            feature(bot)._rounds = None
            sent = await bot.say(ROOM, MOD, f"!mirror open {OTHER}")
            assert [s.room_id for s in sent] == [ROOM]
            assert "Blind mirrors are off: the operator has not configured a pickle key" in sent[0].body
        assert await count_rows(bot, "mirror_request") == 0 and await count_rows(bot, "mirror_round") == 0
    finally:
        await close(bot)


async def test_only_members_from_the_open_who_stay_count(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        bot.fake.members[ROOM].append(DAVE)  # a (sock) account that joins once the round is open
        [late] = await dm(bot, DAVE, f"reflect {code}")
        assert f"Only members who were in the room when round {code} opened" in late.body
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        bot.fake.members[ROOM].remove(CAROL)  # leaves before the close: her reflection is dropped
        sent = await bot.fire("mirror:close-1")
        [withheld] = [s for s in sent if s.room_id == ROOM]
        assert "fewer than 3 reflections" in withheld.body
        assert "3 members could take part" in withheld.body  # MOD, Alice, Bob: not Dave, not Carol
        assert not [s for s in sent if s.room_id == OTHER]
    finally:
        await close(bot)


async def test_the_release_says_how_many_could_take_part(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        [closed] = await bot.fire("mirror:close-1")
        assert "4 members could take part" in closed.body
        released = await bot.fire("mirror:release-1")
        [batch] = [s for s in released if s.room_id == OTHER]
        assert "3 anonymous reflections from Marshals" in batch.body
        assert "4 members could take part" in batch.body
    finally:
        await close(bot)


async def test_a_room_that_removed_the_bot_loses_its_rounds_and_requests(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await reflect(bot, ALICE, code)
        await dm(bot, BOB, f"reflect {code}")  # an unfinished draft
        await ask(bot)
        assert await count_rows(bot, "mirror_request") == 1
        before = len(bot.fake.sent)
        bot.fake.members.pop(OTHER)
        await bot._on_removed(RoomID(OTHER), None)
        await bot.flush()
        told = [s for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert any(f"Blind mirror {code} was cancelled" in s.body for s in told)
        assert not any("Kitchen crew" in s.body for s in told)
        assert any(
            "closed before you submitted" in s.body for s in bot.fake.sent[before:] if s.room_id == DMS[BOB]
        )
        for table in ("mirror_round", "mirror_round_key", "mirror_box", "mirror_request"):
            assert await count_rows(bot, table) == 0, table
        assert bot.scheduler.job_ids() == []
        assert feature(bot).conversations.drafts.get(BOB) is None
        [gone] = await dm(bot, CAROL, f"reflect {code}")
        assert "No round has the code" in gone.body
    finally:
        await close(bot)


async def test_two_bots_on_one_database_never_act_on_each_others_rounds(tmp_path: Path) -> None:
    ours = await mirror_bot(tmp_path)
    theirs = await mirror_bot(tmp_path / "other")
    try:
        # The second bot's feature and outbox share the first one's database, under its own name.
        theirs.outbox.db = ours.db
        theirs.name = "@second-bot:test.example"
        theirs.outbox.bot = theirs.name
        host = feature(theirs).host
        assert isinstance(host, RuntimeHost)
        host.user_id, host.db, host.settings = UserID(theirs.name), ours.db, RoomSettings(ours.db)
        for room in (ROOM, OTHER, *DMS.values()):
            await theirs._set_joined_ts(room, 0, overwrite=True)
        feature(theirs)._rounds = None
        code = await open_round(ours)
        for user in (ALICE, BOB, CAROL):
            await reflect(ours, user, code)
        await feature(theirs).start()
        assert theirs.scheduler.job_ids() == []  # not its round: no close job to rebuild
        [unknown] = await dm(theirs, ALICE, f"reflect {code}")
        assert "No round has the code" in unknown.body
        await feature(theirs)._close(1)
        await feature(theirs)._release(1)
        theirs.now += timedelta(days=60)
        await feature(theirs).forget_expired(theirs.now)
        assert not [s for s in theirs.fake.sent if "anonymous reflections from" in s.body]
        assert await feature(ours).rounds.count(1) == 3
        [status] = await theirs.say(ROOM, MOD, "!mirror status")
        assert status.body.startswith("No blind-mirror rounds")
    finally:
        theirs.scheduler.shutdown()
        await theirs.outbox.stop()
        await theirs.db.close()
        await close(ours)


async def test_the_announcement_points_out_members_who_joined_just_before(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        now_ms = int(bot.now.timestamp() * 1000)
        hour, day = 3_600_000, 86_400_000

        async def members_api(method: str, path: str, body: Any = None, query: Any = None) -> dict[str, Any]:
            assert method == "GET" and path.endswith("/members") and query == {"membership": "join"}
            member = {"type": "m.room.member", "content": {"membership": "join"}}
            return {
                "chunk": [
                    {**member, "state_key": MOD, "origin_server_ts": now_ms - 30 * day},
                    {**member, "state_key": ALICE, "origin_server_ts": now_ms - 2 * day},
                    {**member, "state_key": BOB, "origin_server_ts": now_ms - hour},  # fresh
                    {**member, "state_key": CAROL, "origin_server_ts": now_ms - 2 * hour},  # fresh
                    # A renamed member is not a new one.
                    {
                        **member,
                        "state_key": DAVE,
                        "origin_server_ts": now_ms - hour,
                        "unsigned": {"prev_content": {"membership": "join"}},
                    },
                    {**member, "state_key": "@not-a-member-now:test.example", "origin_server_ts": now_ms},
                    "not an event",
                ]
            }

        bot.fake.api = members_api  # type: ignore[method-assign]
        bot.fake.members[ROOM].append(DAVE)
        request = await ask(bot)
        sent = await bot.say(OTHER, KEEPER, f"!mirror accept {request}")
        [announced] = [s for s in sent if s.room_id == ROOM]
        assert "Note: 2 of them joined in the last 1d" in announced.body
    finally:
        await close(bot)


async def test_a_failure_in_the_conversation_is_answered_without_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)

        async def broken(*args: Any) -> bool:
            raise RuntimeError("SECRET-ANSWER in an exception message")

        monkeypatch.setattr(feature(bot).rounds, "is_eligible", broken)
        [sorry] = await dm(bot, ALICE, f"reflect {code}")
        assert sorry.body.startswith("Sorry, something went wrong")
        assert await outbox_rows(bot, DMS[ALICE]) == 0
    finally:
        await close(bot)
