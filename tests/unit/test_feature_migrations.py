"""A feature's own migrations: in order, one transaction per step, tracked per feature, a newer
schema refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.db import Database, Migration, SchemaTooNew, shipped_migrations
from storage.feature_migrations import apply_feature_migrations, feature_version, read_feature_migrations

STEP1 = Migration(1, "001_notes.sql", "CREATE TABLE ex_note (id INTEGER PRIMARY KEY, text TEXT NOT NULL);")
STEP2 = Migration(
    2,
    "002_more.sql",
    "ALTER TABLE ex_note ADD COLUMN room_id TEXT;\nCREATE INDEX ex_note_room ON ex_note (room_id);",
)


async def tables(db: Database) -> set[str]:
    return {
        r[0] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    }


async def test_steps_apply_in_order_once_and_per_feature(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        assert await apply_feature_migrations(db, "ex", [STEP1], 1.0) == ["001_notes.sql"]
        assert await apply_feature_migrations(db, "ex", [STEP1, STEP2], 2.0) == ["002_more.sql"]
        assert await apply_feature_migrations(db, "ex", [STEP1, STEP2], 3.0) == []
        assert await feature_version(db, "ex") == 2
        assert await feature_version(db, "other") == 0
        assert {"ex_note", "ex_note_room"} <= await tables(db)
        # the global schema is untouched by a feature's steps
        assert await db.schema_version() == len(shipped_migrations())
    finally:
        await db.close()


async def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    broken = Migration(2, "002_broken.sql", "CREATE TABLE ex_half (x INTEGER);\nTHIS IS NOT SQL;")
    try:
        await apply_feature_migrations(db, "ex", [STEP1], 1.0)
        with pytest.raises(Exception, match="syntax"):
            await apply_feature_migrations(db, "ex", [STEP1, broken], 2.0)
        assert await feature_version(db, "ex") == 1
        assert "ex_half" not in await tables(db)  # the step's first statement was rolled back
    finally:
        await db.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        await apply_feature_migrations(db, "ex", [STEP1, STEP2], 1.0)
        with pytest.raises(SchemaTooNew, match="ex feature"):
            await apply_feature_migrations(db, "ex", [STEP1], 2.0)
    finally:
        await db.close()


def test_folder_reading_refuses_gaps_and_odd_names(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (x);")
    (tmp_path / "README.md").write_text("ignored")
    assert [m.name for m in read_feature_migrations(tmp_path)] == ["001_a.sql"]
    (tmp_path / "003_c.sql").write_text("CREATE TABLE c (x);")
    with pytest.raises(RuntimeError, match="gap"):
        read_feature_migrations(tmp_path)
    (tmp_path / "003_c.sql").unlink()
    (tmp_path / "2_b.sql").write_text("")
    with pytest.raises(RuntimeError, match="NNN_name"):
        read_feature_migrations(tmp_path)
    assert read_feature_migrations(tmp_path / "missing") == []


async def test_bad_feature_names_are_refused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        with pytest.raises(ValueError):
            await apply_feature_migrations(db, "Ex; DROP", [STEP1], 1.0)
    finally:
        await db.close()
