"""Record the events of tests/bot/events/*.json from a real Synapse, as it sends them in /sync.

    .venv/bin/python -m tests.e2e.record_events [--out tests/bot/events]

A homeserver is started in a temporary directory (the e2e harness's, bots/devserver.py); a person
(a nio client with encryption, as in the e2e tests) sends one of each kind of event to rooms it
shares with a bot account, and the bot account's raw /sync JSON is saved, one event per file,
exactly as received (no room_id: /sync leaves it out). Tier-2 tests parse these through nio
(tests/bot/fakes.py ``recorded``) the way nio delivers them to the runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

from bots.devserver import Homeserver
from tests.e2e.harness import person

OUT = Path(__file__).resolve().parents[1] / "bot" / "events"


class RawSync:
    """A bot account seen through the bare client-server API: /sync JSON as it arrives."""

    def __init__(self, server: Homeserver, token: str) -> None:
        self.server = server
        self.token = token
        self.since: str | None = None

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        status, data = await asyncio.to_thread(self.server._request, method, path, body, self.token)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {data}")
        return data

    async def sync(self) -> dict[str, Any]:
        path = "/_matrix/client/v3/sync?timeout=0" + (f"&since={self.since}" if self.since else "")
        data = await self.call("GET", path)
        self.since = data["next_batch"]
        return data  # type: ignore[no-any-return]

    async def timeline_until(self, wanted: set[str], deadline_s: float = 30) -> dict[str, dict[str, Any]]:
        """Sync until every event id in ``wanted`` was seen in a joined room's timeline."""
        found: dict[str, dict[str, Any]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while not wanted <= set(found):
            if loop.time() > deadline:
                raise RuntimeError(f"never synced: {sorted(wanted - set(found))}")
            data = await self.sync()
            for room in data.get("rooms", {}).get("join", {}).values():
                for event in room.get("timeline", {}).get("events", []):
                    found[event["event_id"]] = event
            await asyncio.sleep(0.2)
        return found


async def record(out: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = Homeserver(root / "synapse")
        server.start()
        try:
            return await _record(server, root, out)
        finally:
            server.stop()


async def _record(server: Homeserver, root: Path, out: Path) -> list[str]:
    password = secrets.token_hex(8)
    bot_id = server.register("bot", password)
    bot = RawSync(server, server.login("bot", password)["access_token"])
    alice = await person(server, root, "alice")
    carol = await person(server, root, "carol")
    saved: dict[str, dict[str, Any]] = {}
    try:
        group = await alice.create_room("Group", [bot_id, carol.user_id])
        direct = await alice.create_room("DM", [bot_id], is_direct=True)
        secret = await alice.create_room("Encrypted", [bot_id], encrypted=True)
        invites: dict[str, dict[str, Any]] = {}
        while len(invites) < 3:
            data = await bot.sync()
            for room_id, room in data.get("rooms", {}).get("invite", {}).items():
                for event in room.get("invite_state", {}).get("events", []):
                    if event.get("type") == "m.room.member" and event.get("state_key") == bot_id:
                        invites[room_id] = event
        saved["member_invite"] = invites[group]
        saved["member_invite_direct"] = invites[direct]
        for room_id in (group, direct, secret):
            await bot.call("POST", f"/_matrix/client/v3/join/{room_id}", {})
        await alice.wait_joined(group, bot_id)
        await alice.wait_joined(secret, bot_id)
        await bot.sync()

        ids: dict[str, str] = {}
        ids["text"] = await alice.send_text(group, "!ping")
        ids["notice"] = await alice.send(group, "m.room.message", {"msgtype": "m.notice", "body": "a notice"})
        ids["emote"] = await alice.send(group, "m.room.message", {"msgtype": "m.emote", "body": "waves"})
        ids["reply"] = await alice.send(
            group,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"> <{alice.user_id}> !ping\n\n!help",
                "format": "org.matrix.custom.html",
                "formatted_body": f"<mx-reply><blockquote>{alice.user_id}: !ping</blockquote></mx-reply>!help",
                "m.relates_to": {"m.in_reply_to": {"event_id": ids["text"]}},
            },
        )
        ids["thread"] = await alice.send(
            group,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "!ping",
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": ids["text"],
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": ids["text"]},
                },
            },
        )
        ids["edit"] = await alice.send(
            group,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* !help",
                "m.new_content": {"msgtype": "m.text", "body": "!help"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": ids["text"]},
            },
        )
        ids["reaction"] = await alice.send(
            group,
            "m.reaction",
            {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": ids["text"], "key": "👍"},
            },
        )
        ids["encrypted"] = await alice.send_text(secret, "!ping")
        await carol.join(group, history=False)
        await carol.api("POST", f"/_matrix/client/v3/rooms/{group}/leave", {})
        events = await bot.timeline_until(set(ids.values()))
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # carol's join and leave
            members = [
                e
                for e in events.values()
                if e.get("type") == "m.room.member" and e.get("state_key") == carol.user_id
            ]
            memberships = {e["content"].get("membership"): e for e in members}
            if {"join", "leave"} <= set(memberships):
                break
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("carol's join and leave never synced")
            data = await bot.sync()
            for room in data.get("rooms", {}).get("join", {}).values():
                for event in room.get("timeline", {}).get("events", []):
                    events[event["event_id"]] = event
        for name, event_id in ids.items():
            saved[name] = events[event_id]
        saved["member_join"] = memberships["join"]
        saved["member_leave"] = memberships["leave"]
    finally:
        await alice.close()
        await carol.close()
    await asyncio.to_thread(_write, out, saved)
    return sorted(saved)


def _write(out: Path, saved: dict[str, dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, event in saved.items():
        (out / f"{name}.json").write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    for name in asyncio.run(record(args.out)):
        print(f"{args.out / name}.json")


if __name__ == "__main__":
    main()
