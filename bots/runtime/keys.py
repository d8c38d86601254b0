"""The one scheme for idempotency keys (outbox transaction ids).

    key("lottery", "draw", draw_id, "result")   ->  "lottery-1f0c2a...e9"

A key is the feature's name, a dash, and 24 hex digits of SHA-256 over the parts joined by a
separator no part can contain. The same parts always give the same key, so a job or a command
handled again after a crash enqueues the same transaction id and the outbox and the homeserver
drop the duplicate. The feature prefix keeps features' keys apart (two features can use the
same parts) and tells an operator reading the outbox table who sent a row, without saying what.

Rules for the parts:
- put in ids, never text: an event id, a draw id, a run id and a phase, a room id, a date;
- a command's own messages start from its event id (``key(name, event_id, "reply", 2)``);
- a scheduled message starts from what makes it unique in time (``key(name, "gathering",
  gathering_id, occurrence.isoformat())``), so two occurrences never share a key;
- never put in the clock's "now" unless the message must be sent again each time.
"""

from __future__ import annotations

import hashlib
import re

_FEATURE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def key(feature: str, *parts: object) -> str:
    """A stable, short transaction id for ``feature`` from ``parts`` (ids, numbers, dates)."""
    if not _FEATURE.match(feature):
        raise ValueError(f"a feature name is lower-case letters, digits and _: {feature!r}")
    if not parts:
        raise ValueError("a key needs at least one part")
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:24]
    return f"{feature}-{digest}"
