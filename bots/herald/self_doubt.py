"""What a herald believes about itself: whether its own view of the coalition may be stale.

A herald decides from what its sync shows it. When its own heartbeat stops coming back (the
process was stopped, its sync stalled) or its homeserver does not answer at all, what it sees of
the others' copies may be behind, and ``bots.herald.leaderless`` holds its sends until it has
caught up. This is the record of those moments, kept in memory (a restart is itself a return:
the herald then reads every room before it sends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class SelfDoubt:
    last_beat: datetime | None = None  # when the last heartbeat round started
    suspect_since: datetime | None = None  # its own beat has not come back since then
    back_at: datetime | None = None  # it saw itself again, or resumed after a stall, then
    write_failed: datetime | None = None  # a heartbeat write got no answer at all since then
    server_back_at: datetime | None = None  # the first beat written after such a failure

    @property
    def in_doubt(self) -> bool:
        return self.suspect_since is not None

    def beat_started(self, now: datetime, staleness: timedelta) -> None:
        """A heartbeat round begins; one that comes more than the staleness after the last was
        a stall (the process stopped or starved): it is back from now."""
        last, self.last_beat = self.last_beat, now
        if last is not None and now - last > staleness:
            self.back_at = now

    def beat_written(self, now: datetime) -> None:
        """The homeserver took a beat: no longer suspect, and back from a server outage."""
        if self.suspect_since is not None:
            self.suspect_since = None
            self.back_at = now
        if self.write_failed is not None:
            # The others' copies reach the homeserver by federation catch-up, later.
            self.write_failed = None
            self.server_back_at = now

    def beat_failed(self, now: datetime, unanswered: bool) -> None:
        """A beat was not written; ``unanswered``: the homeserver did not answer at all."""
        if self.suspect_since is None:
            self.suspect_since = now
        if unanswered and self.write_failed is None:
            self.write_failed = now
