"""How long a herald's copy took to reach the other heralds' homeservers, read from each local
Synapse's own record of when it received the event (``events.received_ts`` in its SQLite).

This is the visibility latency the stagger G must exceed: a herald next in turn holds back only
if it sees the first copy by its turn. For every extra copy it also says whether the first copy
was already on the extra copy's sender's own homeserver when that herald sent, that is, whether
a look at the room on its homeserver just before sending would have held it back.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Mapping
from typing import Any

from bots.devserver import Homeserver


def received_at(server: Homeserver, event_id: str) -> float | None:
    """When the homeserver received (or created) the event, in seconds since the epoch."""
    db = server.directory / "homeserver.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        row = conn.execute("SELECT received_ts FROM events WHERE event_id = ?", (event_id,)).fetchone()
    return None if row is None or row[0] is None else int(row[0]) / 1000


def sent_at(event: dict[str, Any]) -> float:
    return int(event.get("origin_server_ts", 0)) / 1000


def crossing_lines(
    copies: Mapping[str, list[dict[str, Any]]], servers: Mapping[str, Homeserver]
) -> list[str]:
    """``copies``: room -> the copies of one message found there; ``servers``: herald -> its
    homeserver. Lines saying how fast first copies crossed, and what the extra copies missed."""
    crossing: list[float] = []
    missed: list[float] = []  # how long the first copy had been there when an extra one was sent
    extra = 0
    for events in copies.values():
        if not events:
            continue
        first, *later = sorted(events, key=sent_at)
        for herald, server in servers.items():
            if herald != first.get("sender"):
                arrived = received_at(server, str(first["event_id"]))
                if arrived is not None:
                    crossing.append(arrived - sent_at(first))
        for copy in later:
            extra += 1
            server = servers.get(str(copy.get("sender")))
            arrived = received_at(server, str(first["event_id"])) if server is not None else None
            if arrived is not None and arrived < sent_at(copy):
                missed.append(sent_at(copy) - arrived)
    lines = []
    if crossing:
        lines.append(
            f"  first copies reached the other heralds' homeservers after median "
            f"{statistics.median(crossing):.1f} s, at most {max(crossing):.1f} s"
        )
    if extra:
        span = f" (for {min(missed):.1f} to {max(missed):.1f} s)" if missed else ""
        lines.append(
            f"  {len(missed)} of {extra} extra copies were sent while the first copy was already on "
            f"the sender's own homeserver{span}"
        )
    return lines
