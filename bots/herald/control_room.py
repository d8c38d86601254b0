"""The control room as Matrix sees it: made, read and written through the host's raw calls.

A coalition's control room is a room version 12 room: its creator and every herald known when it
is made are creators (``additional_creators``), so no one homeserver owns it; heralds admitted
later get the heralds' power level (100). It is encrypted, invite-only and unlisted. State holds
only what :mod:`protocols.coalition.reveal` allows (ids, hashes, counts, flags); everything
private goes into encrypted timeline events through the outbox.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, UserID
from protocols.coalition.reveal import PrivateEvent, StateWrite, check_state

HERALD_POWER = 100


def q(part: str) -> str:
    return quote(part, safe="")


async def create_control_room(host: Host, name: str, co_creators: list[str]) -> RoomID:
    """A new control room (v12, encrypted, invite-only) with ``co_creators`` as creators too."""
    body: dict[str, Any] = {
        "name": f"{name}: heralds",
        "topic": "Affinity heralds' control room: the coalition's registry. No people here.",
        "preset": "private_chat",
        "visibility": "private",
        "room_version": "12",
        "invite": list(co_creators),
        "creation_content": {"additional_creators": list(co_creators), "m.federate": True},
        "initial_state": [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}},
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "shared"},
            },
        ],
    }
    data = await host.api("POST", "/_matrix/client/v3/createRoom", body)
    return RoomID(str(data["room_id"]))


async def room_state(host: Host, room_id: str) -> list[dict[str, Any]]:
    """The room's current state events (``GET /state``)."""
    data = await host.api("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state")
    events = data.get("value")
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def creators_from(state: list[dict[str, Any]]) -> list[str]:
    """The creators named by the room's create event (v12: sender and additional creators)."""
    for event in state:
        if event.get("type") == "m.room.create" and event.get("state_key") == "":
            content = event.get("content") or {}
            extra = content.get("additional_creators") or []
            sender = event.get("sender")
            found = [sender, *extra] if isinstance(sender, str) else list(extra)
            return [str(u) for u in found if isinstance(u, str)]
    return []


def joined_from(state: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(
        str(e.get("state_key"))
        for e in state
        if e.get("type") == "m.room.member" and (e.get("content") or {}).get("membership") == "join"
    )


async def put_state(host: Host, room_id: str, write: StateWrite) -> None:
    """Write one allowed state event (checked again here: nothing private reaches state).

    State is written directly, not through the outbox: a state write is idempotent (the same
    key and content again change nothing), and the next write supersedes a lost one.
    """
    check_state(write.event_type, write.state_key, write.content)
    path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(write.event_type)}/{q(write.state_key)}"
    await host.api("PUT", path, write.content)


async def send_private(host: Host, room_id: str, event: PrivateEvent, key: str) -> None:
    """A private event into the (encrypted) control room, through the outbox."""
    await host.send_event(RoomID(room_id), event.event_type, dict(event.content), key)


async def joined_users(host: Host, room_id: str) -> frozenset[str]:
    """Everyone joined to a room, bots included (``host.members`` counts people only)."""
    data = await host.api("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/joined_members")
    joined = data.get("joined")
    return frozenset(str(u) for u in joined) if isinstance(joined, dict) else frozenset()


async def grant_power(host: Host, room_id: str, user_id: str, level: int = HERALD_POWER) -> None:
    """Raise one user's power level in a room (a herald admitted after the room was made)."""
    path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.power_levels/"
    levels = await host.api("GET", path)
    users = dict(levels.get("users") or {})
    if int(users.get(user_id, 0)) >= level:
        return
    users[user_id] = level
    await host.api("PUT", path, {**levels, "users": users})


async def profile_exists(host: Host, user_id: UserID) -> bool:
    """Whether a homeserver knows ``user_id`` (its profile answers): a herald to add must exist."""
    try:
        await host.api("GET", f"/_matrix/client/v3/profile/{q(user_id)}")
    except MatrixError:  # not found, forbidden, or a homeserver that is away: no herald now
        return False
    return True
