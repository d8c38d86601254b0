"""``affinity restore``: bring the database back from a backup, checked before it replaces
anything, with every blind-mirror round that was not released yet destroyed unread."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
from pathlib import Path

from bots.operator.backup import passphrase
from bots.operator.backup_format import MAGIC, BackupError, decrypt_backup
from bots.operator.common import (
    Refused,
    database_file,
    load_for_operator,
    private_tmpdir,
    remove_tree,
    scrub_copy,
    shred,
    sidecars,
)
from storage.db import Database, SchemaTooNew


def _check_restored(path: Path) -> int:
    """Open the restored copy as the bots would (migrating an older schema); its version."""

    async def run() -> int:
        db = await Database.open(path)
        try:
            row = await db.fetchone("PRAGMA integrity_check")
            if row is None or row[0] != "ok":
                raise Refused("the restored database fails SQLite's integrity check; nothing was replaced")
            return await db.schema_version()
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except SchemaTooNew as exc:
        raise Refused(f"{exc}; nothing was replaced") from None
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the backup does not hold a usable database ({exc}); nothing was replaced") from None


def cmd_restore(args: argparse.Namespace) -> int:
    config = load_for_operator(args.config)
    db_path = database_file(config)
    source = Path(args.in_file)
    try:
        blob = source.read_bytes()
    except OSError as exc:
        raise Refused(f"{source}: cannot read: {exc.strerror}") from None
    if not blob.startswith(MAGIC):
        raise Refused(f"{source} is not an Affinity backup file")
    if db_path.exists() and not args.force:
        raise Refused(
            f"a database already exists at {db_path}. Stop the bots and pass --force to replace it "
            "(take an `affinity backup` of it first if it may still matter)."
        )
    secret = passphrase(confirm=False)
    try:
        plain = decrypt_backup(blob, secret)
    except BackupError as exc:
        raise Refused(str(exc)) from None
    workdir = private_tmpdir(config.data_dir, ".restore-")
    try:
        staged = workdir / "restored.db"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(plain)
        del plain
        version = _check_restored(staged)
        # What no backup may keep goes from the restored copy too: older backups did keep some
        # (an old copy must never release a blind-mirror round again).
        said = scrub_copy(config, staged, restoring=True)
        for old in [db_path, *sidecars(db_path)]:
            if old.exists():
                shred(old)
        os.replace(staged, db_path)
    finally:
        if workdir.exists():
            remove_tree(workdir)
    print(f"restored {db_path} from {source} (schema version {version})")
    for sentence in said:
        print(sentence)
    return 0
