"""Tier 2: the ghost chair and scheduled gatherings through the runtime, with a fake homeserver.

The clock is the test's (``bot.now``); the scheduler is not running, so a job runs when the test
fires it, as the timer would at its time. The lottery's opening draw and speaking order are
recorded by a subclass of the lottery, so these tests do not depend on a real draw.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bots.ghostchair import GhostChairFeature
from bots.lottery.config import LotteryConfig
from bots.lottery.feature import LotteryFeature
from bots.runtime.bot import FeatureFactory
from bots.runtime.contract import factory
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.offline import forget_contract_features
from bots.runtime.scheduler import Job
from protocols.ghostchair import DEFAULT_ABSENT_VOICES
from tests.bot.fakes import ROOM, FakeBot, Sent, add_room, close, fake_bot

MOD = "@mod:test.example"
ALICE = "@alice:test.example"
OTHER = "!other:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
# Tuesday 2026-11-24 19:00 in Paris (CET, UTC+1).
TUESDAY_PARIS = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
JOB = "ghostchair:gathering-{}"


class FakeLottery(LotteryFeature):
    """The lottery's interface for a gathering's opening (opening_draw, speaking_order),
    recording calls instead of drawing; everything else is the real lottery."""

    def __init__(self, host: Host, config: LotteryConfig) -> None:
        super().__init__(host, config)
        self.calls: list[tuple[str, str, str]] = []

    async def opening_draw(self, room_id: RoomID, origin: str) -> str | None:
        self.calls.append(("draw", room_id, origin))
        return "draw-1"

    async def speaking_order(self, room_id: RoomID, origin: str) -> None:
        self.calls.append(("order", room_id, origin))


def ghost_chair(extra: str) -> FeatureFactory:
    """The feature as the app builds it, from its ``features.ghostchair`` section."""
    section = ((yaml.safe_load(extra) or {}).get("features") or {}).get("ghostchair")
    return factory(GhostChairFeature, section)


async def ghost_bot(tmp_path: Path, *, lottery: bool = False, extra: str = "") -> FakeBot:
    features: list[FeatureFactory] = [ghost_chair(extra), *([factory(FakeLottery)] if lottery else [])]
    bot = await fake_bot(
        tmp_path, features, members=[MOD, ALICE], moderators=[MOD], now=NOW, config_extra=extra
    )
    await add_room(bot, OTHER, [MOD, ALICE], moderators=[MOD])
    # The scheduler is not running (and would move a past time to the real now), so record the
    # time each job was asked for.
    planned: dict[str, datetime] = {}
    at = bot.scheduler.at

    def recording_at(job_id: str, when: datetime, func: Job, *ids: str | int) -> None:
        planned[job_id] = when
        at(job_id, when, func, *ids)

    bot.scheduler.at = recording_at  # type: ignore[method-assign]
    bot.planned = planned  # type: ignore[attr-defined]
    return bot


def when(bot: FakeBot, job_id: str) -> datetime | None:
    """When the job is set to run (None: there is no such job)."""
    return bot.planned[job_id] if bot.scheduler.has(job_id) else None  # type: ignore[attr-defined]


def ghost(bot: FakeBot) -> GhostChairFeature:
    for f in bot.features:
        if isinstance(f, GhostChairFeature):
            return f
    raise AssertionError("no ghost chair")


def step_key(gathering_id: int, created: datetime, step: str, occurrence: datetime) -> str:
    """The transaction key of a gathering's step: the gathering (id and creation time), the
    step, the occurrence."""
    return key(
        "ghostchair",
        "gathering",
        gathering_id,
        int(created.timestamp()),
        step,
        int(occurrence.timestamp()),
    )


def fake_lottery(bot: FakeBot) -> FakeLottery:
    for f in bot.features:
        if isinstance(f, FakeLottery):
            return f
    raise AssertionError("no lottery")


async def count(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


def chairs(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.body.startswith("🪑")]


async def restart(bot: FakeBot, now: datetime) -> list[Sent]:
    """The bot was down (its jobs gone) until ``now``; it starts again on the same database."""
    for job in bot.scheduler.job_ids():
        bot.scheduler.cancel(job)
    bot.now = now
    before = len(bot.fake.sent)
    for feature in bot.features:
        await feature.start()
    await bot.flush()
    return bot.fake.sent[before:]


# -- absent voices ---------------------------------------------------------------------------


async def test_voices_start_from_the_defaults_and_moderators_edit_them(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        [listing] = await bot.say(ROOM, ALICE, "!ghost list")
        assert listing.reply_to and f"1. {DEFAULT_ABSENT_VOICES[0]}" in listing.body
        assert f"<li>{DEFAULT_ABSENT_VOICES[-1]}</li>" in listing.html
        [refused] = await bot.say(ROOM, ALICE, "!ghost add the night-shift nurse")
        assert "power level 50" in refused.body
        [added] = await bot.say(ROOM, MOD, "!ghost add the neighbour's kid")
        assert (
            "the neighbour's kid" in added.body and f"{len(DEFAULT_ABSENT_VOICES) + 1} voices" in added.body
        )
        [dup] = await bot.say(ROOM, MOD, "!ghost add The Neighbour's Kid")
        assert "already has a chair" in dup.body
        [removed] = await bot.say(ROOM, MOD, "!ghost remove 1")
        assert DEFAULT_ABSENT_VOICES[0] in removed.body
        for bad, expected in {
            "!ghost remove 99": "no voice number 99",
            "!ghost remove x": "'x' is not a number",
            "!ghost add": "missing <text>",
        }.items():
            [reply] = await bot.say(ROOM, MOD, bad)
            assert expected in reply.body, (bad, reply.body)
        [listing] = await bot.say(ROOM, ALICE, "!ghost list")
        assert DEFAULT_ABSENT_VOICES[0] not in listing.body and "the neighbour's kid" in listing.body
        # Another room still has the defaults.
        [other] = await bot.say(OTHER, ALICE, "!ghost list")
        assert f"1. {DEFAULT_ABSENT_VOICES[0]}" in other.body
    finally:
        await close(bot)


async def test_ghost_now_rotates_through_the_voices(tmp_path: Path) -> None:
    bot = await ghost_bot(
        tmp_path, extra="features:\n  ghostchair:\n    default_voices: [the first, the second]\n"
    )
    try:
        bodies = [(await bot.say(ROOM, ALICE, "!ghost now"))[0] for _ in range(3)]
        assert all(b.reply_to and b.body.startswith("🪑") for b in bodies)
        assert (
            "the first" in bodies[0].body and "the second" in bodies[1].body and "the first" in bodies[2].body
        )
        assert "<em>the first</em>" in bodies[0].html
        assert bodies[0].body.replace("the first", "") != bodies[2].body.replace(
            "the first", ""
        )  # new framing
    finally:
        await close(bot)


# -- scheduling ------------------------------------------------------------------------------


async def test_every_schedules_one_job_and_lists_it_in_local_time(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        [reply] = await bot.say(
            ROOM,
            MOD,
            "!gathering every Tue 19:00 Europe/Paris draw remind 1h care 2h until 2026-12-31",
        )
        assert (
            reply.reply_to and "Gathering #1: every tuesday 19:00 Europe/Paris until 2026-12-31" in reply.body
        )
        assert "draw remind 1h care 2h" in reply.body and "Next: 2026-11-24 19:00 CET" in reply.body
        assert "speaking order" in reply.body and "This room's zone is now Europe/Paris" in reply.body
        assert bot.scheduler.job_ids() == [JOB.format(1)]
        assert when(bot, JOB.format(1)) == TUESDAY_PARIS - timedelta(hours=1)  # the heads-up
        [listing] = await bot.say(ROOM, ALICE, "!gathering list")
        assert (
            "#1: every tuesday 19:00 Europe/Paris until 2026-12-31; draw remind 1h care 2h; next 2026-11-24 19:00 CET"
            in listing.body
        )
        assert "<li><strong>#1</strong>: every tuesday 19:00 Europe/Paris" in listing.html
        assert "<table>" not in listing.html and "This room's zone: Europe/Paris" in listing.body
        # The room's zone now applies when none is named; a one-off is shown in it too.
        [once] = await bot.say(ROOM, MOD, "!gathering at 2026-12-01 18:30")
        assert "Gathering #2: once, 2026-12-01 18:30 CET" in once.body and "zone is now" not in once.body
        assert when(bot, JOB.format(2)) == datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
        [other] = await bot.say(OTHER, ALICE, "!gathering list")
        assert other.body.startswith("No gatherings") and "zone: UTC" in other.body
        [help_] = await bot.say(ROOM, ALICE, "!help gathering")
        assert "!gathering every <weekday> <time> [<zone-and-options>]" in help_.body
        assert "until <YYYY-MM-DD>" in help_.body and "!gathering zone [<zone>]" in help_.body
        # The full list names each group by its feature's title (the contract class's).
        [listing_all] = await bot.say(ROOM, ALICE, "!help")
        assert "Basics:" in listing_all.body and "Ghost chair and gatherings:" in listing_all.body
        assert "<strong>Ghost chair and gatherings</strong>" in listing_all.html
    finally:
        await close(bot)


async def test_bad_input_gets_a_clear_error_and_stores_nothing(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)  # no lottery feature
    try:
        cases = {
            "!gathering every funday 25:00": "'funday' is not a weekday",
            "!gathering every tue 25:00": "'25:00' is not a time of day",
            "!gathering every tue 19:00 Mars/Olympus_Mons": "'Mars/Olympus_Mons' is not a time zone",
            "!gathering at 2026-12-01 18:00 Nowhere/Land": "'Nowhere/Land' is not a time zone",
            "!gathering at 2026-02-30 18:00": "2026-02-30",
            "!gathering at 2020-01-01 10:00": "has already passed",
            "!gathering every tue 19:00 remind": "'remind' needs a value",
            "!gathering every tue 19:00 care 5d": "at most 2d",
            "!gathering every tue 19:00 until 2026-01-01": "already passed",
            "!gathering every tue 19:00 draw": "lottery feature, which is not enabled",
            "!gathering every tue": "missing <time>",
            "!gathering cancel 99": "no gathering #99",
            "!gathering cancel soon": "'soon' is not a gathering id",
            "!gathering zone Nowhere/Land": "'Nowhere/Land' is not a time zone",
            "!gathering every tue 19:00 UTC": "power level 50",  # sent by Alice, below
            "!gathering zone Europe/Paris": "power level 50",
        }
        for command, expected in cases.items():
            sender = ALICE if expected.startswith("power") else MOD
            [reply] = await bot.say(ROOM, sender, command)
            assert expected in reply.body, (command, reply.body)
        assert await count(bot, "ghost_gathering") == 0 and bot.scheduler.job_ids() == []
        assert await ghost(bot).host.settings.zone_set(ROOM) is None
        [zone] = await bot.say(ROOM, ALICE, "!gathering zone")
        assert "This room's zone is UTC" in zone.body
    finally:
        await close(bot)


async def test_a_gathering_fires_once_and_its_job_moves_to_the_next_week(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering every tuesday 19:00 Europe/Paris")
        assert when(bot, JOB.format(1)) == TUESDAY_PARIS
        bot.now = TUESDAY_PARIS + timedelta(seconds=3)
        sent = await bot.fire(JOB.format(1))
        [chair] = sent
        assert chair.room_id == ROOM and chair.body.startswith("🪑") and chair.reply_to is None
        assert DEFAULT_ABSENT_VOICES[0] in chair.body and "late" not in chair.body
        assert when(bot, JOB.format(1)) == TUESDAY_PARIS + timedelta(days=7)
        # The job running again for the same occurrence, or a restart, posts nothing.
        assert await bot.fire(JOB.format(1)) == []
        assert await restart(bot, TUESDAY_PARIS + timedelta(minutes=1)) == []
        assert bot.scheduler.job_ids() == [JOB.format(1)]
        # Next week's reminder names the next voice.
        bot.now = TUESDAY_PARIS + timedelta(days=7)
        [second] = await bot.fire(JOB.format(1))
        assert DEFAULT_ABSENT_VOICES[1] in second.body
    finally:
        await close(bot)


async def test_heads_up_before_and_care_after(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering at 2026-11-24 19:00 Europe/Paris remind 2h care 90m")
        job = JOB.format(1)
        assert when(bot, job) == TUESDAY_PARIS - timedelta(hours=2)
        bot.now = TUESDAY_PARIS - timedelta(hours=2)
        [heads_up] = await bot.fire(job)
        assert "A gathering begins at 2026-11-24 19:00 CET" in heads_up.body
        assert when(bot, job) == TUESDAY_PARIS
        bot.now = TUESDAY_PARIS
        assert len(chairs(await bot.fire(job))) == 1
        assert when(bot, job) == TUESDAY_PARIS + timedelta(minutes=90)
        bot.now = TUESDAY_PARIS + timedelta(minutes=90)
        [care] = await bot.fire(job)
        assert care.body.startswith("Care check-in") and "late" not in care.body
        # A one-off ends after its care check-in: the row and the job are gone.
        assert await count(bot, "ghost_gathering") == 0 and bot.scheduler.job_ids() == []
    finally:
        await close(bot)


async def test_draw_goes_through_the_lottery_once(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")
        bot.now = TUESDAY_PARIS
        assert len(chairs(await bot.fire(JOB.format(1)))) == 1
        calls = fake_lottery(bot).calls
        assert [(what, room) for what, room, _ in calls] == [("draw", ROOM), ("order", ROOM)]
        assert [k for _, _, k in calls] == [
            step_key(1, NOW, "draw", TUESDAY_PARIS),
            step_key(1, NOW, "order", TUESDAY_PARIS),
        ]
        await ghost(bot).advance(1)
        await restart(bot, TUESDAY_PARIS + timedelta(minutes=5))
        assert len(calls) == 2
        # The next week's draw has keys of its own.
        bot.now = TUESDAY_PARIS + timedelta(days=7)
        await bot.fire(JOB.format(1))
        assert len(calls) == 4 and len({k for _, _, k in calls}) == 4
    finally:
        await close(bot)


async def test_without_the_lottery_at_start_a_short_note_is_posted(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")
        bot.features = [f for f in bot.features if f.name != "lottery"]  # the operator removed it
        bot.now = TUESDAY_PARIS
        sent = await bot.fire(JOB.format(1))
        assert [s.body.split()[0] for s in sent] == [
            "🪑",
            "No",
        ] and "lottery feature is not enabled" in sent[1].body
    finally:
        await close(bot)


async def test_down_at_the_start_posts_late_within_grace_then_notes_the_missed(
    tmp_path: Path,
) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")
        # Down across the start, back 20 minutes later: one late reminder, and the draw.
        [late, *rest] = await restart(bot, TUESDAY_PARIS + timedelta(minutes=20))
        assert late.body.startswith("🪑") and "Posted late" in late.body and rest == []
        assert len(fake_lottery(bot).calls) == 2
        assert await restart(bot, TUESDAY_PARIS + timedelta(minutes=30)) == []  # never twice
        # Down for three weeks, back 3 hours after the last start (grace 1h): one note, no chair.
        [note] = await restart(bot, TUESDAY_PARIS + timedelta(days=21, hours=3))
        assert "3 gatherings passed without their ghost-chair reminder" in note.body
        assert "from 2026-12-01 19:00 CET to 2026-12-15 19:00 CET" in note.body
        assert len(fake_lottery(bot).calls) == 2  # no draw for a gathering long over
        assert await restart(bot, TUESDAY_PARIS + timedelta(days=21, hours=4)) == []
        assert when(bot, JOB.format(1)) == TUESDAY_PARIS + timedelta(days=28)
        # One missed and the newest within grace: the note and a late reminder, oldest first.
        sent = await restart(bot, TUESDAY_PARIS + timedelta(days=35, minutes=10))
        assert [s.body.split()[0] for s in sent] == [
            "The",
            "🪑",
        ] and "at 2026-12-22 19:00 CET" in sent[0].body
        assert "Posted late" in sent[1].body
    finally:
        await close(bot)


async def test_grace_is_configurable(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path, extra="features:\n  ghostchair:\n    misfire_grace: 10m\n")
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris")
        [note] = await restart(bot, TUESDAY_PARIS + timedelta(minutes=20))
        assert note.body.startswith("The bot was away at 2026-11-24 19:00 CET")
    finally:
        await close(bot)


async def test_cancel_removes_the_gathering_and_its_job(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris")
        await bot.say(OTHER, MOD, "!gathering every wed 19:00")
        [refused] = await bot.say(ROOM, ALICE, "!gathering cancel 1")
        assert "power level 50" in refused.body
        [elsewhere] = await bot.say(ROOM, MOD, "!gathering cancel 2")  # another room's
        assert "no gathering #2 in this room" in elsewhere.body
        [done] = await bot.say(ROOM, MOD, "!gathering cancel #1")
        assert "Cancelled gathering #1 (every tuesday 19:00 Europe/Paris)" in done.body
        assert bot.scheduler.job_ids() == [JOB.format(2)]
        [listing] = await bot.say(ROOM, ALICE, "!gathering list")
        assert listing.body.startswith("No gatherings")
        # Nothing fires for it, even if a stale job or a restart came around.
        bot.now = TUESDAY_PARIS + timedelta(minutes=1)
        await ghost(bot).advance(1)
        assert chairs(await restart(bot, bot.now)) == []
    finally:
        await close(bot)


async def test_a_weekly_gathering_ends_at_its_sunset(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris until 2026-12-01")
        job = JOB.format(1)
        for week in (0, 7):
            bot.now = TUESDAY_PARIS + timedelta(days=week)
            assert len(chairs(await bot.fire(job))) == 1
        # After the last one, the job waits for the end of the sunset date (Paris midnight).
        assert when(bot, job) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
        bot.now = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
        assert await bot.fire(job) == []
        assert await count(bot, "ghost_gathering") == 0 and bot.scheduler.job_ids() == []
    finally:
        await close(bot)


async def test_the_sweep_deletes_what_ended_while_the_bot_was_down(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering at 2026-11-24 19:00 Europe/Paris")
        await bot.say(ROOM, MOD, "!gathering every fri 10:00")
        # The one-off's time passed while down: noted (never silently), then deleted.
        [note] = await restart(bot, TUESDAY_PARIS + timedelta(days=2))
        assert "The bot was away at 2026-11-24 19:00 CET" in note.body
        assert [g.id for g in await ghost(bot).gatherings.all()] == [2]
        assert bot.scheduler.job_ids() == [JOB.format(2)]
        await ghost(bot).forget_expired(bot.now)
        assert await count(bot, "ghost_gathering") == 1
    finally:
        await close(bot)


async def test_logs_carry_no_voice_or_message_text(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        await bot.say(ROOM, MOD, "!ghost add SECRET-VOICE-XYZ")
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")
        bot.now = TUESDAY_PARIS
        await bot.fire(JOB.format(1))
        await restart(bot, TUESDAY_PARIS + timedelta(days=7, minutes=30))
        ours = "\n".join(
            r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("bots", "storage")
        )
        assert "gathering 1" in ours
        assert "SECRET-VOICE-XYZ" not in ours and "🪑" not in ours and "19:00" not in ours
    finally:
        await close(bot)


async def test_a_weekly_job_keeps_local_time_across_the_dst_change(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        bot.now = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
        await bot.say(ROOM, MOD, "!gathering every sunday 19:00 Europe/Paris")
        winter = datetime(2027, 3, 21, 18, 0, tzinfo=UTC)  # 19:00 CET
        assert when(bot, JOB.format(1)) == winter
        bot.now = winter
        await bot.fire(JOB.format(1))
        summer = datetime(2027, 3, 28, 17, 0, tzinfo=UTC)  # 19:00 CEST, clocks moved that night
        assert when(bot, JOB.format(1)) == summer
        [listing] = await bot.say(ROOM, ALICE, "!gathering list")
        assert "next 2027-03-28 19:00 CEST" in listing.body
    finally:
        await close(bot)


async def test_a_failing_draw_leaves_the_reminder_and_the_order_standing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    try:
        lottery = fake_lottery(bot)

        async def broken(room_id: RoomID, origin: str) -> str | None:
            raise RuntimeError("SECRET detail")

        lottery.opening_draw = broken  # type: ignore[method-assign]
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")
        bot.now = TUESDAY_PARIS
        assert len(chairs(await bot.fire(JOB.format(1)))) == 1
        assert [what for what, _, _ in lottery.calls] == ["order"]
        assert "gathering 1: the draw failed: RuntimeError" in caplog.text
        assert "SECRET detail" not in caplog.text
        assert when(bot, JOB.format(1)) == TUESDAY_PARIS + timedelta(days=7)
    finally:
        await close(bot)


class Killed(BaseException):
    """The process dies here (no `except Exception` catches it, as nothing survives a kill)."""


async def test_the_opening_draw_survives_a_crash_between_the_start_and_the_draw(
    tmp_path: Path,
) -> None:
    bot = await ghost_bot(tmp_path, lottery=True)
    await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris draw")

    async def killed(room_id: RoomID, origin: str) -> str | None:
        raise Killed

    fake_lottery(bot).opening_draw = killed  # type: ignore[method-assign]
    bot.now = TUESDAY_PARIS
    with pytest.raises(Killed):
        await bot.scheduler.fire(JOB.format(1))  # the start is committed, then the process dies
    await bot.flush()
    assert len(chairs(bot.fake.sent)) == 1 and fake_lottery(bot).calls == []
    await close(bot)

    again = await ghost_bot(tmp_path, lottery=True)  # a new process on the same database
    try:
        calls = fake_lottery(again).calls
        assert [(what, room) for what, room, _ in calls] == [("draw", ROOM), ("order", ROOM)]
        assert [k for _, _, k in calls] == [  # the keys of that occurrence: the same draw, once
            step_key(1, NOW, "draw", TUESDAY_PARIS),
            step_key(1, NOW, "order", TUESDAY_PARIS),
        ]
        assert chairs(again.fake.sent) == []  # the start itself is not posted again
        again.now = TUESDAY_PARIS + timedelta(minutes=1)
        await ghost(again).advance(1)
        assert len(calls) == 2  # owed no more
        gathering = await ghost(again).gatherings.get(1)
        assert gathering is not None and gathering.rituals_owed is None
    finally:
        await close(again)


async def test_affinity_forget_deletes_ended_gatherings_and_keeps_unhandled_ones(tmp_path: Path) -> None:
    """``affinity forget`` (offline, through the contract's forget_expired) deletes a gathering
    past its sunset whose last occurrence was held, keeps one still to be posted or noted, and
    keeps any gathering before its sunset."""
    bot = await ghost_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Paris until 2026-12-01")
        await bot.say(OTHER, MOD, "!gathering every tue 19:00 Europe/Paris until 2026-12-01")
        await bot.say(ROOM, MOD, "!gathering every fri 10:00")
        for week in (0, 7):  # the bot holds #1's occurrences; #2's pass while it is away
            bot.now = TUESDAY_PARIS + timedelta(days=week)
            await bot.fire(JOB.format(1))
        runs = bot.app.bots[0].model_copy(update={"features": ["ghostchair"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        before_sunset = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
        assert (await forget_contract_features(config, bot.db, before_sunset)).get("ghostchair") == 0
        after_sunset = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
        assert (await forget_contract_features(config, bot.db, after_sunset))["ghostchair"] == 1
        assert [g.id for g in await ghost(bot).gatherings.all()] == [2, 3]
        # #2 is still owed its note that its gatherings passed: the bot posts it when it starts.
        [note] = [s for s in await restart(bot, after_sunset) if s.room_id == OTHER]
        assert "2 gatherings passed without" in note.body
        assert [g.id for g in await ghost(bot).gatherings.all()] == [3]
    finally:
        await close(bot)
