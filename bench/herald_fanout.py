"""Benchmark: one protocol phase fanned out to N member rooms by the suite, against the same PUTs
sent by a minimal raw HTTP client (aiohttp) with the same concurrency. One run, one local Synapse,
rate limits lifted, unencrypted rooms (the raw client cannot encrypt).

    .venv/bin/python bench/herald_fanout.py [--rooms 200] [--rounds 3]

The suite's time runs from handing the due phase to the herald (``deliver_due``: enqueue in the
outbox with stable txn ids, send, record each event id on its delivery) until every delivery is
recorded sent. The baseline's time runs from the first PUT to the last answer. Rounds alternate
suite and baseline so load on the machine hits both alike; medians and their ratio are printed
(target: within 1.2x).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from homeserver_fixture import (
    account,
    create_rooms,
    herald_of,
    running_app,
    start_servers,
    stop_all,
    write_bot_config,
)

from bots.app import App
from bots.herald.render_phases import say
from protocols.herald import make_plan, new_run_id


async def suite_round(app: App, herald: Any, coalition: str, rooms: list[Any]) -> float:
    """One run of the rapid-response template; time its first phase going out to every room."""
    bot = app.bots[0]
    now = bot.clock()
    run_id = new_run_id(secrets.token_bytes(16))
    template = herald.template("rapid-response")
    plan = make_plan(run_id, template, now, rooms, now, coalition=coalition, render=say)
    await herald.runs.create(run_id, coalition, template.name, now, now)
    await herald.runs.confirm(run_id, plan, now)
    started = time.perf_counter()
    queued = await herald.deliver_due(run_id)
    await herald.settle(timeout=300)
    elapsed = time.perf_counter() - started
    states = [d.state for d in await herald.runs.deliveries(run_id) if d.phase_key == "call"]
    assert queued == len(rooms) and states == ["sent"] * len(rooms), states
    herald.unschedule_deliveries(run_id)
    return elapsed


async def baseline_round(url: str, token: str, rooms: list[Any], concurrency: int, body: str) -> float:
    """The same PUTs, raw: one per room, ``concurrency`` in flight, nothing recorded."""
    slots = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    tag = secrets.token_hex(4)
    async with aiohttp.ClientSession(headers=headers) as http:

        async def put(index: int, room_id: str) -> None:
            content = {
                "msgtype": "m.notice",
                "body": body,
                "format": "org.matrix.custom.html",
                "formatted_body": f"<p>{body}</p>",
            }
            path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/raw-{tag}-{index}"
            async with slots:
                async with http.put(url + path, json=content) as resp:
                    resp.raise_for_status()
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(put(i, room.room_id) for i, room in enumerate(rooms)))
        return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    servers = start_servers(work, 1)
    server = servers[0]
    try:
        user_id, password = account(server, "herald")
        setup_token = server.login("herald", password)["access_token"]
        started = time.perf_counter()
        # Rooms the bot itself creates, so it is joined.
        room_ids = await create_rooms(server.url, setup_token, args.rooms)
        print(f"created {len(room_ids)} rooms in {time.perf_counter() - started:.1f}s")
        config_path = write_bot_config(work, server, user_id, password, ["herald"])
        async with running_app(config_path) as app:
            bot = app.bots[0]
            herald = herald_of(bot)
            coalition = "bench"
            for room_id in room_ids:
                await herald.coalitions.join(coalition, room_id, server.server_name, user_id, bot.clock())
            rooms = await herald.member_rooms(await herald.coalitions.members(coalition))
            token = bot.client.access_token
            template = herald.template("rapid-response")
            sample = make_plan("sample", template, bot.clock(), rooms[:1], bot.clock(), render=say)[0]
            concurrency = app.config.send_concurrency

            # Warm-up: connections opened, caches filled on both sides.
            await baseline_round(server.url, token, rooms[:20], concurrency, sample.body)
            suite_times, raw_times = [], []
            for _ in range(args.rounds):
                suite_times.append(await suite_round(app, herald, coalition, rooms))
                raw_times.append(await baseline_round(server.url, token, rooms, concurrency, sample.body))
        suite, raw = statistics.median(suite_times), statistics.median(raw_times)
        print(f"rooms: {len(rooms)}, send_concurrency: {concurrency}, rounds: {args.rounds}")
        print(
            "suite   (enqueue, send, record): "
            + ", ".join(f"{t:.2f}s" for t in suite_times)
            + f"  median {suite:.2f}s"
        )
        print(
            "raw aiohttp PUTs               : "
            + ", ".join(f"{t:.2f}s" for t in raw_times)
            + f"  median {raw:.2f}s"
        )
        print(f"ratio suite/raw: {suite / raw:.2f}x (target: within 1.2x)")
    finally:
        stop_all(servers)


if __name__ == "__main__":
    asyncio.run(main())
