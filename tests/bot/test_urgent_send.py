"""Tier 2: what must not wait behind a broadcast (a stand-down) says so when it is sent
(``urgent=True`` on the host's ``post`` and ``send_event``): its room takes the next sending turn
before rooms already waiting. The outbox reads no key: the herald marks its stand-downs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.runtime.delivery import KindedSender
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from bots.runtime.message import Message
from bots.runtime.outbox import Outbox
from bots.runtime.runtime_host import RuntimeHost
from tests.bot.fakes import add_room, close, fake_bot
from tests.bot.test_herald import ALICE, NOW, ROOM, coalition, herald, settle, start_run


async def test_an_urgent_post_overtakes_messages_already_waiting(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        # A paused outbox with one sending slot, so the waiting rows are there to be overtaken.
        await bot.outbox.stop()
        bot.outbox = Outbox(
            bot.db, bot.name, KindedSender(bot.fake).send, concurrency=1, clock=lambda: bot.now.timestamp()
        )
        host: Host = RuntimeHost(bot, "demo")
        rooms = [RoomID(f"!r{n}:test.example") for n in range(12)]
        for room in rooms:
            await add_room(bot, room, [])
        for i in range(3):
            for room in rooms:
                await host.post(room, Message.of(f"phase {i}"), f"demo-{room}-{i}")
        late, raw = RoomID("!late:test.example"), RoomID("!raw:test.example")
        await add_room(bot, late, [])
        await add_room(bot, raw, [])
        await host.post(late, Message.of("stand down"), "demo-late", urgent=True)
        await host.send_event(
            raw, "m.room.message", {"msgtype": "m.notice", "body": "also"}, "demo-raw", urgent=True
        )
        await host.post(RoomID("!r0:test.example"), Message.of("ordinary, last"), "demo-last")
        bot.outbox.start()
        await bot.flush()
        order = [s.body for s in bot.fake.sent]
        assert len(order) == 39
        assert set(order[:2]) == {"stand down", "also"}, order[:4]
        assert order[-1] == "ordinary, last"
    finally:
        await close(bot)


async def test_the_heralds_stand_down_is_queued_urgent_and_its_phases_are_not(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:05")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        bot.now = NOW + timedelta(minutes=5)
        await bot.fire(next(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")))
        await settle(bot)
        await bot.say(ROOM, ALICE, f"!protocol amend {run} Meet at the north gate")
        await bot.say(ROOM, ALICE, f"!protocol cancel {run} Police closed the square")
        await settle(bot)
        assert herald(bot) is not None
        rows = await bot.db.fetchall(
            "SELECT txn_id, urgent FROM outbox WHERE txn_id LIKE ?", (f"aff-{run}-%",)
        )
        urgent = {r["txn_id"].split("-")[2] for r in rows if r["urgent"]}
        ordinary = {r["txn_id"].split("-")[2] for r in rows if not r["urgent"]}
        assert urgent == {"cancel"}
        assert ordinary == {"call", "amend"}
    finally:
        await close(bot)
