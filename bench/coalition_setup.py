"""A coalition for the redundancy benchmark, built as its people build it in Element: heralds as
processes of their own (each its own data directory and SQLite, on its own homeserver), one
person per homeserver, a coordination room, member rooms joined with ``!coalition join``, and
the other heralds added with ``!coalition herald add``.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeserver_fixture import ROOT, account, create_rooms, stamp, until, write_bot_config
from nio import MegolmEvent

from bots.devclient import UserClient, replies_to
from bots.devserver import Homeserver


class TimedClient(UserClient):
    """A person's client that also notes when each event first became readable to it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readable_at: dict[str, float] = {}

    def _record(self, room_id: str, event: Any) -> None:
        super()._record(room_id, event)
        source = getattr(event, "source", None)
        if not isinstance(event, MegolmEvent) and isinstance(source, dict) and source.get("event_id"):
            self.readable_at.setdefault(str(source["event_id"]), time.time())


async def person(server: Homeserver, root: Path, name: str) -> TimedClient:
    user_id, password = account(server, name)
    client = TimedClient(server.url, user_id, password, root / "people" / name)
    await client.login()
    return client


@dataclass
class HeraldProcess:
    """One herald: ``bench/herald_process.py`` on its own config, data directory and database."""

    name: str
    server: Homeserver
    user_id: str
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def counters_path(self) -> Path:
        return self.directory / "counters.json"

    def counters(self) -> dict[str, float]:
        """What the process has cost so far (CPU seconds, requests by kind, to-device messages)."""
        try:
            return {k: float(v) for k, v in json.loads(self.counters_path.read_text()).items()}
        except (OSError, ValueError):
            return {}

    def _count(self, sql: str, *args: str) -> int:
        db = self.directory / "data" / "affinity.db"
        if not db.exists():
            return 0
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute(sql, (self.user_id, *args)).fetchone()[0])

    def planned(self, run_id: str) -> int:
        """Call-outs of the run this herald holds (it confirmed the run or adopted its plan)."""
        sql = "SELECT COUNT(*) FROM herald_delivery WHERE bot = ? AND run_id = ? AND phase = 'call'"
        return self._count(sql, run_id)

    def pending(self, run_id: str) -> int:
        """Call-outs of the run this herald has not decided yet (send, or hold back)."""
        sql = (
            "SELECT COUNT(*) FROM herald_delivery WHERE bot = ? AND run_id = ? AND phase = 'call'"
            " AND state = 'pending'"
        )
        return self._count(sql, run_id)

    def ready(self) -> bool:
        """Its first sync is done, read from its log; fails if the process died. (An invite sent
        before it is never seen: that sync asks for no rooms, so Synapse leaves invites out too.)"""
        if self.process.poll() is not None:
            raise RuntimeError(f"herald {self.name} exited; see {self.directory / 'herald.log'}")
        return b" is ready" in (self.directory / "herald.log").read_bytes()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_herald(server: Homeserver, root: Path, name: str, extra: dict[str, Any]) -> HeraldProcess:
    user_id, password = account(server, f"herald-{name.lower()}")
    directory = root / f"herald-{name.lower()}"
    config = write_bot_config(directory, server, user_id, password, ["herald"], extra)
    log = (directory / "herald.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "herald_process.py"),
            str(config),
            str(directory / "counters.json"),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return HeraldProcess(name, server, user_id, directory, process)


def body(event: dict[str, Any]) -> str:
    return str((event.get("content") or {}).get("body", ""))


async def command(user: UserClient, room: str, text: str, timeout: float = 120) -> str:
    """Send a command and return the text of the first herald's reply to it."""
    event_id = await user.send_text(room, text)
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = await user.wait_for(lambda r, e: r == room and replies_to(e) == event_id, 10)
            return body(reply)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply to {text.split()[0:2]}") from None
            await user.history(room)  # the reply may have come before its room key: read it again


async def moderator(owner: UserClient, room: str, user_id: str) -> None:
    """Power 50 for the herald, so that it may invite the other heralds into the room."""
    path = f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/"
    levels = await owner.api("GET", path)
    levels.setdefault("users", {})[user_id] = 50
    await owner.api("PUT", path, levels)


@dataclass
class Coalition:
    name: str
    coord: str
    owners: dict[str, TimedClient]  # every room that gets the call (coordination room too) -> its owner
    encrypted: set[str] = field(default_factory=set)


def is_encrypted(index: int, fraction: float) -> bool:
    """Spread ``fraction`` of the rooms evenly: room i is encrypted when it crosses a step."""
    return int((index + 1) * fraction) > int(index * fraction)


async def build(
    people: list[TimedClient], first: HeraldProcess, rooms: int, fraction: float, concurrency: int = 4
) -> Coalition:
    """The coalition with one herald, as today: a coordination room on the first person's server
    and ``rooms`` member rooms spread over the people's servers, ``fraction`` of them encrypted."""
    alice = people[0]
    name = "bench"
    (coord,) = await create_rooms(
        alice.client.homeserver, alice.client.access_token, 1, invite=[first.user_id],
        encrypted=lambda _i: True, room_version="10", name="Coordination",
    )  # fmt: skip
    await alice.wait_joined(coord, first.user_id, timeout=300)  # its first start may take a while
    await moderator(alice, coord, first.user_id)
    reply = await command(alice, coord, f"!coalition create {name}")
    assert "coordinates it" in reply, reply
    coalition = Coalition(name, coord, {coord: alice}, {coord})
    wanted = [(i, people[i % len(people)]) for i in range(rooms)]
    for owner in people:
        mine = [i for i, o in wanted if o is owner]
        made = await create_rooms(
            owner.client.homeserver, owner.client.access_token, len(mine), invite=[first.user_id],
            encrypted=lambda j, mine=mine: is_encrypted(mine[j], fraction), room_version="10",
        )  # fmt: skip
        for j, room in enumerate(made):
            coalition.owners[room] = owner
            if is_encrypted(mine[j], fraction):
                coalition.encrypted.add(room)
    slots = asyncio.Semaphore(concurrency)

    async def join(room: str, owner: TimedClient) -> None:
        async with slots:
            await owner.wait_joined(room, first.user_id, timeout=180)
            await moderator(owner, room, first.user_id)
            token = re.search(r"cj-[a-z2-7]{32}", await command(alice, coord, "!coalition invite"))
            assert token, "no invitation token in the reply"
            reply = await command(owner, room, f"!coalition join {token.group(0)}")
            assert "joined coalition" in reply, reply

    members = [(r, o) for r, o in coalition.owners.items() if r != coord]
    await asyncio.gather(*(join(r, o) for r, o in members))
    print(f"{stamp()} coalition {name}: {len(members)} member rooms and the coordination room")
    return coalition


async def add_heralds(coalition: Coalition, heralds: list[HeraldProcess]) -> None:
    """``!coalition herald add`` for every herald after the first (the first time moves the
    coalition into a control room); then until each is in every room and all are on duty."""
    alice = coalition.owners[coalition.coord]
    for herald in heralds[1:]:
        reply = await command(alice, coalition.coord, f"!coalition herald add {herald.user_id}", timeout=180)
        assert "is now a herald" in reply, reply
        for room, owner in coalition.owners.items():
            await owner.wait_joined(room, herald.user_id, timeout=300)
        print(f"{stamp()} herald {herald.name} is in every room")
    seen = {"listing": ""}

    async def on_duty() -> bool:
        listing = await command(alice, coalition.coord, "!coalition heralds")
        seen["listing"] = listing
        return f"{len(heralds)} heralds on duty" in listing and listing.count("last heartbeat") == len(
            heralds
        )

    try:
        await until(on_duty, "every herald is on duty and heard", timeout=600, every=5)
    finally:
        print(f"{stamp()} {seen['listing']}")
