"""The coalition's name and the heralds' requests to resend: two private control-room kinds.

The registry (``registry``) knows rooms and heralds by id only; people know a coalition by its
name, which is private (a seized homeserver learns no name from state). The founding herald
sends a *charter* (``{"name": ...}``) into the encrypted timeline. A herald that joins later, or
lost its cache, cannot decrypt what was sent before it joined, so it sends a *want*; every other
herald answers by sending again the charter, the liaisons and the current plans (the parts of a
plan are deterministic, so a resend never makes a different plan).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from protocols.coalition.delivery import DeliveryKey, SeenCopy
from protocols.coalition.registry import NS
from protocols.coalition.reveal import PrivateEvent, RevealError
from protocols.coalition.shapes import (
    event_envelope,
    is_count,
    is_event_id,
    is_hex_hash,
    is_phase_key,
    is_room_id,
    is_run_id,
)
from protocols.herald.consent import ConsentError, check_coalition_name

CHARTER = f"{NS}.charter"
WANT = f"{NS}.want"
# The copies a herald delivered before the coalition had a control room (the upgrade): other
# heralds cannot see them (they joined the rooms later, and those copies carry no marker).
COPIES = f"{NS}.copies"


def charter_event(name: str) -> PrivateEvent:
    try:
        checked = check_coalition_name(name)
    except ConsentError as exc:
        raise RevealError(str(exc)) from None
    return PrivateEvent(CHARTER, {"name": checked})


def copies_event(run_id: str, copies: Iterable[SeenCopy]) -> PrivateEvent:
    rows = [
        [c.key.room_id, c.key.key, c.event_id, c.origin_server_ts, c.digest]
        for c in sorted(copies, key=lambda c: (c.key.room_id, c.key.key))
        if c.key.run_id == run_id and c.digest is not None
    ]
    return PrivateEvent(COPIES, {"run": run_id, "copies": rows})


def parse_copies(event: Any, registered: Iterable[str]) -> list[SeenCopy]:
    """The copies a registered herald says it delivered before the upgrade ([] otherwise).

    Unlike a copy read from a room, the digest here is the herald's word: a herald is trusted
    to deliver (it could as well send the message itself), and this list is only ever written
    once, at the upgrade, for messages that carry no marker."""
    envelope = event_envelope(event)
    if envelope is None or event.get("state_key") is not None:
        return []
    kind, sender, _, _, content = envelope
    run_id, rows = content.get("run"), content.get("copies")
    if kind != COPIES or sender not in frozenset(registered) or not is_run_id(run_id):
        return []
    if not isinstance(rows, list):
        return []
    found: list[SeenCopy] = []
    for row in rows:
        if not (isinstance(row, list) and len(row) == 5):
            return []
        room_id, key, event_id, ts, digest = row
        if not (is_room_id(room_id) and is_phase_key(key) and is_event_id(event_id)):
            return []
        if not (is_count(ts) and is_hex_hash(digest)):
            return []
        assert isinstance(run_id, str)
        found.append(SeenCopy(DeliveryKey(run_id, key, room_id), sender, event_id, ts, digest))
    return found


def want_event() -> PrivateEvent:
    return PrivateEvent(WANT, {})


def coalition_name(events: Iterable[Any], registered: Iterable[str]) -> str | None:
    """The coalition's name: the earliest charter from a registered herald (None: not yet)."""
    senders = frozenset(registered)
    best: tuple[int, str, str] | None = None
    for event in events:
        envelope = event_envelope(event)
        if envelope is None or event.get("state_key") is not None:
            continue
        kind, sender, event_id, ts, content = envelope
        name = content.get("name")
        if kind != CHARTER or sender not in senders or not isinstance(name, str):
            continue
        try:
            checked = check_coalition_name(name)
        except ConsentError:  # a malformed name proves nothing
            continue
        if best is None or (ts, event_id) < best[:2]:
            best = (ts, event_id, checked)
    return None if best is None else best[2]
