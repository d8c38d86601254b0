"""The day of action with the real herald, across two federating Synapses: a room that declines
gets no phase while the others do, the slot list answers the checklist, the liaison drawn by the
room's lottery gets the escalation DM and the backup the next one, and the board tells the
declined room apart from the silent. The escalation clock is moved, not waited (as in
tests/e2e/test_herald.py).

Not collected by ``make test`` (its name has no ``test_`` prefix): a federated run of several
minutes on a loaded machine, run with ``make test-dayofaction``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bots.herald import HeraldFeature
from tests.e2e.federation import Federation, federation  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, ask_event, body, until
from tests.e2e.test_dayofaction import from_bot, open_dm, readable, room_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TEMPLATE = {
    "name": "doa-e2e",
    "description": "A call with slots.",
    "phases": [
        {
            "key": "call",
            "offset": "0",
            "title": "Call-out",
            "message": "We gather now.",
            "checklist": ["Medic: 1"],
            "ack": {"needed": True, "within": "15m"},
        },
        {"key": "debrief", "offset": "+2h", "title": "Debrief", "message": "How did it go?"},
    ],
}


async def test_a_declined_room_gets_nothing_and_the_drawn_liaison_then_the_backup_are_asked(
    federation: Federation, tmp_path: Path
) -> None:
    a, b = federation.a, federation.b
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "doa-e2e.yaml").write_text(yaml.safe_dump(TEMPLATE))
    bot = BotHarness(
        a,
        tmp_path / "bot",
        ["herald", "lottery", "slots", "dayofaction"],
        extra={
            "access": {"allowed_servers": federation.server_names},
            "features": {
                "herald": {"template_dirs": [str(templates)]},
                "lottery": {"commit_window": "3s", "default_term": "1h"},
                "dayofaction": {"liaison_check": "2s"},
            },
        },
    )
    await bot.start()
    alice, dan, carol = [await person(a, tmp_path) for _ in range(3)]
    bob = await person(b, tmp_path)  # owns Lyon, on the second server
    try:
        coord = await room_of(alice, bot, "Coordination", [], encrypted=True)
        lyon = await room_of(bob, bot, "Lyon", [dan], encrypted=True)
        leeds = await room_of(carol, bot, "Leeds", [], encrypted=False)
        assert "coordinates it" in await ask(alice, coord, "!coalition create e2e", timeout=45)
        for owner, room in ((bob, lyon), (carol, leeds)):
            token = re.search(r"cj-[a-z2-7]{32}", await ask(alice, coord, "!coalition invite")).group(0)  # type: ignore[union-attr]
            assert "joined coalition e2e" in await ask(owner, room, f"!coalition join {token}", timeout=45)

        # Lyon's lottery draws its liaison (Dan steps back, so it is Bob, on the other server);
        # the room names Dan its backup.
        await ask(bob, lyon, "!roles set liaison", timeout=45)
        await ask(dan, lyon, "!stepback", timeout=45)
        commit = await ask_event(bob, lyon, "!draw liaison", timeout=45)
        draw_id = re.search(r"Draw (\w+)", body(commit)).group(1)  # type: ignore[union-attr]
        await bob.wait_for(from_bot(bot, lyon, f"Draw {draw_id} result"), timeout=45)
        told = await bob.wait_for(from_bot(bot, lyon, "is this room's liaison"), timeout=45)
        assert body(told).startswith(bob.user_id)
        liaison, backup = bob, dan
        assert "Backup liaison" in await ask(bob, lyon, f"!coalition backup {backup.user_id}", timeout=45)
        rooms = await ask(alice, coord, "!coalition rooms")
        assert f"liaison {liaison.user_id}" in rooms  # the herald's liaison is the drawn one

        plan = await ask(alice, coord, f"!protocol start doa-e2e at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        run = re.search(r"Plan (\w+):", plan).group(1)  # type: ignore[union-attr]
        assert "sits run" in await ask(
            carol, leeds, f"!protocol decline {run} we march at the port", timeout=45
        )
        assert "confirmed" in await ask(alice, coord, f"!protocol confirm {run}")
        call = await bob.wait_for(from_bot(bot, lyon, "We gather now"), timeout=60)
        listing = await bob.wait_for(from_bot(bot, lyon, "Slots for run"), timeout=45)
        assert listing["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == call["event_id"]
        assert "You hold a place as medic" in await ask(dan, lyon, "!slot claim medic", timeout=45)
        await alice.wait_for(from_bot(bot, coord, "We gather now"), timeout=45)

        # Lyon stays silent: the drawn liaison first, then the backup; Leeds is never chased.
        herald = next(f for f in bot.runtime.features if isinstance(f, HeraldFeature))
        real_clock = bot.runtime.clock
        seen_l, seen_b = len(liaison.invites), len(backup.invites)
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=16)
        await herald.escalate(run)
        alert = await open_dm(liaison, seen_l, bot)
        assert "Lyon has not acknowledged" in body(
            await readable(liaison, bot, alert, "has not acknowledged")
        )
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=24)
        await herald.escalate(run)
        backup_alert = await open_dm(backup, seen_b, bot)  # a DM of its own, with the bot's alert in it
        assert backup_alert not in (alert, coord, lyon, leeds)
        note = await alice.wait_for(from_bot(bot, coord, "No acknowledgement from Lyon"), timeout=45)
        assert "Leeds" not in body(note)
        bot.runtime.clock = real_clock
        status = await alice.send_text(coord, f"!protocol status {run}")
        await until(
            lambda: len(alice.replies(coord, status)) >= 2, "the board and its declined rooms", timeout=45
        )
        assert "Leeds: declined (we march at the port)" in body(alice.replies(coord, status)[-1])
        # Leeds got its own answer to the decline and nothing of the run.
        from_run = [
            e
            for r, e in carol.events
            if r == leeds and e.get("sender") == bot.user_id and "gather" in body(e)
        ]
        assert from_run == []
    finally:
        await bot.stop()
        for p in (alice, dan, carol, bob):
            await p.close()
