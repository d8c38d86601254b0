"""Deleting a DM's Megolm room keys from nio's encryption store when a reflection ends.

nio keeps every inbound Megolm session it receives (the person's, to read their messages) and
creates (its own outbound session's inbound copy, to read what it sent) in its SQLite store,
table ``megolminboundsessions``, pickled under the pickle key. Whoever holds the bot's disk and
the pickle key, and the homeserver's stored ciphertext of the DM, could otherwise decrypt the
whole conversation, answers and draft, with the sender on every event.

When a mirror conversation ends, :func:`forget_room_keys` deletes every inbound session of that
DM room, from nio's memory and from its store on disk (``secure_delete`` is on in nio's store,
and its journal is a rollback journal that is deleted after each write), and drops the bot's
outbound session for the room, so that what the bot sends afterwards uses a new one whose
inbound copy holds none of the conversation.

What it cannot do: the person's own devices keep their keys, and if the person writes again in
the same session, the bot asks their devices for the key of that session (nio does so for every
event it cannot decrypt), which may bring it back until the person's app starts a new session
(see docs/mirror-threat-model.md).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def forget_room_keys(client: Any, room_id: str) -> int:
    """Delete the room's inbound Megolm sessions (memory and disk) and drop its outbound
    session; how many stored sessions were deleted. Does nothing without an encryption store
    (a client without encryption, or the tests' fake homeserver)."""
    olm = getattr(client, "olm", None)
    if olm is None:
        return 0
    # In memory: nio's GroupSessionStore indexes sessions by room, then sender key.
    olm.inbound_group_store[room_id].clear()
    # Our outbound session goes, shared or not: nio creates a new one at the next send.
    olm.outbound_group_sessions.pop(room_id, None)
    deleted = 0
    store = getattr(client, "store", None)
    database = getattr(store, "database", None)
    if database is not None:
        with database.atomic():
            database.execute_sql(
                "DELETE FROM forwardedchains WHERE session_id IN"
                " (SELECT session_id FROM megolminboundsessions WHERE room_id = ?)",
                (room_id,),
            )
            cursor = database.execute_sql(
                "DELETE FROM megolminboundsessions WHERE room_id = ?", (room_id,)
            )
            deleted = cursor.rowcount
    log.debug("deleted %d room keys of a finished conversation", deleted)
    return deleted
