"""Nobody but the bots' user reads their data: umask 0077, data_dir 0700, database files 0600."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.runtime.filemodes import private_data_dir, restrict_file_modes
from storage.db import Database


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual login umask, restored after the test (the umask is process-wide)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_restrict_file_modes_sets_the_umask_and_makes_a_private_data_dir(
    tmp_path: Path, umask_022: None
) -> None:
    data = tmp_path / "fresh" / "data"
    restrict_file_modes(data)
    assert mode(data) == 0o700
    (data / "new-file").write_text("x")
    (data / "new-dir").mkdir()
    assert mode(data / "new-file") == 0o600 and mode(data / "new-dir") == 0o700


def test_a_data_dir_open_to_others_is_narrowed_and_logged(
    tmp_path: Path, umask_022: None, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)
    with caplog.at_level(logging.WARNING, logger="bots.runtime.filemodes"):
        private_data_dir(data)
    assert mode(data) == 0o700
    assert "was open to other users (mode 0755); narrowed it to 0700" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bots.runtime.filemodes"):
        private_data_dir(data)  # already private: nothing to say
    assert caplog.text == ""


async def test_database_files_are_0600_even_under_a_loose_umask(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "data" / "affinity.db"
    db = await Database.open(path)
    try:
        await db.execute("INSERT INTO handled_event VALUES ('@b:x', '$e', 1)")
        for file in (path, path.with_name("affinity.db-wal"), path.with_name("affinity.db-shm")):
            assert mode(file) == 0o600, file.name
        assert mode(path.parent) == 0o700
    finally:
        await db.close()


async def test_existing_database_files_open_to_others_are_narrowed(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "affinity.db"
    db = await Database.open(path)
    await db.execute("INSERT INTO handled_event VALUES ('@b:x', '$e', 1)")
    await db.close()
    wal = path.with_name("affinity.db-wal")
    wal.write_bytes(b"")
    for file in (path, wal):
        os.chmod(file, 0o644)
    db = await Database.open(path)
    try:
        assert mode(path) == 0o600 and mode(wal) == 0o600
    finally:
        await db.close()
