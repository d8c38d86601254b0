"""What the e2e tests share: reading events, asking the bot, rooms and power, clocks, polling.

One copy here instead of one per test file; tests/e2e/harness.py starts bots and people.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bots.devclient import UserClient

Event = dict[str, Any]


def body(event: Event) -> str:
    """An event's plain text body ('' if it has none)."""
    return str((event.get("content") or {}).get("body", ""))


async def ask_event(user: UserClient, room: str, text: str, timeout: float = 30) -> Event:
    """Send a line and wait for the bot's reply to it."""
    event_id = await user.send_text(room, text)
    return await user.wait_reply(room, event_id, timeout)


async def ask(user: UserClient, room: str, text: str, timeout: float = 30) -> str:
    """Send a line and return the text of the bot's reply to it."""
    return body(await ask_event(user, room, text, timeout))


async def react(user: UserClient, room: str, target: str, key: str = "🎲") -> str:
    return await user.send(
        room, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": key}}
    )


async def set_power(owner: UserClient, room: str, user_id: str, level: int = 50) -> None:
    """Give ``user_id`` a power level in the room (``owner`` must be allowed to)."""
    path = f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"
    levels = await owner.api("GET", path)
    levels.setdefault("users", {})[user_id] = level
    await owner.api("PUT", path, levels)


def next_minute(at_least: float = 15) -> tuple[datetime, str]:
    """The first whole minute at least ``at_least`` seconds from now (UTC), and how to type it."""
    soonest = datetime.now(UTC) + timedelta(seconds=at_least)
    minute = soonest.replace(second=0, microsecond=0)
    if minute < soonest:
        minute += timedelta(minutes=1)
    return minute, minute.strftime("%Y-%m-%d %H:%M") + " UTC"


def texts_of(user: UserClient) -> tuple[str, str, str]:
    """Three reflection texts that name their author (so a test can tell whose leaked)."""
    tag = user.user_id.split(":")[0][1:]
    return (f"observed-{tag}-calm-marshals", f"grateful-{tag}-for-water", f"next-{tag}-start-earlier")


async def until(
    check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = 30, every: float = 0.2
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if not isinstance(done, bool):
            done = await done
        if done:
            return
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(every)
