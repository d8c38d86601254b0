"""A feature's own schema: its SQL files, applied in order, tracked per feature.

A feature ships a folder of ``NNN_name.sql`` files (``001_...``, ``002_...``, no gaps) next to
its code and names it in its contract (``migrations = Path(__file__).parent / "migrations"``).
:func:`apply_feature_migrations` applies those not applied yet, each in its own transaction
together with the row that records it in ``feature_schema(feature, version)``, so a crash leaves
the feature's schema at a known step. A feature whose recorded version is newer than its newest
file is refused (an older build must never write into a schema it does not understand).

The suite's global migrations (``storage/migrations``, ``PRAGMA user_version``) stay as they
are; features added from now on own their tables here instead of adding global files. A
feature's table names start with the feature's name (``example_note``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from storage.db import Database, Migration, SchemaTooNew
from storage.db import _split_sql as split_statements  # the global migrations' splitter: one SQL dialect

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_FEATURE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

_TRACKING = (
    "CREATE TABLE IF NOT EXISTS feature_schema ("
    " feature TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at REAL NOT NULL)"
)


def read_feature_migrations(folder: Path) -> list[Migration]:
    """The folder's migrations in order; a gap, a duplicate or a stray ``.sql`` name is an error."""
    found: list[Migration] = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        if entry.suffix != ".sql":
            continue
        match = _NAME.match(entry.name)
        if not match:
            raise RuntimeError(f"feature migration {entry} is not named NNN_name.sql")
        found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"feature migration numbering has a gap or duplicate at {migration.name}")
    return found


async def feature_version(db: Database, feature: str) -> int:
    await db.execute(_TRACKING)
    row = await db.fetchone("SELECT version FROM feature_schema WHERE feature = ?", (feature,))
    return int(row[0]) if row else 0


async def apply_feature_migrations(
    db: Database, feature: str, migrations: list[Migration], now: float
) -> list[str]:
    """Bring ``feature``'s schema up to date; returns the names applied (none when current).

    Raises :class:`SchemaTooNew` if the database records a newer version than ``migrations``.
    """
    if not _FEATURE.match(feature):
        raise ValueError(f"a feature name is lower-case letters, digits and _: {feature!r}")
    current = await feature_version(db, feature)
    newest = migrations[-1].version if migrations else 0
    if current > newest:
        raise SchemaTooNew(
            f"the {feature} feature's tables are at version {current}, this build knows {newest}; "
            "upgrade Affinity instead of running an older version"
        )
    applied: list[str] = []
    for migration in migrations:
        if migration.version <= current:
            continue
        log.info("applying %s migration %s", feature, migration.name)
        async with db.transaction() as conn:
            # Read again inside the transaction: two bots starting on one database must not both
            # apply a step (the second finds it done and skips it).
            async with conn.execute(
                "SELECT version FROM feature_schema WHERE feature = ?", (feature,)
            ) as cur:
                row = await cur.fetchone()
            if row is not None and int(row[0]) >= migration.version:
                continue
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO feature_schema (feature, version, applied_at) VALUES (?, ?, ?)"
                " ON CONFLICT (feature) DO UPDATE SET version = excluded.version,"
                " applied_at = excluded.applied_at",
                (feature, migration.version, now),
            )
        applied.append(migration.name)
    return applied
