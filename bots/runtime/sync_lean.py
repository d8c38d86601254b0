"""What the sync loop spares nio, so that a phase to a thousand rooms does not cost twice.

Every message the bot sends comes back to it in its next sync (its echo). The runtime ignores
its own messages, but nio would first validate each against its JSON schema, decrypt it in an
encrypted room, and after every sync that carried a room write the (usually empty) set of newly
encrypted rooms to its store in a transaction of its own. Measured at 200 rooms, that was a third
of the bot's CPU during a phase. During a fan-out the sync filter leaves them out (and the joined
rooms are compared afterwards, since such a filter hides the bot's own leave too: sync.py's
fan_out_sync_filter); at every other time they are dropped from the body before nio parses it:
only the bot's own *non-state* events of joined rooms' timelines. Its joins, leaves and every
other state event stay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def drop_own_echoes(body: Any, user_id: str) -> int:
    """Remove, in place, the bot's own non-state events from the joined rooms' timelines of a
    /sync body; how many. Anything that is not a /sync body is left alone."""
    if not isinstance(body, dict) or "next_batch" not in body:
        return 0
    rooms = body.get("rooms")
    joined = rooms.get("join") if isinstance(rooms, dict) else None
    if not isinstance(joined, dict):
        return 0
    dropped = 0
    for room in joined.values():
        timeline = room.get("timeline") if isinstance(room, dict) else None
        events = timeline.get("events") if isinstance(timeline, dict) else None
        if not isinstance(events, list):
            continue
        keep = [e for e in events if not _own_echo(e, user_id)]
        if len(keep) != len(events):
            dropped += len(events) - len(keep)
            events[:] = keep
    return dropped


def _own_echo(event: Any, user_id: str) -> bool:
    return isinstance(event, dict) and event.get("sender") == user_id and "state_key" not in event


def spare_nio(client: Any, user_id: str) -> None:
    """Install both savings on an nio AsyncClient, once: echoes dropped before parsing, and no
    store transaction for an empty set of newly encrypted rooms."""
    if getattr(client, "_affinity_lean", False):
        return
    client._affinity_lean = True
    parse_body = client.parse_body

    async def parse_without_echoes(transport_response: Any) -> Any:
        body = await parse_body(transport_response)
        drop_own_echoes(body, user_id)
        return body

    client.parse_body = parse_without_echoes
    store = getattr(client, "store", None)
    if store is not None:
        store.save_encrypted_rooms = _unless_empty(store.save_encrypted_rooms)


def _unless_empty(save: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def save_some(rooms: Any) -> Any:
        return save(rooms) if rooms else None

    return save_some
