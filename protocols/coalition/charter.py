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

from protocols.coalition.registry import NS
from protocols.coalition.reveal import PrivateEvent, RevealError
from protocols.coalition.shapes import event_envelope
from protocols.herald.consent import ConsentError, check_coalition_name

CHARTER = f"{NS}.charter"
WANT = f"{NS}.want"


def charter_event(name: str) -> PrivateEvent:
    try:
        checked = check_coalition_name(name)
    except ConsentError as exc:
        raise RevealError(str(exc)) from None
    return PrivateEvent(CHARTER, {"name": checked})


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
