"""A coalition as a Matrix space: its member rooms as the space's children (``m.space.child``)
and the space as each room's parent (``m.space.parent``), so members browse the coalition's
rooms in their client's room list.

Each link is two state events, each in its own room and each needing the power to send state
there; a bot without that power in a room skips that half and says so (:class:`Linked`). State
is written directly (idempotent, the next write supersedes a lost one). A space never lists a
room the bot was not asked to list: which rooms form the coalition is the caller's decision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bots.runtime.errors import Forbidden, MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, server_of

log = logging.getLogger(__name__)

CHILD = "m.space.child"
PARENT = "m.space.parent"


@dataclass(frozen=True)
class Linked:
    child: bool  # the space lists the room
    parent: bool  # the room names the space


def _state(room_id: str, event_type: str, state_key: str) -> str:
    return (
        f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/{event_type}/{quote(state_key, safe='')}"
    )


def _via(room_id: str, host: Host) -> list[str]:
    """Servers to join through: the room's own (from its id, when it says) and the bot's."""
    servers = [server_of(str(host.user_id))]
    if ":" in room_id and server_of(room_id) not in servers:
        servers.insert(0, server_of(room_id))
    return servers


async def create_space(host: Host, name: str, topic: str | None = None) -> RoomID:
    """A new space (a room of type ``m.space``) with the bot as its creator."""
    body: dict[str, Any] = {"name": name, "creation_content": {"type": "m.space"}, "preset": "private_chat"}
    if topic:
        body["topic"] = topic
    made = await host.api("POST", "/_matrix/client/v3/createRoom", body)
    return RoomID(str(made["room_id"]))


async def _put(host: Host, room_id: str, event_type: str, state_key: str, content: dict[str, Any]) -> bool:
    try:
        await host.api("PUT", _state(room_id, event_type, state_key), content)
        return True
    except Forbidden:
        log.info("%s: the bot may not send %s there", room_id, event_type)
        return False
    except MatrixError as exc:
        log.warning("%s: %s failed: %s", room_id, event_type, exc.errcode)
        return False


async def link(host: Host, space_id: RoomID, room_id: RoomID) -> Linked:
    """List ``room_id`` in the space and name the space as its parent, as far as the bot may."""
    child = await _put(host, space_id, CHILD, room_id, {"via": _via(room_id, host)})
    parent = await _put(host, room_id, PARENT, space_id, {"via": _via(space_id, host), "canonical": True})
    return Linked(child, parent)


async def unlink(host: Host, space_id: RoomID, room_id: RoomID) -> Linked:
    """Take a room out of the space (empty content removes a link, as the spec says)."""
    return Linked(
        await _put(host, space_id, CHILD, room_id, {}), await _put(host, room_id, PARENT, space_id, {})
    )
