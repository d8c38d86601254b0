"""Tier 2: two bots in one process share one database, and each acts only on what is its own.

Every lottery and ghost-chair row carries its bot (migration 011) and every query is filtered by
it, so after a restart each reveal, mandate expiry and gathering start runs once, on the bot that
owns it and is in the room; a room both bots are in keeps two independent lotteries.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bots import core
from bots.config import AppConfig, parse_config
from bots.ghostchair import GhostChairFeature
from bots.lottery import LotteryFeature
from bots.runtime.delivery import KindedSender
from bots.runtime.ids import RoomID, UserID
from bots.runtime.outbox import Outbox
from storage.db import Database
from tests.bot.fakes import FakeBot, FakeMatrix, Sent, running
from tests.bot.test_lottery import ANA, BEN, CHI, DEV, NOW, built, draw_id_of, jobs, lottery

ALPHA = UserID("@alpha:test.example")
BETA = UserID("@beta:test.example")
ROOM_A = RoomID("!alpha-only:test.example")
ROOM_B = RoomID("!beta-only:test.example")
SHARED = RoomID("!both:test.example")
PEOPLE = [ANA, BEN, CHI, DEV]
ROOMS = {ALPHA: [ROOM_A, SHARED], BETA: [ROOM_B, SHARED]}


def app_config(tmp_path: Path) -> AppConfig:
    bots = "".join(f'  - user_id: "{b}"\n    password: x\n    features: []\n' for b in (ALPHA, BETA))
    return parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\nbots:\n{bots}'
        "access:\n  allowed_servers: [test.example]\n"
    )


async def start_bots(tmp_path: Path, now: datetime) -> tuple[FakeBot, FakeBot]:
    """Both bots on one database, as App.run starts them: each in its own rooms and the shared one."""
    config = app_config(tmp_path)
    db = await Database.open(tmp_path / "affinity.db")
    started: list[FakeBot] = []
    for number, bot_config in enumerate(config.bots):
        bot = FakeBot(config, bot_config, db, [lottery, built(GhostChairFeature)], core=[core.router])
        bot.now = now
        bot.clock = lambda bot=bot: bot.now  # type: ignore[misc]
        bot._ids = itertools.count(1000 * (number + 1) + int((now - NOW).total_seconds()))
        bot.fake = FakeMatrix(user_id=bot.user_id)
        # Event ids are unique on the homeserver: each bot's messages get their own.
        bot.fake._ids = itertools.count(100_000 * (number + 1) + int((now - NOW).total_seconds()))
        bot.matrix = bot.fake  # type: ignore[assignment]
        bot.outbox = Outbox(
            db, bot.name, KindedSender(bot.fake).send, clock=lambda bot=bot: bot.now.timestamp()
        )
        bot.outbox.start()
        for room in ROOMS[bot.user_id]:
            bot.fake.members[room] = (
                [str(ALPHA), str(BETA), *PEOPLE] if room == SHARED else [str(bot.user_id), *PEOPLE]
            )
            bot.fake.powers[room] = {ANA: 50}
            await bot._set_joined_ts(room, 0, overwrite=True)
        started.append(bot)
    for bot in started:
        for feature in bot.features:  # as the sync loop starts them: its migrations first
            await feature.ready()
            await feature.start()
        await bot.flush()
    return started[0], started[1]


async def stop_bots(*bots: FakeBot) -> None:
    for bot in bots:
        bot.scheduler.shutdown()
        await bot.outbox.stop()
    await bots[0].db.close()


async def both_hear(alpha: FakeBot, beta: FakeBot, body: str, event_id: str) -> dict[str, list[Sent]]:
    """One message in the shared room, delivered to both bots as each one's sync would."""
    out: dict[str, list[Sent]] = {}
    for bot in (alpha, beta):
        before = len(bot.fake.sent)
        event: dict[str, Any] = {
            "type": "m.room.message",
            "event_id": event_id,
            "sender": ANA,
            "origin_server_ts": int(bot.now.timestamp() * 1000),
            "content": {"msgtype": "m.text", "body": body},
        }
        await bot.handle(SHARED, event)
        await bot.flush()
        out[bot.name] = bot.fake.sent[before:]
    return out


async def fire_all(bot: FakeBot, prefix: str) -> None:
    for job in jobs(bot, prefix):
        await bot.fire(job)


def bodies(bot: FakeBot, text: str) -> list[tuple[str, str]]:
    return [(s.room_id, s.body) for s in bot.fake.sent if text in s.body]


