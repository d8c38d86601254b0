"""The thousand-room fixture, built once and copied per run.

``build(root, rooms)`` starts a Synapse (rate limits lifted), registers the bot and one member,
creates ``rooms`` plain and ``rooms`` encrypted rooms, and joins the bot to each with a raw
token (not the bot's own device: its first start must still be its first). Creating them takes
minutes; ``copy(root, into)`` gives each run its own copy of the homeserver's data directory
(paths and port rewritten), so a run never disturbs the fixture.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

from bots.devserver import Homeserver, free_port


@dataclass
class Fixture:
    server_dir: str
    bot_user: str
    bot_password: str
    member_user: str
    member_password: str
    plain: list[str]
    encrypted: list[str]

    def save(self, root: Path) -> None:
        (root / "fixture.json").write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, root: Path) -> Fixture | None:
        path = root / "fixture.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None


async def _login(session: aiohttp.ClientSession, url: str, localpart: str, password: str) -> str:
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}}
    async with session.post(f"{url}/_matrix/client/v3/login", json={**body, "password": password}) as r:
        return str((await r.json())["access_token"])


async def _create(session: aiohttp.ClientSession, url: str, token: str, bot: str, encrypted: bool) -> str:
    body: dict[str, Any] = {"preset": "private_chat", "invite": [bot], "name": "group"}
    if encrypted:
        body["initial_state"] = [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ]
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):
        async with session.post(f"{url}/_matrix/client/v3/createRoom", json=body, headers=headers) as r:
            data = await r.json()
            if r.status == 200:
                return str(data["room_id"])
        await asyncio.sleep(0.5)
    raise RuntimeError(f"createRoom failed: {data}")


async def _join(session: aiohttp.ClientSession, url: str, token: str, room: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(20):
        async with session.post(f"{url}/_matrix/client/v3/join/{quote(room)}", json={}, headers=headers) as r:
            if r.status == 200:
                return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"joining {room} failed")


async def build(root: Path, rooms: int, concurrency: int = 8) -> Fixture:
    root.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (set-up, before anything runs)
    server = Homeserver(root / "synapse")
    server.start()
    try:
        bot_pw, member_pw = secrets.token_hex(8), secrets.token_hex(8)
        bot = server.register("scalebot", bot_pw)
        member = server.register("member", member_pw)
        async with aiohttp.ClientSession() as session:
            member_token = await _login(session, server.url, "member", member_pw)
            bot_token = await _login(session, server.url, "scalebot", bot_pw)
            made: dict[bool, list[str]] = {False: [], True: []}
            gate = asyncio.Semaphore(concurrency)
            started = time.monotonic()

            async def one(encrypted: bool) -> None:
                async with gate:
                    room = await _create(session, server.url, member_token, bot, encrypted)
                    await _join(session, server.url, bot_token, room)
                    made[encrypted].append(room)
                    done = len(made[False]) + len(made[True])
                    if done % 100 == 0:
                        print(f"  fixture: {done} rooms in {time.monotonic() - started:.0f} s", flush=True)

            await asyncio.gather(*(one(enc) for enc in [False] * rooms + [True] * rooms))
        fixture = Fixture(str(server.directory), bot, bot_pw, member, member_pw, made[False], made[True])
        fixture.save(root)
        return fixture
    finally:
        server.stop()


def copy(fixture: Fixture, into: Path) -> Homeserver:
    """A copy of the fixture's homeserver in ``into`` (paths and listener port rewritten)."""
    source = Path(fixture.server_dir)
    target = into / "synapse"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("homeserver.pid", "*.log"))
    for name in ("homeserver.yaml", "log.yaml"):
        path = target / name
        path.write_text(path.read_text().replace(str(source), str(target)))
    config = yaml.safe_load((target / "homeserver.yaml").read_text())
    config["listeners"][0]["port"] = free_port()
    (target / "homeserver.yaml").write_text(yaml.safe_dump(config))
    return Homeserver(target)
