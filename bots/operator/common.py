"""What every operator command shares: the config read without its secrets, the data
directory's files, overwriting a file before unlinking it, and the refusal that exits 2."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bots.config import AppConfig, ConfigError, load_config

EXIT_PARTIAL = 1
EXIT_REFUSED = 2


class Refused(Exception):
    """The command will not do it; ``str(exc)`` says why and what to do instead."""


class _BlankEnv(dict[str, str]):
    """Every ``${VAR}`` resolves: these commands need ``data_dir``, never a secret."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "unset"


def load_for_operator(path: str) -> AppConfig:
    try:
        return load_config(Path(path), environ=_BlankEnv(os.environ))
    except ConfigError as exc:
        raise Refused(str(exc)) from None


def database_file(config: AppConfig) -> Path:
    from bots.app import database_path

    return Path(database_path(config))


def sidecars(db_path: Path) -> list[Path]:
    return [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def shred(path: Path) -> None:
    """Overwrite a file with random bytes, flush it to disk, then unlink it.

    Best effort: on SSDs and copy-on-write or journaling file systems the old blocks may
    survive; full-disk encryption is what makes them unreadable.
    """
    try:
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as fh:
            left = size
            while left > 0:
                chunk = min(left, 1 << 20)
                fh.write(os.urandom(chunk))
                left -= chunk
            os.fsync(fh.fileno())
    finally:
        path.unlink()


def private_tmpdir(data_dir: Path, prefix: str) -> Path:
    # Next to the database: the plaintext copy lives on the disk that already holds the original.
    data_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=data_dir))


def remove_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink():
            path.unlink()
        elif path.is_file():
            shred(path)
        else:
            path.rmdir()
    directory.rmdir()


def scrub_copy(config: AppConfig, path: Path, *, restoring: bool) -> list[str]:
    """Let every feature the suite ships, and every one the config names, take out of a copy of
    the database what no backup may keep (its contract's ``scrub_copy``); then vacuum the copy,
    so no freed page keeps it. What the features say, for the operator."""
    import sqlite3

    from bots.runtime.registry import REGISTRY, shipped_features

    try:
        named = [
            REGISTRY.find(ref, f"bots[{i}].features")
            for i, bot in enumerate(config.bots)
            for ref in bot.features
        ]
        features = list(dict.fromkeys([*shipped_features(), *named]))
    except (ConfigError, ImportError) as exc:  # never a copy with a feature's secrets left in it
        raise Refused(f"a feature cannot be loaded ({exc}); nothing was written or replaced") from None
    said: list[str] = []
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
        conn.execute("PRAGMA secure_delete=ON")
        for cls in features:
            sentence = cls.scrub_copy(conn, restoring)
            if sentence:
                said.append(sentence)
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return said