async def test_each_bot_reveals_expires_and_starts_only_its_own_after_a_restart(tmp_path: Path) -> None:
    alpha, beta = await start_bots(tmp_path, NOW)
    [commit_a] = await alpha.say(ROOM_A, BEN, "!draw care")
    [commit_b] = await beta.say(ROOM_B, BEN, "!draw care")
    ids_a, ids_b = {draw_id_of(commit_a)}, {draw_id_of(commit_b)}
    [gathering] = await alpha.say(ROOM_A, ANA, "!gathering at 2026-11-22 15:00")
    assert "#" in gathering.body
    await stop_bots(alpha, beta)

    # Restarted after every window closed: each bot rebuilds only its own reveal jobs.
    alpha, beta = await start_bots(tmp_path, NOW + timedelta(minutes=5))
    try:
        assert set(jobs(alpha, "lottery:reveal-")) == {f"lottery:reveal-{d}" for d in ids_a}
        assert set(jobs(beta, "lottery:reveal-")) == {f"lottery:reveal-{d}" for d in ids_b}
        assert jobs(beta, "ghostchair:gathering-") == [] and len(jobs(alpha, "ghostchair:gathering-")) == 1
        await fire_all(alpha, "lottery:reveal-")
        await fire_all(beta, "lottery:reveal-")
        results_a = bodies(alpha, "result:")
        results_b = bodies(beta, "result:")
        assert [r for r, _ in results_a] == [ROOM_A] and [r for r, _ in results_b] == [ROOM_B]
        assert all(any(d in b for _, b in results_a) for d in ids_a)
        assert all(any(d in b for _, b in results_b) for d in ids_b)
    finally:
        await stop_bots(alpha, beta)

    # Past the gathering's start and every mandate's end: each bot posts its own, once.
    alpha, beta = await start_bots(tmp_path, NOW + timedelta(days=8))
    try:
        vacant_a, vacant_b = bodies(alpha, "vacant now"), bodies(beta, "vacant now")
        assert [r for r, _ in vacant_a] == [ROOM_A] and [r for r, _ in vacant_b] == [ROOM_B]
        ghost_a = [s for s in alpha.fake.sent if s.room_id == ROOM_A and "ghost" in s.body.lower()]
        assert len(ghost_a) == 1
        assert all(s.room_id != ROOM_A for s in beta.fake.sent)  # beta is not in that room
        assert all(s.room_id != ROOM_B for s in alpha.fake.sent)
    finally:
        await stop_bots(alpha, beta)


async def test_a_room_both_bots_are_in_keeps_two_independent_lotteries(tmp_path: Path) -> None:
    alpha, beta = await start_bots(tmp_path, NOW)
    try:
        await both_hear(alpha, beta, "!roles set care liaison", "$roles")
        shared = await both_hear(alpha, beta, "!draw care", "$draw")
        alpha.now = beta.now = NOW + timedelta(minutes=1)
        await fire_all(alpha, "lottery:reveal-")
        await fire_all(beta, "lottery:reveal-")
        [(_, result_a)], [(_, result_b)] = bodies(alpha, "result:"), bodies(beta, "result:")
        draw_a, draw_b = draw_id_of(shared[alpha.name][0]), draw_id_of(shared[beta.name][0])
        assert draw_a != draw_b and draw_a in result_a and draw_b in result_b
        # Alpha's lottery in the room is not beta's: releasing, stepping back, options are per bot.
        lottery_a, lottery_b = running(alpha, LotteryFeature), running(beta, LotteryFeature)
        a_roles = await lottery_a.mandates.current(SHARED)
        b_roles = await lottery_b.mandates.current(SHARED)
        assert set(a_roles) == set(b_roles) == {"care"}
        await lottery_a.forget_room(SHARED)
        assert await lottery_a.mandates.current(SHARED) == {}
        assert set(await lottery_b.mandates.current(SHARED)) == {"care"}
        assert len(shared[alpha.name]) == len(shared[beta.name]) == 1
        # The ghost chair's voices too: what alpha is told, beta's list does not change.
        await alpha.handle(
            SHARED,
            {
                "type": "m.room.message",
                "event_id": "$voice",
                "sender": ANA,
                "origin_server_ts": int(alpha.now.timestamp() * 1000),
                "content": {"msgtype": "m.text", "body": "!ghost add the river"},
            },
        )
        ghost_a, ghost_b = running(alpha, GhostChairFeature), running(beta, GhostChairFeature)
        assert "the river" in await ghost_a.voices.voices(SHARED)
        assert "the river" not in await ghost_b.voices.voices(SHARED)
    finally:
        await stop_bots(alpha, beta)
