"""Taking a finished reflection's DM out of reach of nio's encryption store.

nio keeps every inbound Megolm session it receives (the person's, to read their messages) and
creates (the inbound copy of its own outbound session, to read what it sent) in its SQLite
store, table ``megolminboundsessions``, pickled under the pickle key. Whoever holds the bot's
disk and the pickle key, and the homeserver's stored ciphertext of the DM, could otherwise
decrypt the whole conversation, answers and draft, with the sender on every event.

When a mirror conversation ends, :func:`forget_room_keys`, for that DM room:

- deletes the inbound copies of the bot's own sessions, and drops its outbound session, so that
  what the bot sends next uses a new one that opens none of the conversation;
- ratchets each of the person's sessions forward past the last message the bot decrypted
  (Megolm can export a session from a later index only; the earlier keys cannot be derived from
  it). The person's app keeps using its session, and the bot must still read what they send
  next; the conversation's messages, at lower indices, can no longer be decrypted with what is
  stored. A session the bot decrypted nothing with is left as it is.

The rows are rewritten in nio's store on disk (``secure_delete`` is on there, and its journal is
a rollback journal, deleted after each write), and in nio's memory.

What it cannot do: the person's own devices keep their keys, and any device of theirs may share
the session from its start again if the bot asks (nio asks for the key of any event it cannot
decrypt; it has no reason to here, as it can decrypt what comes next). See
docs/mirror-threat-model.md.
"""

from __future__ import annotations

import logging
from typing import Any

from nio.crypto.sessions import InboundGroupSession

log = logging.getLogger(__name__)


def _last_decrypted_index(olm: Any, sender_key: str, session_id: str) -> int | None:
    """The highest message index nio decrypted with this session (nio remembers them to catch
    replays, in ``message_index_store``), or None."""
    seen = [
        index
        for (sender, session, index) in list(olm.message_index_store.keys())
        if sender == sender_key and session == session_id
    ]
    return max(seen) if seen else None


def forget_room_keys(client: Any, room_id: str) -> int:
    """Make the room's conversation so far undecryptable with the bot's stored keys (see the
    module docstring); how many sessions were deleted or ratcheted. Does nothing without an
    encryption store (a client without encryption, or the tests' fake homeserver)."""
    olm = getattr(client, "olm", None)
    if olm is None:
        return 0
    own_key = olm.account.identity_keys["curve25519"]
    store = getattr(client, "store", None)
    database = getattr(store, "database", None)
    # Our outbound session goes, shared or not: nio creates a new one at the next send.
    olm.outbound_group_sessions.pop(room_id, None)
    changed = 0
    by_sender = olm.inbound_group_store[room_id]
    for sender_key in list(by_sender):
        sessions = by_sender[sender_key]
        for session_id, session in list(sessions.items()):
            replacement: InboundGroupSession | None = None
            if sender_key != own_key:
                last = _last_decrypted_index(olm, sender_key, session_id)
                if last is None or last < session.first_known_index:
                    continue  # nothing of the conversation was read with it
                replacement = InboundGroupSession.import_session(
                    session.export_session(last + 1),
                    session.ed25519,
                    sender_key,
                    room_id,
                    list(session.forwarding_chain),
                )
            if database is not None:
                with database.atomic():
                    database.execute_sql("DELETE FROM forwardedchains WHERE session_id = ?", (session_id,))
                    database.execute_sql(
                        "DELETE FROM megolminboundsessions WHERE session_id = ?", (session_id,)
                    )
            if replacement is None:
                del sessions[session_id]
            else:
                sessions[session_id] = replacement
                if store is not None:
                    store.save_inbound_group_session(replacement)
            changed += 1
    log.debug("ratcheted or deleted %d room keys of a finished conversation", changed)
    return changed
