"""The herald's calendar rows (``herald_event``, from before the calendar was its own feature),
copied once into the calendar's table so nothing already listed is lost.

Done at start in code rather than in a migration: the herald's table may not exist (a new
database, or a herald that has dropped it), and SQL cannot select from a table that may be
absent. Each copied event keeps the UID the old ``.ics`` export gave it, so a calendar that
imported that file sees the same event, not a second one.
"""

from __future__ import annotations

import hashlib
import logging

from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from storage.times import from_ts

log = logging.getLogger(__name__)
SOURCE = "herald_event"


def legacy_uid(coalition: str, room_id: str, title: str, starts_at: float, created_at: float) -> str:
    """The UID the herald's ``!events ics`` gave the same event."""
    key = "\x1f".join(
        [coalition, room_id, title, from_ts(starts_at).isoformat(), from_ts(created_at).isoformat()]
    )
    return f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@affinity"


async def import_herald_events(host: Host) -> int:
    """Copy this bot's herald events once; how many were copied (0 when done before or none)."""
    db = host.db
    exists = await db.fetchone("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SOURCE,))
    done = await db.fetchone(
        "SELECT 1 FROM calendar_imported WHERE source = ?", (f"{SOURCE}:{host.user_id}",)
    )
    if exists is None or done is not None:
        return 0
    rows = await db.fetchall(
        "SELECT coalition, room_id, title, starts_at, place, created_at FROM herald_event WHERE bot = ?",
        (host.user_id,),
    )
    zones = {r[1]: (await host.settings.zone(RoomID(r[1]))).key for r in rows}
    now = host.clock().timestamp()
    async with db.transaction():
        for coalition, room_id, title, starts_at, place, created_at in rows:
            await db.execute(
                "INSERT INTO calendar_event (bot, coalition, room_id, uid, title, starts_at, zone, place,"
                " created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING",
                (
                    host.user_id,
                    coalition,
                    room_id,
                    legacy_uid(coalition, room_id, title, starts_at, created_at),
                    title,
                    starts_at,
                    zones[room_id],
                    place,
                    created_at,
                    created_at,
                ),
            )
        await db.execute(
            "INSERT INTO calendar_imported (source, rows, imported_at) VALUES (?, ?, ?)",
            (f"{SOURCE}:{host.user_id}", len(rows), now),
        )
    log.info("calendar: %d events copied from the herald's table", len(rows))
    return len(rows)
