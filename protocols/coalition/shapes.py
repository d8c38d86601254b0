"""What a well-formed id, hash or number looks like in the control room and in member rooms.

Every event the coalition core reads comes from a homeserver it does not control, so each field
is checked against one of these shapes before it is believed; a field that fails makes the whole
event ignored (never an exception: one hostile event must not stop a herald's sync loop).
``re.fullmatch`` is used throughout because ``$`` alone lets a trailing newline through.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# Matrix caps user and room ids at 255 bytes; server names allow ports and IPv6 literals.
_USER_ID = re.compile(r"@[^\s:]{1,200}:[A-Za-z0-9.\-\[\]:]{1,250}")
# Room ids: v1-v11 end in ":server", v12 ids are a bare hash; both are accepted.
_ROOM_ID = re.compile(r"![^\s]{1,254}")
_EVENT_ID = re.compile(r"\$[^\s]{1,254}")
_SERVER_NAME = re.compile(r"[A-Za-z0-9.\-\[\]:]{1,250}")
# Same alphabet as ``protocols.herald.plan`` run ids and template phase keys; ``amend-3`` and
# ``cancel`` (the plan's own keys for amendments and stand-downs) fit the phase-key shape, and so
# do escalation keys (``esc1-`` before a 32-character phase key, hence 40).
_RUN_ID = re.compile(r"[A-Za-z0-9_]{1,40}")
_PHASE_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_TEMPLATE = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
_HEX_HASH = re.compile(r"[0-9a-f]{64}")

# JSON numbers beyond 2**53 are not exact in every client; canonical JSON forbids them too.
MAX_SAFE_INT = 2**53 - 1


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 255 and _USER_ID.fullmatch(value) is not None


def is_room_id(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 255 and _ROOM_ID.fullmatch(value) is not None


def is_event_id(value: object) -> bool:
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


def is_server_name(value: object) -> bool:
    return isinstance(value, str) and _SERVER_NAME.fullmatch(value) is not None


def is_run_id(value: object) -> bool:
    return isinstance(value, str) and _RUN_ID.fullmatch(value) is not None


def is_phase_key(value: object) -> bool:
    return isinstance(value, str) and _PHASE_KEY.fullmatch(value) is not None


def is_template_name(value: object) -> bool:
    return isinstance(value, str) and _TEMPLATE.fullmatch(value) is not None


def is_hex_hash(value: object) -> bool:
    return isinstance(value, str) and _HEX_HASH.fullmatch(value) is not None


def is_count(value: object) -> bool:
    """A non-negative JSON-safe integer; ``True`` is an int in Python but never a count here."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAFE_INT


def server_of(user_id: str) -> str:
    """The homeserver part of a user id: where that herald lives, and what a seizure takes."""
    return user_id.split(":", 1)[1]


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_ms(when: datetime) -> int:
    """Milliseconds since the epoch; refuses naive datetimes (a zone-less instant is a bug)."""
    if when.tzinfo is None:
        raise ValueError("a coalition instant must be an aware datetime")
    return round(when.timestamp() * 1000)


def event_envelope(event: Any) -> tuple[str, str, str, int, dict[str, Any]] | None:
    """``(type, sender, event_id, origin_server_ts, content)`` of a well-formed event, else None.

    Events arrive as plain dicts the way nio hands them over (``source``); anything missing or of
    the wrong type makes the event unusable rather than raising.
    """
    if not isinstance(event, dict):
        return None
    kind = event.get("type")
    sender = event.get("sender")
    event_id = event.get("event_id")
    ts = event.get("origin_server_ts")
    content = event.get("content")
    if not isinstance(kind, str) or not is_user_id(sender) or not is_event_id(event_id):
        return None
    if not is_count(ts) or not isinstance(content, dict):
        return None
    assert isinstance(sender, str) and isinstance(event_id, str) and isinstance(ts, int)
    return kind, sender, event_id, ts, content
