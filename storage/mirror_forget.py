"""How the blind mirror forgets, for one bot: expired and stale rounds (shredded), lapsed
requests, and what a backup never keeps (see :mod:`storage.mirror`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from storage.db import Database
from storage.mirror_box import Redaction, scrub, shred
from storage.times import to_ts as _ts


class ExpiredRounds(list[Redaction]):
    """The release messages whose time is up (to redact, then ``mark_redacted``), and how many
    rows were deleted on the way (rounds and lapsed requests)."""

    def __init__(self, due: list[Redaction], deleted: int) -> None:
        super().__init__(due)
        self.deleted = deleted


async def forget_expired_rounds(
    db: Database, now: datetime, stale_after: timedelta, bot: str
) -> ExpiredRounds:
    """:meth:`MirrorRounds.forget_expired` (see there). Lapsed consent requests go too."""
    which, params = " AND bot = ?", (bot,)
    cutoff = _ts(now)
    async with db.transaction():
        deleted = await db.execute(
            "DELETE FROM mirror_request WHERE expires_at <= ?" + which, (cutoff, *params)
        )
        stale = await db.fetchall(
            "SELECT id FROM mirror_round WHERE ((state IN ('open', 'closed') AND closes_at <= ?)"
            " OR (state = 'withheld' AND redact_at <= ?))" + which,
            (_ts(now - stale_after), cutoff, *params),
        )
        for row in stale:
            await shred(db, int(row["id"]))
            await db.execute("DELETE FROM mirror_round WHERE id = ?", (row["id"],))
        expiring = await db.fetchall(
            "SELECT id FROM mirror_round WHERE state = 'released' AND redact_at <= ?" + which,
            (cutoff, *params),
        )
        for row in expiring:
            await shred(db, int(row["id"]))  # normally already gone at publication
            await db.execute("UPDATE mirror_round SET state = 'expired' WHERE id = ?", (row["id"],))
        deleted += len(stale)
        # Expired rounds with nothing left to redact have nothing left to say.
        deleted += await db.execute(
            "DELETE FROM mirror_round WHERE state = 'expired' AND NOT EXISTS"
            " (SELECT 1 FROM mirror_message m WHERE m.round_id = mirror_round.id)" + which,
            params,
        )
        rows = await db.fetchall(
            "SELECT m.round_id, m.room_id, m.event_id FROM mirror_message m"
            " JOIN mirror_round r ON r.id = m.round_id WHERE r.state = 'expired'"
            + which.replace("bot", "r.bot")
            + " ORDER BY m.round_id, m.event_id",
            params,
        )
    if stale or expiring:
        await scrub(db)
    return ExpiredRounds([Redaction(int(r["round_id"]), r["room_id"], r["event_id"]) for r in rows], deleted)


def scrub_for_backup(conn: Any) -> int:
    """Apply :data:`BACKUP_SCRUB` to a copy of the database (a ``sqlite3`` connection); how many
    rounds were dropped. The caller vacuums, so that no freed page keeps what was deleted."""
    (rounds,) = conn.execute("SELECT COUNT(*) FROM mirror_round WHERE state IN ('open', 'closed')").fetchone()
    conn.execute("PRAGMA secure_delete=ON")
    for statement in BACKUP_SCRUB:
        conn.execute(statement)
    return int(rounds)


# What no backup keeps, and a restore clears (see bots.operator.backup and bots.operator.restore): every round key and box,
# every consent request, every round still open or waiting for its release (it could never be
# released from a copy without its key, and an old copy must never release again), and the
# outbox rows of the mirror (a release waiting to go out holds its texts). Released rounds stay,
# with the events to redact: a restored bot still redacts them when their time is up.
BACKUP_SCRUB = (
    "DELETE FROM mirror_round_key",
    "DELETE FROM mirror_box",
    "DELETE FROM mirror_submission",
    "DELETE FROM mirror_request",
    "DELETE FROM mirror_round WHERE state IN ('open', 'closed')",
    "DELETE FROM outbox WHERE txn_id LIKE 'mirror-%'",
)
