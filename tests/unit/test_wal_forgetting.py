"""What the sweeper deletes is gone from the disk: not in the database file, not in its WAL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from bots.config import AppConfig, RetentionConfig, parse_config
from bots.runtime.outbox import Outbox
from bots.sweeper import Sweeper, forget_everything
from storage.db import Database
from storage.herald import Coalitions, HeraldEvents

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BOT = "@b:x"


def operator_config() -> AppConfig:
    """A config naming the bot whose rows ``affinity forget`` forgets (its features: any)."""
    return parse_config(
        "homeserver: http://127.0.0.1:1\ndata_dir: ./data\n"
        f"bots:\n  - user_id: '{BOT}'\n    password: x\n    features: []\n"
    )


def on_disk(db_path: Path) -> bytes:
    """The database file and every sidecar SQLite keeps next to it."""
    return b"".join(
        p.read_bytes()
        for p in [db_path, *(db_path.with_name(db_path.name + s) for s in ("-wal", "-shm", "-journal"))]
        if p.exists()
    )


async def test_a_sweep_leaves_no_deleted_text_in_the_database_or_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "affinity.db"
    db = await Database.open(path)
    try:
        await _sweep_outbox(db, path)
    finally:
        await db.close()


async def _sweep_outbox(db: Database, path: Path) -> None:
    marker = f"MARKER-{secrets.token_hex(8)}"
    await db.execute(
        "INSERT INTO outbox (bot, txn_id, room_id, event_type, content, state, created_at) "
        "VALUES ('@b:x', 't1', '!r:x', 'm.room.message', ?, 'sent', ?)",
        (f'{{"body": "{marker}"}}', (NOW - timedelta(days=5)).timestamp()),
    )
    assert marker.encode() in on_disk(path)  # the test means something: the text was written
    bot = SimpleNamespace(
        name="@b:x",
        db=db,
        outbox=Outbox(db, "@b:x", send=None),  # type: ignore[arg-type]
        features=[],
        clock=lambda: NOW,
    )
    counts = await Sweeper(bot, RetentionConfig()).sweep()  # type: ignore[arg-type]
    assert counts["outbox"] == 1
    assert marker.encode() not in on_disk(path)
    assert path.with_name("affinity.db-wal").stat().st_size == 0


async def test_affinity_forget_leaves_no_deleted_herald_text_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "affinity.db"
    db = await Database.open(path)
    try:
        await _forget_herald(db, path)
    finally:
        await db.close()


async def _forget_herald(db: Database, path: Path) -> None:
    marker = f"MARKER-{secrets.token_hex(8)}"
    await Coalitions(db, BOT).join("c", "!r:x", "x", None, NOW - timedelta(days=80))
    events = HeraldEvents(db, BOT)
    await events.add("c", "!r:x", marker, NOW - timedelta(days=60), f"at {marker}", NOW - timedelta(days=70))
    assert marker.encode() in on_disk(path)
    counts = await forget_everything(operator_config(), db, NOW)
    assert counts["herald"] == 1
    assert marker.encode() not in on_disk(path)


async def test_checkpoint_truncates_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "affinity.db"
    db = await Database.open(path)
    await db.execute("INSERT INTO handled_event VALUES ('@b:x', '$e', 1)")
    assert path.with_name("affinity.db-wal").stat().st_size > 0
    assert await db.checkpoint() is True
    assert path.with_name("affinity.db-wal").stat().st_size == 0
    await db.close()
