"""Pinned messages (``m.room.pinned_events``): the one message a room should find without
scrolling (the current phase of a day of action), pinned while it matters, unpinned after.

The room's pins are one state event listing event ids, shared with the people of the room, so a
pin is read, changed and written back: other pins are kept, and pinning twice is pinning once.
State is written directly, not through the outbox: the write is idempotent (the same list again
changes nothing) and the next pin or unpin supersedes a lost one. Pinning needs the power to
send that state event (moderator by default); without it :func:`pin` says so by returning False.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import quote

from bots.runtime.errors import Forbidden, MatrixError, NotFound
from bots.runtime.host import Host
from bots.runtime.ids import RoomID

log = logging.getLogger(__name__)

PINNED = "m.room.pinned_events"
MAX_PINS = 50  # a room's pins stay a short list; the oldest of ours go first


def with_pin(pinned: Sequence[str], event_id: str, pin: bool) -> list[str]:
    """The pinned list after pinning (newest first, as clients show them) or unpinning."""
    kept = [e for e in pinned if e != event_id]
    return ([event_id, *kept] if pin else kept)[:MAX_PINS]


def _path(room_id: str) -> str:
    return f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/{PINNED}/"


async def pinned(host: Host, room_id: RoomID) -> list[str]:
    """The room's pinned event ids, newest first ([] when none were ever pinned)."""
    try:
        content = await host.api("GET", _path(room_id))
    except NotFound:
        return []
    events = content.get("pinned")
    return [e for e in events if isinstance(e, str)] if isinstance(events, list) else []


async def pin(host: Host, room_id: RoomID, event_id: str, *, on: bool = True) -> bool:
    """Pin (or with ``on=False`` unpin) ``event_id``; False when the room does not let the bot."""
    try:
        now = await pinned(host, room_id)
        after = with_pin(now, event_id, on)
        if after != now:
            await host.api("PUT", _path(room_id), {"pinned": after})
        return True
    except Forbidden:
        log.info("%s: the bot may not change the pinned messages", room_id)
        return False
    except MatrixError as exc:
        log.warning("%s: pinning failed: %s", room_id, exc.errcode)
        return False


async def unpin(host: Host, room_id: RoomID, event_id: str) -> bool:
    return await pin(host, room_id, event_id, on=False)
