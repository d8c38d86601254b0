"""The look at a member room a herald takes before a send others may have beaten: its sync is
complete when every recent event of the other heralds is one the sync delivered, behind when the
homeserver shows one it did not, and a room that cannot be read is never taken as complete."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bots.herald.room_check import RoomView, SeenEvents, patience_left, room_view
from bots.runtime.errors import MatrixError, TransportError

ROOM = "!group:b.example"
DUE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OTHERS = frozenset({"@herald:a.example", "@herald:b.example"})


def event(event_id: str, sender: str, seconds_after_due: float) -> dict[str, Any]:
    ts = int((DUE + timedelta(seconds=seconds_after_due)).timestamp() * 1000)
    return {"event_id": event_id, "sender": sender, "origin_server_ts": ts, "type": "m.room.encrypted"}


class Rooms:
    """A homeserver's /messages, newest first, two events a page; or an outage."""

    def __init__(self, timeline: list[dict[str, Any]], down: bool = False, away: bool = False) -> None:
        self.timeline = timeline
        self.down = down
        self.away = away
        self.queries: list[dict[str, str]] = []

    async def api(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        if self.away:
            raise TransportError("connection refused")
        if self.down:
            raise MatrixError("forbidden", "M_FORBIDDEN", 403)
        assert method == "GET" and path.endswith("/messages") and query is not None
        self.queries.append(query)
        start = int(query.get("from", "0"))
        page = self.timeline[start : start + 2]
        return {"chunk": page, "end": str(start + 2)} if page else {"chunk": []}


async def test_every_recent_herald_event_seen_through_the_sync_is_a_complete_view() -> None:
    rooms = Rooms([event("$b2", "@herald:b.example", 30), event("$a1", "@herald:a.example", 5)])
    seen = SeenEvents()
    seen.add("$b2")
    seen.add("$a1")
    assert await room_view(rooms, ROOM, OTHERS, DUE, seen) is RoomView.COMPLETE  # type: ignore[arg-type]
    wanted = json.loads(rooms.queries[0]["filter"])
    assert wanted["senders"] == sorted(OTHERS) and rooms.queries[0]["dir"] == "b"


async def test_an_event_the_sync_has_not_delivered_means_behind_even_pages_back() -> None:
    timeline = [
        event("$b3", "@herald:b.example", 50),
        event("$b2", "@herald:b.example", 40),
        event("$a1", "@herald:a.example", 10),  # second page: not seen yet
        event("$old", "@herald:a.example", -600),
    ]
    seen = SeenEvents()
    seen.add("$b3")
    seen.add("$b2")
    assert await room_view(rooms := Rooms(timeline), ROOM, OTHERS, DUE, seen) is RoomView.BEHIND  # type: ignore[arg-type]
    assert len(rooms.queries) == 2
    seen.add("$a1")  # the sync caught up; older events do not matter
    assert await room_view(Rooms(timeline), ROOM, OTHERS, DUE, seen) is RoomView.COMPLETE  # type: ignore[arg-type]


async def test_a_room_that_cannot_be_read_is_not_a_complete_view() -> None:
    seen = SeenEvents()
    assert await room_view(Rooms([], away=True), ROOM, OTHERS, DUE, seen) is RoomView.AWAY  # type: ignore[arg-type]
    assert await room_view(Rooms([], down=True), ROOM, OTHERS, DUE, seen) is RoomView.UNREADABLE  # type: ignore[arg-type]
    # No other herald in the room: nothing to wait for, nothing read.
    assert await room_view(Rooms([], down=True), ROOM, frozenset(), DUE, seen) is RoomView.COMPLETE  # type: ignore[arg-type]


def test_a_lagging_view_delays_a_key_for_its_patience_at_most() -> None:
    waiting: dict[str, datetime] = {}
    stagger = timedelta(seconds=20)
    assert patience_left(waiting, "k", DUE, stagger)
    assert patience_left(waiting, "k", DUE + timedelta(seconds=19), stagger)
    assert not patience_left(waiting, "k", DUE + timedelta(seconds=20), stagger)


def test_the_seen_events_are_bounded() -> None:
    from bots.herald import room_check

    seen = SeenEvents()
    for i in range(room_check.REMEMBERED + 5):
        seen.add(f"${i}")
    assert "$0" not in seen and f"${room_check.REMEMBERED + 4}" in seen
