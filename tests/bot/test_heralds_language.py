"""Tier 2: the heralds' commands (bots/herald/heralds.py) answer in the room's language, with
the English word for word where the language is English."""

from __future__ import annotations

from pathlib import Path

from tests.bot.fakes import BOT, ROOM, close
from tests.bot.test_herald import ALICE, coalition

STRANGER = "@stranger:test.example"


async def test_the_heralds_commands_answer_in_the_rooms_language(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        [one] = await bot.say(ROOM, ALICE, "!coalition heralds")
        assert one.body == (
            f"Coalition spring has one herald, this bot ({BOT}). "
            "A coordination room adds another with !coalition herald add <@bot:server>."
        )
        [refused] = await bot.say(ROOM, ALICE, f"!coalition herald remove {STRANGER}")
        assert (
            f"{STRANGER} is not a herald of coalition spring; !coalition heralds lists them." in refused.body
        )
        await bot.say(ROOM, ALICE, "!language pl")
        [jeden] = await bot.say(ROOM, ALICE, "!coalition heralds")
        assert jeden.body.startswith(f"Koalicja spring ma jednego herolda, tego bota ({BOT}).")
        [odmowa] = await bot.say(ROOM, ALICE, f"!coalition herald remove {STRANGER}")
        assert f"{STRANGER} nie jest heroldem koalicji spring" in odmowa.body
        [sam] = await bot.say(ROOM, ALICE, f"!coalition herald add {BOT}")
        assert "Ten bot już jest heroldem koalicji." in sam.body
        [pomoc] = await bot.say(ROOM, ALICE, "!help coalition heralds")
        assert "Pokaż heroldów koalicji" in pomoc.body
    finally:
        await close(bot)
