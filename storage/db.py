"""The suite's SQLite database: one file, WAL, versioned migrations applied in transactions.

Migrations are the numbered ``storage/migrations/NNN_name.sql`` files. Each is applied in its own
transaction together with the bump of ``PRAGMA user_version``, so a crash leaves the schema at a
known step. A database whose version is newer than the newest migration we ship is refused: an
older build must never write into a schema it does not understand.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SchemaTooNew(RuntimeError):
    """The database was written by a newer version of the suite."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def shipped_migrations() -> list[Migration]:
    """The migrations shipped in ``storage/migrations``, in order, with no gaps."""
    found: list[Migration] = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise RuntimeError(f"migration numbering has a gap or duplicate at {migration.name}")
    return found


class Database:
    """An open connection with the suite's pragmas. Create with :meth:`open`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        # One connection is shared by the sync loop, scheduled jobs and the outbox. A write
        # transaction must not interleave with another task's statements, so statements take
        # this lock; it is re-entrant for the task that holds it (a repository may call
        # ``execute`` inside its own ``transaction()``).
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._in_transaction = False

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None

    @classmethod
    async def open(cls, path: Path | str, migrations: Sequence[Migration] | None = None) -> Database:
        path = Path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_files(path)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL survives any crash of the process (only a power cut may lose the
        # last commits, and then the sync checkpoint goes with them, so events are fetched and
        # deduplicated again). FULL would fsync on every handled event: several ms per command.
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        # Deleted rows must not linger in free pages: forgetting is a feature here. (The WAL
        # keeps old pages until a checkpoint: the sweeper calls checkpoint() after each sweep.)
        await conn.execute("PRAGMA secure_delete=ON")
        db = cls(conn, path)
        try:
            await db.migrate(shipped_migrations() if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def migrate(self, migrations: Sequence[Migration]) -> None:
        current = await self.schema_version()
        newest = migrations[-1].version if migrations else 0
        if current > newest:
            raise SchemaTooNew(
                f"database {self.path} has schema version {current}, this build knows {newest}; "
                "upgrade Affinity instead of running an older version"
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            log.info("applying migration %s", migration.name)
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(migration.sql):
                    await self._conn.execute(statement)
                await self._conn.execute(f"PRAGMA user_version={migration.version:d}")
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: all of it lands or none of it does.

        Nested use in the same task joins the outer transaction.
        """
        async with self._guard():
            if self._in_transaction:
                yield self._conn
                return
            await self._conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield self._conn
            except BaseException:
                self._in_transaction = False
                await self._conn.execute("ROLLBACK")
                raise
            self._in_transaction = False
            await self._conn.execute("COMMIT")

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement (in autocommit unless inside ``transaction()``); rows changed."""
        async with self._guard():
            cur = await self._conn.execute(sql, tuple(params))
            count = cur.rowcount
            await cur.close()
        return count

    async def insert(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one INSERT; returns the new row id."""
        async with self._guard():
            cur = await self._conn.execute(sql, tuple(params))
            rowid = cur.lastrowid
            await cur.close()
        return int(rowid or 0)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        async with self._guard():
            async with self._conn.execute(sql, tuple(params)) as cur:
                return await cur.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        async with self._guard():
            async with self._conn.execute(sql, tuple(params)) as cur:
                return list(await cur.fetchall())

    async def checkpoint(self) -> bool:
        """Copy the WAL into the database file and truncate the WAL to zero bytes.

        In WAL mode a deleted row's old page stays in the ``-wal`` file until a checkpoint, and
        SQLite's automatic checkpoints never shrink the file: forgotten text would linger there.
        With ``secure_delete`` on, the checkpointed pages carry zeros where the rows were.
        Returns False when another connection's reader kept the WAL from being truncated (it is
        then truncated by the next checkpoint).
        """
        async with self._guard():
            async with self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cur:
                row = await cur.fetchone()
        busy = bool(row and row[0])
        if busy:
            log.warning("the WAL could not be truncated: another connection is reading")
        return not busy

    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the live database (SQLite online backup)."""
        async with self._guard():
            async with aiosqlite.connect(target) as dest:
                await self._conn.backup(dest)


def _private_files(path: Path) -> None:
    """The database file mode 0600 (created so, or narrowed), and its sidecars with it.

    SQLite gives the -wal and -shm files it creates the database file's mode, so they follow.
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for file in [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))]:
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(file, 0o600)
            log.warning("%s was readable by other users (mode %04o); narrowed it to 0600", file.name, mode)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no triggers or string semicolons)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
