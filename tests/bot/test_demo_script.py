"""Tier 2: the commands ``affinity demo`` types are commands the suite declares, and each is
answered (no usage error, no "there is no command"): a renamed or removed command fails here,
not silently in the demo."""

from __future__ import annotations

from pathlib import Path

from bots.demo import _available_features, demo_commands
from bots.ghostchair.feature import GhostChairFeature
from bots.lottery.feature import LotteryFeature
from tests.bot.fakes import ROOM, close, fake_bot

ANN = "@ann:test.example"


async def test_every_demo_command_is_declared_and_answered(tmp_path: Path) -> None:
    plain, encrypted = demo_commands(_available_features())
    assert plain == ["!ping", "!help", "!roles", "!ghost now"]
    assert encrypted == ["!ping", "!help"]
    bot = await fake_bot(tmp_path, [LotteryFeature, GhostChairFeature], members=[ANN])
    try:
        for typed in plain:
            found, _name, words = bot.commands.match(typed)
            assert found is not None and words == [], typed
            found.parse(words)  # needs no argument
            replies = await bot.say(ROOM, ANN, typed)
            assert replies, typed
            assert not any(r.body.startswith(("Unknown command", "Usage")) for r in replies), typed
    finally:
        await close(bot)


def test_a_feature_the_build_lacks_gets_no_demo_line() -> None:
    plain, _ = demo_commands(["lottery"])
    assert plain == ["!ping", "!help", "!roles"]
