"""Tier 2: skills that open roles. A role that requires a skill is drawn only among its
holders (the lottery asks the skill board through ``host.peer``); a role nobody can take
says who could teach it and draws nothing; a room may ask moderators to confirm skills.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from tests.bot.fakes import ROOM, Sent, close
from tests.bot.test_skills import ANA, BEN, CHI, rows, skills_bot

DOC = Path(__file__).resolve().parents[2] / "docs" / "lottery-algorithm.md"


async def test_a_required_skill_opens_a_role_only_to_holders(tmp_path: Path) -> None:
    bot = await skills_bot(
        tmp_path, config_extra="features:\n  lottery:\n    default_roles: [care, liaison]\n"
    )
    try:
        [refused] = await bot.say(ROOM, BEN, "!roles require care first-aid")
        assert "power level" in refused.body
        [unknown] = await bot.say(ROOM, ANA, "!roles require cook first-aid")
        assert "not a role here" in unknown.body and await rows(bot, "skills_requirement") == 0
        await bot.say(ROOM, CHI, "!offer first-aid")
        [set_] = await bot.say(ROOM, ANA, "!roles require care first aid")
        assert "Nobody here holds first-aid yet" in set_.body and "Who could teach it: @chi" in set_.body
        [empty] = await bot.say(ROOM, BEN, "!draw care")
        assert "Nobody in the pool holds first-aid" in empty.body and "Who could teach it: @chi" in empty.body
        assert await rows(bot, "lottery_draw") == 0  # nothing half-written
        [learned] = await bot.say(ROOM, BEN, "!learned first-aid")
        assert "Recorded: you hold first-aid" in learned.body
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        assert "Draw " in commit.body and '"eligible":{"care":["@ben:test.example"]}' in commit.body
        bot.now += timedelta(minutes=1)
        draw_id = commit.body.split("Draw ")[1].split(":")[0]
        [result] = await bot.fire(f"lottery:reveal-{draw_id}")
        assert f"care → {BEN}" in result.body
    finally:
        await close(bot)


async def test_confirmation_by_a_moderator(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path, config_extra="features:\n  lottery:\n    default_roles: [care]\n")
    try:
        await bot.say(ROOM, ANA, "!roles confirm-skills on")
        await bot.say(ROOM, ANA, "!roles require care first-aid")
        [learned] = await bot.say(ROOM, BEN, "!learned first-aid")
        assert "!skills confirm <you> first-aid" in learned.body
        [empty] = await bot.say(ROOM, BEN, "!draw care")
        assert "Nobody in the pool holds first-aid" in empty.body and "@ben" in empty.body
        [not_mod] = await bot.say(ROOM, CHI, f"!skills confirm {BEN} first-aid")
        assert "power level" in not_mod.body
        [nothing] = await bot.say(ROOM, ANA, f"!skills confirm {CHI} first-aid")
        assert "has not recorded" in nothing.body
        [ok] = await bot.say(ROOM, ANA, f"!skills confirm {BEN} first-aid")
        assert "Confirmed" in ok.body
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        assert '"eligible":{"care":["@ben:test.example"]}' in commit.body
    finally:
        await close(bot)


def _draw_id(commit: Sent) -> str:
    return commit.body.split("Draw ")[1].split(":")[0]


async def test_a_shadow_sits_beside_the_holder_and_goes_first_next_time(tmp_path: Path) -> None:
    bot = await skills_bot(
        tmp_path, config_extra="features:\n  lottery:\n    default_roles: [care, liaison]\n"
    )
    try:
        [refused] = await bot.say(ROOM, ANA, "!roles set care shadow")
        assert "'shadow' cannot be a role" in refused.body
        [commit] = await bot.say(ROOM, BEN, "!draw care shadow")
        assert "with a shadow for care" in commit.body and '"shadows":{"care":[' in commit.body
        draw_id = _draw_id(commit)
        bot.now += timedelta(minutes=1)
        [result] = await bot.fire(f"lottery:reveal-{draw_id}")
        holder = result.body.split("care → ")[1].split(" ")[0]
        shadow = result.body.split("shadow: ")[1].split(" ")[0]
        assert shadow != holder and {holder, shadow} <= {ANA, BEN, CHI}
        assert shadow in result.content["m.mentions"]["user_ids"]
        assert await rows(bot, "lottery_shadow") == 1
        [roles] = await bot.say(ROOM, BEN, "!roles")
        assert f"shadowed by {shadow}" in roles.body
        [verified] = await bot.say(ROOM, BEN, f"!verify {draw_id}")
        assert "checks out" in verified.body and f"care shadow → {shadow}" in verified.body
        # What !verify shows, the offline program in the docs recomputes, shadow included.
        program = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)[0]
        (tmp_path / "verify_draw.py").write_text(program, "utf-8")
        (tmp_path / "draw.json").write_text(verified.body.splitlines()[-1], "utf-8")
        offline = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(tmp_path / "verify_draw.py"), str(tmp_path / "draw.json")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert offline.returncode == 0 and "MATCHES" in offline.stdout and shadow in offline.stdout
        # The holder releases: the shadow is first in the pool for the next draw of care.
        await bot.say(ROOM, holder, "!release care")
        [vacant] = await bot.say(ROOM, BEN, "!roles")
        assert f"vacant ({shadow} shadowed it and goes first)" in vacant.body
        [again] = await bot.say(ROOM, CHI, "!draw care")
        assert f'"first":{{"care":["{shadow}"]}}' in again.body
        bot.now += timedelta(minutes=1)
        [second] = await bot.fire(f"lottery:reveal-{_draw_id(again)}")
        assert f"care → {shadow}" in second.body
        assert await rows(bot, "lottery_shadow") == 0  # drawn without a shadow: nobody goes first now
        lottery = next(f for f in bot.features if f.name == "lottery")
        await bot.say(ROOM, shadow, "!release care")
        [third] = await bot.say(ROOM, CHI, "!draw care shadow")
        bot.now += timedelta(minutes=1)
        [last] = await bot.fire(f"lottery:reveal-{_draw_id(third)}")
        # Two of three have held care: the third is its shadow, unless they were drawn to hold it.
        shadowed = ", shadow: @" in last.body
        assert await rows(bot, "lottery_shadow") == (1 if shadowed else 0)
        assert shadowed != ("no shadow: everyone in the pool has held it" in last.body)
        await lottery.forget_room(ROOM)
        assert await rows(bot, "lottery_shadow") == 0
    finally:
        await close(bot)


async def test_nobody_left_to_shadow(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path, config_extra="features:\n  lottery:\n    default_roles: [care]\n")
    try:
        bot.fake.members[ROOM] = [bot.fake.members[ROOM][0], BEN]  # a pool of one: no shadow
        [commit] = await bot.say(ROOM, BEN, "!draw shadow")
        bot.now += timedelta(minutes=1)
        [result] = await bot.fire(f"lottery:reveal-{_draw_id(commit)}")
        assert f"care → {BEN}" in result.body and "no shadow: everyone in the pool has held it" in result.body
    finally:
        await close(bot)


async def test_a_shadow_stays_beside_a_holder_whose_mandate_is_renewed(tmp_path: Path) -> None:
    bot = await skills_bot(tmp_path, config_extra="features:\n  lottery:\n    default_roles: [care]\n")
    try:
        [commit] = await bot.say(ROOM, BEN, "!draw care shadow")
        bot.now += timedelta(minutes=1)
        [result] = await bot.fire(f"lottery:reveal-{_draw_id(commit)}")
        holder = result.body.split("care → ")[1].split(" ")[0]
        shadow = result.body.split("shadow: ")[1].split(" ")[0]
        third = next(p for p in (ANA, BEN, CHI) if p not in (holder, shadow))
        await bot.say(ROOM, shadow, "!renew care")
        [renewed] = await bot.say(ROOM, third, "!renew care")
        assert "for one more term" in renewed.body
        bot.now += timedelta(days=10)  # past the first term (7 days), within the renewed one
        [roles] = await bot.say(ROOM, BEN, "!roles")
        assert f"care: {holder} until" in roles.body and f"shadowed by {shadow}" in roles.body
    finally:
        await close(bot)
