"""``affinity backup``: an encrypted, consistent copy of the database (not the bots'
encryption stores, sessions or keys), without what no backup may keep (each feature says what,
through its contract's ``scrub_copy``)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from bots.operator.backup_format import encrypt_backup
from bots.operator.common import (
    Refused,
    database_file,
    load_for_operator,
    private_tmpdir,
    remove_tree,
    scrub_copy,
)
from storage.db import Database, SchemaTooNew

PASSPHRASE_ENV = "AFFINITY_BACKUP_PASSPHRASE"


def passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value is None:
        if not sys.stdin.isatty():
            raise Refused(f"set {PASSPHRASE_ENV}, or run this in a terminal to be asked for the passphrase")
        value = getpass.getpass("Backup passphrase: ")
        if confirm and getpass.getpass("Again: ") != value:
            raise Refused("the two passphrases differ; nothing was written")
    if not value:
        raise Refused("the backup passphrase must not be empty")
    return value


def cmd_backup(args: argparse.Namespace) -> int:
    config = load_for_operator(args.config)
    db_path = database_file(config)
    out = Path(args.out)
    if not db_path.exists():
        raise Refused(f"there is no database at {db_path}: nothing to back up")
    if out.exists() and not args.force:
        raise Refused(f"{out} exists; choose another --out, or pass --force to replace it")
    secret = passphrase(confirm=True)
    workdir = private_tmpdir(config.data_dir, ".backup-")
    copy = workdir / "copy.db"

    async def snapshot() -> int:
        db = await Database.open(db_path)
        try:
            await db.backup_to(copy)  # SQLite online backup: consistent while bots write
            return await db.schema_version()
        finally:
            await db.close()

    try:
        try:
            version = asyncio.run(snapshot())
        except SchemaTooNew as exc:
            raise Refused(str(exc)) from None
        # Never in a backup: what each feature's contract takes out (the blind mirror's round
        # keys, reflections, unreleased rounds, requests and outbox rows: docs/mirror-threat-model.md).
        said = scrub_copy(config, copy, restoring=False)
        blob = encrypt_backup(copy.read_bytes(), secret)
    finally:
        remove_tree(workdir)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    print(f"backup written: {out} ({len(blob)} bytes, schema version {version}, encrypted)")
    print("It holds the database only: not the bots' encryption stores, sessions or keys.")
    for sentence in said:
        print(sentence)
    return 0
