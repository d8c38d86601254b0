"""Logging at DEBUG never writes database statements' parameters (aiosqlite logs them)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from bots.logs import setup_logging
from storage.db import Database

SECRET = "reflection-text-that-must-not-be-logged"


@pytest.fixture
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("aiosqlite").setLevel(logging.NOTSET)


@pytest.mark.parametrize("json_lines", [False, True])
async def test_debug_logs_never_show_statement_parameters(
    tmp_path: Path, restore_logging: None, json_lines: bool
) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", json_lines, stream=stream)
    db = await Database.open(tmp_path / "affinity.db")
    try:
        await db.execute(
            "INSERT INTO handled_event (bot, event_id, handled_at) VALUES (?, ?, ?)", ("@b:x", SECRET, 1.0)
        )
        row = await db.fetchone("SELECT event_id FROM handled_event WHERE event_id = ?", (SECRET,))
        assert row is not None
        logging.getLogger("bots.test").debug("debug logging is on")
    finally:
        await db.close()
    text = stream.getvalue()
    assert "debug logging is on" in text  # the level really is DEBUG
    assert SECRET not in text
    assert "handled_event" not in text
