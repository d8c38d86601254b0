"""Tier 2: inputs that used to reach users as "Sorry, something went wrong" (an untyped error)
get a typed refusal that says what is wrong, and change nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bots.calendar import CalendarFeature
from bots.ghostchair import GhostChairFeature
from bots.herald import HeraldFeature
from bots.runtime.contract import factory
from tests.bot.fakes import ROOM, close, fake_bot

MOD = "@mod:test.example"
SORRY = "Sorry, something went wrong"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!gathering at 9999-12-31 23:59", "year must be between"),
        ("!gathering at 9999-12-31 23:59 America/New_York", "year must be between"),
        ("!gathering at 2026-12-01 18:00 " + "Z" * 300, "not a time zone"),
        ("!gathering zone " + "Europe/" + "x" * 300, "not a time zone"),
        ("!gathering every tuesday 19:00 " + "a/" * 150 + "b", "not a time zone"),
        # Found by tests/bot/test_fuzz.py: a number past SQLite's 64-bit integers, a digit int() refuses.
        ("!gathering cancel 99999999999999999999", "is not a gathering id"),
        ("!gathering cancel ²", "is not a gathering id"),
    ],
)
async def test_ghostchair_refuses_far_dates_and_long_zones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: str, expected: str
) -> None:
    bot = await fake_bot(tmp_path, [factory(GhostChairFeature)], members=[MOD], moderators=[MOD])
    try:
        replies = await bot.say(ROOM, MOD, body)
        assert replies and all(SORRY not in r.body for r in replies)
        assert any(expected in r.body for r in replies), [r.body for r in replies]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await close(bot)


async def test_event_add_near_year_9999_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bot = await fake_bot(tmp_path, [factory(HeraldFeature), CalendarFeature], members=[MOD], moderators=[MOD])
    try:
        for body in (
            "!event add Rally at 9999-12-31 23:59",
            "!event add Rally at 9999-12-31 23:59 America/New_York",
        ):
            replies = await bot.say(ROOM, MOD, body)
            assert replies and all(SORRY not in r.body for r in replies), [r.body for r in replies]
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await close(bot)


async def test_a_reaction_to_a_non_string_target_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await fake_bot(
        tmp_path, [factory(HeraldFeature), factory(GhostChairFeature)], members=[MOD], moderators=[MOD]
    )
    try:
        for target in (5, None, ["$x"], {"event_id": "$x"}):
            await bot.handle(
                ROOM,
                {
                    "type": "m.reaction",
                    "event_id": f"$re-{type(target).__name__}",
                    "sender": MOD,
                    "origin_server_ts": 1_800_000_000_000,
                    "content": {
                        "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "👍"}
                    },
                },
            )
        await bot.flush()
        assert not bot.fake.sent
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await close(bot)
