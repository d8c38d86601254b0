"""Benchmark: one phase to N member rooms with one herald (today's single-bot path) and with two
heralds (leaderless: each is first for about half the rooms), on the same local Synapse.

    .venv/bin/python bench/redundancy.py [--rooms 200] [--stagger 20]

Both heralds run in one process against one homeserver, so the homeserver's load is the same in
both rounds; what changes is who sends. The time runs from handing the due phase to the heralds
until every room holds a copy; then the copies are counted in every room (from the homeserver),
and the ratio one/two is printed. With two heralds each room must still hold exactly one copy:
the second in rank waits the stagger G before it would send, and sees the first copy by then.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bots.app import App  # noqa: E402
from bots.config import load_config  # noqa: E402
from bots.devserver import Homeserver  # noqa: E402
from bots.herald import HeraldFeature  # noqa: E402
from protocols.coalition.reveal import admission_state  # noqa: E402
from protocols.herald import make_plan, new_run_id  # noqa: E402


async def create_rooms(server: Homeserver, token: str, count: int, invite: str) -> list[str]:
    slots = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def one(index: int) -> str:
            body = {"name": f"Group {index}", "preset": "private_chat", "invite": [invite]}
            async with slots, http.post(f"{server.url}/_matrix/client/v3/createRoom", json=body) as resp:
                resp.raise_for_status()
                return str((await resp.json())["room_id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def count_copies(
    server: Homeserver, token: str, rooms: list[str], run_id: str | None
) -> dict[str, int]:
    """Copies of the run's call-out in each room, read from the homeserver."""
    found: dict[str, int] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for room in rooms:
            path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/messages?dir=b&limit=50"
            async with http.get(server.url + path) as resp:
                chunk = (await resp.json()).get("chunk", [])
            found[room] = sum(1 for e in chunk if is_copy(e, run_id))
    return found


def is_copy(event: dict[str, Any], run_id: str | None) -> bool:
    """A copy of the call-out: of ``run_id`` by its marker, or (None) any unmarked call-out,
    as the single herald sends it."""
    content = event.get("content") or {}
    marker = content.get("org.affinity.herald") or {}
    if run_id is not None:
        return marker.get("run") == run_id
    return not marker and "RAPID RESPONSE" in str(content.get("body", ""))


def herald_of(bot: Any) -> Any:
    return next(f for f in bot.features if isinstance(f, HeraldFeature))


async def until(check: Any, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def pending(herald: Any, run_id: str) -> int:
    return sum(1 for d in await herald.runs.deliveries(run_id) if d.state == "pending")


async def one_round(heralds: list[Any], coalition: str, shared: bool) -> tuple[str, float]:
    first = heralds[0]
    now = first.host.clock()
    run_id = new_run_id(secrets.token_bytes(16))
    rooms = await first.member_rooms(await first.coalitions.members(coalition))
    plan = [
        m
        for m in make_plan(run_id, first.template("rapid-response"), now, rooms, now)
        if m.phase_key == "call"
    ]
    await first.runs.create(run_id, coalition, "rapid-response", now, now)
    await first.runs.confirm(run_id, plan, now)
    started = time.perf_counter()
    if shared:
        await first.share_run(run_id)
    await first.deliver_due(run_id)

    async def done() -> bool:
        for h in heralds if shared else heralds[:1]:
            if await h.runs.get(run_id) is None or await pending(h, run_id):
                return False
        return True

    await until(done, "every herald decided every room")
    await first.settle(timeout=300)
    return run_id, time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--stagger", type=int, default=20, help="G in seconds")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="redundancy-bench-"))
    server = Homeserver(work / "synapse")
    server.start()
    app: App | None = None
    try:
        users = []
        for name in ("herald-a", "herald-b"):
            password = secrets.token_hex(8)
            users.append((server.register(name, password), password, name))
        token_a = server.login(users[0][2], users[0][1])["access_token"]
        started = time.perf_counter()
        room_ids = await create_rooms(server, token_a, args.rooms, users[1][0])
        print(f"created {len(room_ids)} rooms in {time.perf_counter() - started:.1f}s")
        herald_settings = {"stagger": f"{args.stagger}s", "heartbeat": "2s", "staleness": "10s"}
        config_path = work / "config.yaml"
        config_path.write_text(
            yaml.safe_dump(
                {
                    "homeserver": server.url,
                    "data_dir": str(work / "data"),
                    "encryption": {"pickle_key": "bench"},
                    "features": {"herald": herald_settings},
                    "bots": [{"user_id": u, "password": p, "features": ["herald"]} for u, p, _ in users],
                }
            )
        )
        app = App(load_config(config_path))
        await app.start()
        runner = asyncio.create_task(app.run())
        for bot in app.bots:
            await asyncio.wait_for(bot.ready.wait(), 600)
        a, b = (herald_of(bot) for bot in app.bots)
        coalition = "bench"
        for room_id in room_ids:
            await a.coalitions.join(coalition, room_id, server.server_name, None, a.host.clock())
        await until(
            lambda: all_joined(server, token_a, room_ids, users[1][0]), "the second herald joined every room"
        )

        _, one = await one_round([a], coalition, shared=False)
        one_copies = await count_copies(server, token_a, room_ids, None)
        view = await a.upgrade(await a.coalitions.get(coalition))
        await a._state(view, admission_state(users[1][0]))
        await a.host.invite(view.room_id, users[1][0])
        await until(lambda: b.view_of(coalition) is not None, "the second herald joined the control room")
        both = {users[0][0], users[1][0]}
        await until(lambda: both <= a.view_of(coalition).registry.live_heralds, "both heralds on duty")
        run_two, two = await one_round([a, b], coalition, shared=True)

        two_copies = await count_copies(server, token_a, room_ids, run_two)
        senders = {d.event_id for d in await b.runs.deliveries(run_two) if d.state == "sent"}
        print(f"rooms: {len(room_ids)}, G: {args.stagger}s")
        print(f"one herald : {one:.2f}s, copies per room {sorted(set(one_copies.values()))}")
        print(
            f"two heralds: {two:.2f}s, copies per room {sorted(set(two_copies.values()))}, {len(senders)} recorded"
        )
        print(f"ratio one/two: {one / two:.2f}x")
        app.stop()
        await asyncio.wait_for(runner, 60)
    finally:
        if app is not None:
            await app.close()
        server.stop()


async def all_joined(server: Homeserver, token: str, rooms: list[str], user_id: str) -> bool:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for room in rooms:
            path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/joined_members"
            async with http.get(server.url + path) as resp:
                if user_id not in (await resp.json()).get("joined", {}):
                    return False
    return True


if __name__ == "__main__":
    asyncio.run(main())
