"""`affinity backup`, `restore` and `forget` with blind mirrors in the database.

A backup never holds a round key, a sealed reflection, a consent request, an unreleased round
or a release waiting in the outbox; a restore destroys every unreleased round (older backups did
hold keys), so an old copy can never release again; `forget` forgets the mirror too.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.cli import main
from bots.operator import backup_format
from bots.operator.backup import PASSPHRASE_ENV
from protocols.mirror import plan_round
from storage import crypto
from storage.db import Database
from storage.mirror import MirrorRounds

PASS = "correct horse battery staple"
MASTER = crypto.master_key_from_secret("the operator's pickle key")
MEMBERS = ["@ana.author:x.org", "@bo.author:x.org", "@cy.author:x.org"]
TEXTS = ["RELEASE-PENDING-ALPHA", "SEALED-BRAVO", "SEALED-CHARLIE"]
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup_format, "SCRYPT_LOG2_N", 10)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)


def write_config(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "homeserver: http://127.0.0.1:1\ndata_dir: ./data\n"
        "bots:\n  - user_id: '@bot:x.org'\n    password: '${BOT_PASSWORD}'\n    features: []\n"
    )
    return path


async def _seed(path: Path) -> dict[str, bytes]:
    """An open round, a closed round waiting for release (its batch already in the outbox), a
    released one, a withheld one long past, and a request. The secrets a copy must not hold."""
    db = await Database.open(path)
    rounds = MirrorRounds(db, MASTER, "@bot:x.org")
    rng = random.Random(1)
    ids = []
    for _ in range(4):
        request = plan_round("!a:x.org", "!b:x.org", NOW, timedelta(days=1), 3)
        opened = await rounds.open_round(request, "@opener:x.org", MEMBERS, entropy=rng.randbytes)
        for user, text in zip(MEMBERS, TEXTS, strict=True):
            await rounds.submit(opened.code, user, f"{text}-{opened.id}", NOW)
        ids.append(opened.id)
    key_row = await db.fetchone("SELECT key FROM mirror_round_key")
    box_row = await db.fetchone("SELECT sealed FROM mirror_box")
    assert key_row is not None and box_row is not None
    secrets = {"wrapped key": bytes(key_row["key"]), "box": bytes(box_row["sealed"])[:64]}
    close = NOW + timedelta(days=1)
    for round_id in ids[1:]:
        await rounds.close(round_id, close, rng, timedelta(0), timedelta(0), members=MEMBERS)
    await rounds.mark_published(ids[2], [("!b:x.org", "$released")], close + timedelta(days=7))
    await db.execute(
        "UPDATE mirror_round SET state = 'withheld', redact_at = ? WHERE id = ?",
        ((NOW - timedelta(days=1)).timestamp(), ids[3]),
    )
    await db.execute(
        "INSERT INTO outbox (bot, txn_id, room_id, event_type, content, created_at)"
        " VALUES ('@bot:x.org', ?, '!b:x.org', 'm.room.message', ?, ?)",
        (f"mirror-release-{ids[1]}-code-0", json.dumps({"body": TEXTS[0]}), NOW.timestamp()),
    )
    await rounds.add_request("!c:x.org", "!d:x.org", "@opener:x.org", 3, timedelta(days=1), NOW)
    await db.close()
    return secrets


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        result = {
            table: conn.execute(f"SELECT * FROM {table}").fetchall()
            for table in ("mirror_round_key", "mirror_box", "mirror_submission", "mirror_request")
        }
        result["states"] = conn.execute("SELECT state FROM mirror_round ORDER BY id").fetchall()
        result["messages"] = conn.execute("SELECT event_id FROM mirror_message").fetchall()
        result["outbox"] = conn.execute("SELECT txn_id FROM outbox WHERE txn_id LIKE 'mirror-%'").fetchall()
    conn.close()
    return result


def test_a_backup_holds_no_round_key_reflection_request_or_pending_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "old")
    live = tmp_path / "old" / "data" / "affinity.db"
    live.parent.mkdir(parents=True)
    secrets = asyncio.run(_seed(live))
    out = tmp_path / "affinity.backup"
    assert main(["backup", "--config", str(config), "--out", str(out)]) == 0
    assert "2 unreleased round(s) were not copied" in capsys.readouterr().out  # open and closed
    copy = tmp_path / "copy.db"
    copy.write_bytes(backup_format.decrypt_backup(out.read_bytes(), PASS))
    raw = copy.read_bytes()
    for name, secret in secrets.items():
        assert secret not in raw, name
    assert TEXTS[0].encode() not in raw  # the release waiting in the outbox
    tables = _tables(copy)
    for table in ("mirror_round_key", "mirror_box", "mirror_submission", "mirror_request", "outbox"):
        assert tables[table] == [], table
    # What is kept: the released round and its event, so that a restored bot still redacts it.
    assert tables["states"] == [("released",), ("withheld",)]
    assert tables["messages"] == [("$released",)]
    # The live database is untouched.
    assert len(_tables(live)["mirror_round_key"]) == 3


def test_restore_destroys_every_unreleased_round_even_from_an_old_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A backup made before backups left the mirror out: keys and all.
    source = tmp_path / "source.db"
    asyncio.run(_seed(source))
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    old_backup = tmp_path / "old.backup"
    old_backup.write_bytes(backup_format.encrypt_backup(source.read_bytes(), PASS))
    config = write_config(tmp_path / "new")
    assert main(["restore", "--config", str(config), "--in", str(old_backup)]) == 0
    assert (
        "2 blind-mirror round(s) in the backup were not released yet: destroyed unread"
        in capsys.readouterr().out
    )
    tables = _tables(tmp_path / "new" / "data" / "affinity.db")
    for table in ("mirror_round_key", "mirror_box", "mirror_request", "outbox"):
        assert tables[table] == [], table
    assert tables["states"] == [("released",), ("withheld",)]


def test_forget_forgets_the_mirror_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    live = tmp_path / "data" / "affinity.db"
    live.parent.mkdir(parents=True)
    asyncio.run(_seed(live))
    with sqlite3.connect(live) as conn:  # the request lapsed, the open round is long stale
        conn.execute("UPDATE mirror_request SET expires_at = 0")
        conn.execute("UPDATE mirror_round SET closes_at = 0 WHERE state = 'open'")
    conn.close()
    assert main(["forget", "--config", str(config)]) == 0
    assert "mirror 3" in capsys.readouterr().out  # the withheld round, the stale one, the request
    tables = _tables(live)
    assert tables["mirror_request"] == [] and len(tables["mirror_round_key"]) == 1  # the closed one
    assert tables["states"] == [("closed",), ("released",)]


def test_forgetting_offline_queues_the_redaction_of_expired_releases(tmp_path: Path) -> None:
    # `affinity forget` through the feature contract (bots/runtime/offline.py): the mirror's own
    # forget_expired runs with no homeserver; the redaction of an expired release waits in the
    # outbox for the bot's next run, and the rows go at once.
    from bots.config import parse_config
    from bots.runtime.offline import forget_contract_features

    live = tmp_path / "affinity.db"
    asyncio.run(_seed(live))
    config = parse_config(
        f'homeserver: http://127.0.0.1:1\ndata_dir: "{tmp_path}"\n'
        "bots:\n  - user_id: '@bot:x.org'\n    password: x\n    features: [mirror]\n"
    )

    async def run() -> dict[str, int]:
        db = await Database.open(live)
        try:
            return await forget_contract_features(config, db, NOW + timedelta(days=30))
        finally:
            await db.close()

    counts = asyncio.run(run())
    assert counts["mirror"] >= 1
    tables = _tables(live)
    assert tables["messages"] == [] and ("released",) not in tables["states"]
    with sqlite3.connect(live) as conn:
        queued = conn.execute(
            "SELECT kind, content FROM outbox WHERE state = 'pending' AND kind = 'redaction'"
        ).fetchall()
    conn.close()
    assert [(kind, json.loads(content)["redacts"]) for kind, content in queued] == [
        ("redaction", "$released")
    ]
