"""What the herald benchmarks share: local Synapses (one, or several that federate), rooms made
in bulk, a bot's config file, a bot run in this process, and polling with a deadline.

Import it from a script in bench/ (``python bench/x.py`` puts bench/ on the path); it puts the
repository root on the path itself, so ``bots`` and ``protocols`` import too.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bots.app import App  # noqa: E402
from bots.config import load_config  # noqa: E402
from bots.devserver import Homeserver, free_port  # noqa: E402

ENCRYPTION = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


def start_servers(root: Path, count: int) -> list[Homeserver]:
    """``count`` local Synapses started at once; two or more federate with each other (and
    only with each other), as tests/e2e/federation.py sets them up. Stop them with ``stop_all``."""
    if count == 1:
        servers = [Homeserver(root / "synapse")]
    else:
        ports = [free_port() for _ in range(count)]
        servers = [
            Homeserver(
                root / f"synapse-{'abcdefgh'[i]}",
                federation=True,
                federation_port=port,
                peers=[f"localhost:{p}" for p in ports if p != port],
            )
            for i, port in enumerate(ports)
        ]
    with ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(s.start) for s in servers]:
            future.result()
    return servers


def stop_all(servers: list[Homeserver]) -> None:
    for server in servers:
        server.stop()


def account(server: Homeserver, localpart: str) -> tuple[str, str]:
    """A new account (user id, password) through the shared-secret admin API."""
    password = secrets.token_hex(8)
    return server.register(localpart, password), password


async def create_rooms(
    url: str,
    token: str,
    count: int,
    *,
    invite: list[str] | None = None,
    encrypted: Callable[[int], bool] = lambda _i: False,
    room_version: str | None = None,
    name: str = "Group",
    concurrency: int = 8,
) -> list[str]:
    """``count`` private rooms made by the token's owner, ``concurrency`` at a time, in order.
    ``encrypted(i)`` says whether room i is encrypted from its creation."""
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def one(index: int) -> str:
            body: dict[str, Any] = {
                "name": f"{name} {index}",
                "preset": "private_chat",
                "invite": list(invite or []),
            }
            if room_version is not None:
                body["room_version"] = room_version
            if encrypted(index):
                body["initial_state"] = [ENCRYPTION]
            async with slots, http.post(f"{url}/_matrix/client/v3/createRoom", json=body) as resp:
                resp.raise_for_status()
                return str((await resp.json())["room_id"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def write_bot_config(
    directory: Path,
    server: Homeserver,
    user_id: str,
    password: str,
    features: list[str],
    extra: dict[str, Any] | None = None,
) -> Path:
    """A config file for one bot with its own data directory (so its own SQLite database)."""
    directory.mkdir(parents=True, exist_ok=True)
    raw: dict[str, Any] = {
        "homeserver": server.url,
        "data_dir": str(directory / "data"),
        "encryption": {"pickle_key": secrets.token_urlsafe(32)},
        "bots": [{"user_id": user_id, "password": password, "features": features}],
        **(extra or {}),
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@asynccontextmanager
async def running_app(config_path: Path, ready_within: float = 300) -> AsyncIterator[App]:
    """The config's bots run in this event loop until the block ends (then a graceful stop)."""
    app = App(load_config(config_path))
    await app.start()
    runner = asyncio.create_task(app.run())
    try:
        for bot in app.bots:
            await asyncio.wait_for(bot.ready.wait(), ready_within)
        yield app
        app.stop()
        await asyncio.wait_for(runner, 60)
    finally:
        if not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        await app.close()


def herald_of(bot: Any) -> Any:
    """The bot's herald feature."""
    from bots.herald import HeraldFeature

    return next(f for f in bot.features if isinstance(f, HeraldFeature))


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float, every: float = 0.2
) -> None:
    """Poll ``check`` until it holds; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting until {what}")
        await asyncio.sleep(every)


def stamp() -> str:
    """The wall-clock time for progress lines."""
    return time.strftime("%X")
