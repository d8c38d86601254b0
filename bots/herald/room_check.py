"""Before a send that others may have beaten: look at the room on this herald's homeserver.

A herald decides from what its sync showed it. After a pause (SIGSTOP, a slow machine, a
homeserver that was away) its sync lags: the copies the others sent meanwhile are on its
homeserver but not yet in its tables, and its heartbeats, read back with ``GET /state``, make it
look alive at once. So before sending a key whose turn it reached late, or that another herald
was ahead of it for, it reads the room's recent timeline (``/messages``, newest first, only
events from the other heralds since the key fell due) and compares it with what its sync handed
it:

- every such event already seen through the sync: the view is complete; decide again with the
  copies just read from the database (a copy seen a moment ago holds the send back);
- an event the sync has not handed over yet (or the room could not be read): wait a poll and
  look again. Never longer than a few staggers per key: a check only delays a send, it never stops
  one (an event the sync will never show, such as one it cannot decrypt, must not silence a room);
- the homeserver does not answer at all: wait, without counting it against that patience. A send
  could not go out now either, and queued in the outbox it would go out the moment the server is
  back, before this herald could see what the others delivered meanwhile.

Encrypted copies need no decryption here: the event id is enough to know whether the sync has
delivered it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime, timedelta
from enum import Enum

from bots.herald.control_room import q
from bots.runtime.errors import MatrixError, TransportError
from bots.runtime.host import Host

PAGES = 4  # 4 x 50 events from the heralds since the key fell due: more than a room gets
REMEMBERED = 20_000  # event ids of the other heralds seen through the sync (about 2 MB at most)


class RoomView(Enum):
    COMPLETE = "complete"  # every recent herald event is one the sync delivered
    BEHIND = "behind"  # the homeserver has a herald event the sync has not delivered yet
    UNREADABLE = "unreadable"  # the room could not be read now
    AWAY = "away"  # the homeserver does not answer: a send could not go out either


class SeenEvents:
    """The ids of the other heralds' events in member rooms that the sync delivered (bounded)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > REMEMBERED:
            self._ids.popitem(last=False)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids


async def room_view(
    host: Host, room_id: str, others: frozenset[str], since: datetime, seen: SeenEvents | set[str]
) -> RoomView:
    """Whether this herald's sync has delivered every event ``others`` sent to ``room_id`` since
    ``since`` (the homeserver's timestamps; the caller leaves room for clock skew)."""
    if not others:
        return RoomView.COMPLETE
    since_ms = int(since.timestamp() * 1000)
    wanted = {"senders": sorted(others), "types": ["m.room.message", "m.room.encrypted"]}
    query = {"dir": "b", "limit": "50", "filter": json.dumps(wanted, separators=(",", ":"))}
    path = f"/_matrix/client/v3/rooms/{q(room_id)}/messages"
    for _ in range(PAGES):
        try:
            data = await host.api("GET", path, None, query)
        except TransportError:
            return RoomView.AWAY
        except MatrixError:
            return RoomView.UNREADABLE
        chunk = data.get("chunk")
        events = [e for e in chunk if isinstance(e, dict)] if isinstance(chunk, list) else []
        for event in events:
            ts = event.get("origin_server_ts")
            if not isinstance(ts, int) or ts < since_ms:
                return RoomView.COMPLETE
            if event.get("sender") in others and event.get("event_id") not in seen:
                return RoomView.BEHIND
        end = data.get("end")
        if not events or not isinstance(end, str):
            return RoomView.COMPLETE
        query = {**query, "from": end}
    return RoomView.COMPLETE


def patience_left(waiting: dict[str, datetime], key: str, now: datetime, patience: timedelta) -> bool:
    """Whether a key held for a lagging view may still wait (at most ``patience`` per key)."""
    first = waiting.setdefault(key, now)
    return now - first < patience
