"""Which heralds a herald believes alive: heartbeats timed on the reader's own clock.

A heartbeat is the herald's own state key in the control room (``seq`` grows by one per beat;
``status`` is ``up``, or ``dead`` when the optional MSC4140 last-will fires). The sender's
``origin_server_ts`` is never used: a skewed or lying clock must not make a dead herald look
alive. Instead the runtime records *when it received* each new beat, on its own clock, and a
herald is alive if its latest beat arrived less than ``staleness`` ago.

Only a *new* beat (a higher ``seq``) refreshes the receipt time, because sync replays the current
state after every restart and a gappy sync: seeing the same beat again is not a sign of life.
Liveness only ever delays a send (see ``delivery``), so a wrong belief costs lateness or a
duplicate, never a missing message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from protocols.coalition.registry import HEARTBEAT
from protocols.coalition.shapes import event_envelope, is_count

DEFAULT_HEARTBEAT = timedelta(seconds=30)
DEFAULT_STALENESS = timedelta(seconds=90)


@dataclass(frozen=True)
class Heartbeat:
    user_id: str
    seq: int
    dead: bool

    def order(self) -> tuple[int, bool]:
        # At the same seq a last-will "dead" beats "up": it was armed after that beat was sent.
        return (self.seq, self.dead)


def parse_heartbeat(event: Any) -> Heartbeat | None:
    """A heartbeat from a control-room state event, or None (wrong shape, or a key not the
    sender's own). A last-will without ``seq`` counts as ``seq`` 0 and so only reads as dead
    until the herald's next beat."""
    envelope = event_envelope(event)
    if envelope is None:
        return None
    kind, sender, _, _, content = envelope
    if kind != HEARTBEAT or event.get("state_key") != sender:
        return None
    status = content.get("status")
    seq = content.get("seq", 0)
    if status not in ("up", "dead") or not is_count(seq):
        return None
    return Heartbeat(sender, int(seq), status == "dead")


@dataclass(frozen=True)
class HeartbeatBook:
    """The latest beat seen from each herald and when (on this herald's clock) it arrived."""

    beats: Mapping[str, tuple[Heartbeat, datetime]] = field(default_factory=dict)

    def record(self, beat: Heartbeat, received_at: datetime) -> HeartbeatBook:
        """The book with ``beat`` in; an old or repeated beat changes nothing."""
        held = self.beats.get(beat.user_id)
        if held is not None and beat.order() <= held[0].order():
            return self
        return HeartbeatBook({**self.beats, beat.user_id: (beat, received_at)})

    def record_events(self, events: Iterable[Any], received_at: datetime) -> HeartbeatBook:
        book = self
        for event in events:
            beat = parse_heartbeat(event)
            if beat is not None:
                book = book.record(beat, received_at)
        return book

    def down_since(self, now: datetime, staleness: timedelta = DEFAULT_STALENESS) -> dict[str, datetime]:
        """When each herald with a beat on record that is not alive now went down, as this herald
        sees it: its last beat's arrival plus ``staleness`` (or that arrival, for a last will)."""
        return {
            user_id: at if beat.dead else at + staleness
            for user_id, (beat, at) in self.beats.items()
            if beat.dead or now - at >= staleness
        }

    def alive(self, now: datetime, staleness: timedelta = DEFAULT_STALENESS) -> frozenset[str]:
        """Heralds whose latest beat is ``up`` and arrived within ``staleness`` of ``now``.

        A herald is also in here for itself only if its own beat came back through sync: a
        herald that does not see itself alive is *self-suspect* (its sync may be stalled).
        """
        return frozenset(
            user_id for user_id, (beat, at) in self.beats.items() if not beat.dead and now - at < staleness
        )
