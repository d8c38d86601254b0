"""The events that relate to one event (a poll's responses), decrypted where the room is
encrypted: ``GET /rooms/{room}/relations/{event}/{rel_type}``, page by page.

In an encrypted room the relation itself (``m.relates_to``) is in the clear, so the homeserver
can list the responses, but what each chose is encrypted; the bot decrypts each with its room
keys (an event it cannot decrypt is left out, as a client would show it as undecryptable).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from nio import AsyncClient, Event, MegolmEvent
from nio.exceptions import EncryptionError

log = logging.getLogger(__name__)

Api = Callable[..., Awaitable[dict[str, Any]]]
PAGES = 20  # at most 20 x 100 related events: more than any poll here gets


def _q(value: str) -> str:
    return quote(value, safe="")


async def read_relations(
    api: Api, client: AsyncClient | None, room_id: str, event_id: str, rel_type: str
) -> list[dict[str, Any]]:
    path = f"/_matrix/client/v1/rooms/{_q(room_id)}/relations/{_q(event_id)}/{_q(rel_type)}"
    found: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(PAGES):
        query = {"limit": "100", "dir": "f", **({"from": token} if token else {})}
        data = await api("GET", path, None, query)
        for raw in data.get("chunk") or []:
            if isinstance(raw, dict):
                event = _decrypted(client, room_id, raw)
                if event is not None:
                    found.append(event)
        token = data.get("next_batch") if isinstance(data.get("next_batch"), str) else None
        if token is None:
            break
    return found


def _decrypted(client: AsyncClient | None, room_id: str, raw: dict[str, Any]) -> dict[str, Any] | None:
    if raw.get("type") != "m.room.encrypted":
        return raw
    if client is None:
        return None
    parsed = Event.parse_event(dict(raw))
    if not isinstance(parsed, MegolmEvent):
        return None
    parsed.room_id = room_id
    try:
        clear = client.decrypt_event(parsed)
    except EncryptionError:
        log.info("a related event in %s could not be decrypted; it is left out", room_id)
        return None
    source = dict(clear.source)
    # The decrypted payload has type and content; the envelope fields come from the event.
    for field in ("sender", "origin_server_ts", "event_id"):
        source.setdefault(field, raw.get(field))
    return source
