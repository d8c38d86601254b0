"""Operator tools: the sweeper, forget, backup and restore, wipe, the health listener, exit codes."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bots.cli import main
from bots.config import ConfigError, RetentionConfig, parse_config
from bots.operator import backup_format
from bots.operator.backup import PASSPHRASE_ENV
from bots.operator.common import shred
from bots.runtime.health import HealthServer, check_health
from bots.runtime.outbox import Outbox
from bots.runtime.registry import REGISTRY
from bots.sweeper import Sweeper, capped, forget_everything, forget_runtime
from storage.db import Database
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations
from storage.herald import Coalitions, HeraldEvents
from tests.bot.example_feature import ExampleNotes

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DAY = 86400.0
PASS = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    # The KDF cost is stored in each file's header; tests use a cheap one to stay fast.
    monkeypatch.setattr(backup_format, "SCRYPT_LOG2_N", 10)


def write_config(directory: Path, password: str = "${BOT_PASSWORD}") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "homeserver: http://127.0.0.1:1\n"
        "data_dir: ./data\n"
        f"bots:\n  - user_id: '@bot:example.org'\n    password: '{password}'\n    features: []\n"
    )
    return path


async def seed(db: Database, now: float) -> None:
    """Old and new runtime rows for two bots; pending rows are always kept."""
    for bot in ("@a:x", "@b:x"):
        await db.execute("INSERT INTO handled_event VALUES (?, ?, ?)", (bot, "$old", now - 3 * DAY))
        await db.execute("INSERT INTO handled_event VALUES (?, ?, ?)", (bot, "$new", now - 1 * DAY))
        for txn, state, age in [
            ("t1", "sent", 3),
            ("t2", "failed", 3),
            ("t3", "pending", 3),
            ("t4", "sent", 1),
        ]:
            await db.execute(
                "INSERT INTO outbox (bot, txn_id, room_id, event_type, content, state, created_at) "
                "VALUES (?, ?, '!r:x', 'm.room.message', '{}', ?, ?)",
                (bot, txn, state, now - age * DAY),
            )


async def rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetchall(sql)]


def make_db(path: Path, now: float = time.time()) -> None:
    async def run() -> None:
        db = await Database.open(path)
        await seed(db, now)
        await db.close()

    asyncio.run(run())


# -- the sweeper --------------------------------------------------------------------------------


async def test_forget_runtime_deletes_what_is_expired_and_nothing_else(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    await seed(db, NOW.timestamp())
    counts = await forget_runtime(db, NOW, RetentionConfig(), bot="@a:x")
    assert counts == {"handled_events": 1, "outbox": 2}
    assert await rows(db, "SELECT bot, event_id FROM handled_event ORDER BY bot, event_id") == [
        ("@a:x", "$new"),
        ("@b:x", "$new"),
        ("@b:x", "$old"),
    ]
    assert await rows(db, "SELECT txn_id FROM outbox WHERE bot = '@a:x' ORDER BY txn_id") == [
        ("t3",),
        ("t4",),
    ]
    counts = await forget_runtime(db, NOW, RetentionConfig())  # every bot
    assert counts == {"handled_events": 1, "outbox": 2}
    # A retention long enough keeps everything.
    assert await forget_runtime(db, NOW, RetentionConfig(handled_events="30d", outbox="30d")) == {
        "handled_events": 0,
        "outbox": 0,
    }
    await db.close()


async def test_bot_sweeper_uses_the_outbox_and_every_feature(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    await seed(db, NOW.timestamp())
    swept: list[datetime] = []

    class Broken:
        name = "broken"

        async def ready(self) -> None: ...

        async def forget_expired(self, now: datetime) -> int:
            raise RuntimeError("boom")

    class Recording:
        name = "recording"

        async def ready(self) -> None: ...

        async def forget_expired(self, now: datetime) -> int:
            swept.append(now)
            return 0

    scheduled: list[tuple[str, timedelta]] = []
    bot = SimpleNamespace(
        name="@b:x",
        db=db,
        outbox=Outbox(db, "@b:x", send=None),  # type: ignore[arg-type]
        features=[Broken(), Recording()],
        clock=lambda: NOW,
        scheduler=SimpleNamespace(every=lambda job_id, interval, func: scheduled.append((job_id, interval))),
    )
    sweeper = Sweeper(bot, RetentionConfig(sweep_every="15m"))  # type: ignore[arg-type]
    sweeper.schedule()
    assert scheduled == [("retention-sweep", timedelta(minutes=15))]
    assert await sweeper.sweep() == {"handled_events": 1, "outbox": 2}
    assert swept == [NOW]  # the broken feature did not stop the next one
    assert await rows(db, "SELECT count(*) FROM handled_event WHERE bot = '@a:x'") == [(2,)]
    assert await rows(db, "SELECT txn_id FROM outbox WHERE bot = '@b:x' ORDER BY txn_id") == [
        ("t3",),
        ("t4",),
    ]
    await db.close()


def test_capped_shortens_every_lifetime_but_not_the_interval() -> None:
    retention = capped(RetentionConfig(), timedelta(days=5))
    assert retention.handled_events == timedelta(days=2)  # already shorter: kept
    assert retention.draw_history == retention.protocol_runs == timedelta(days=5)
    assert retention.sweep_every == timedelta(hours=1)
    assert capped(RetentionConfig(), None) == RetentionConfig()


async def test_forget_everything_runs_each_feature_through_its_contract(tmp_path: Path) -> None:
    """Every feature the suite ships and every one a bot names, for every bot the config names
    and every bot the database has run, through its own ``forget_expired``."""
    db = await Database.open(tmp_path / "a.db")
    await seed(db, NOW.timestamp())  # runtime rows of @a:x and @b:x, which the config no longer names
    await Coalitions(db, "@b:x").join("c", "!r:x", "x", None, NOW - timedelta(days=60))
    events = HeraldEvents(db, "@b:x")
    await events.add("c", "!r:x", "old", NOW - timedelta(days=40), None, NOW - timedelta(days=50))
    await events.add("c", "!r:x", "soon", NOW + timedelta(days=1), None, NOW)
    config = parse_config(
        "homeserver: http://127.0.0.1:1\ndata_dir: ./data\n"
        "bots:\n  - user_id: '@c:x'\n    password: x\n    features: [tests.bot.example_feature]\n"
    )
    example = REGISTRY.find("tests.bot.example_feature")
    assert example.migrations is not None
    await apply_feature_migrations(db, "example", read_feature_migrations(example.migrations), 0)
    notes = ExampleNotes(db)
    await notes.add("!r:x", "old", NOW - timedelta(days=8))
    await notes.add("!r:x", "new", NOW - timedelta(days=6))
    counts = await forget_everything(config, db, NOW)
    assert counts["handled_events"] == 2 and counts["outbox"] == 4
    assert counts["herald"] == 1  # the bot taken out of the config still forgets
    assert counts["example"] == 1  # a feature the config names (kept 7 days)
    assert {"lottery", "mirror", "ghostchair"} <= set(counts)  # every feature the suite ships
    assert [e.title for e in await events.list_for("c")] == ["soon"]
    await db.close()


# -- forget, by hand ----------------------------------------------------------------------------


def test_forget_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)  # BOT_PASSWORD is not set: not needed here
    assert main(["forget", "--config", str(config)]) == 2
    assert "no database" in capsys.readouterr().err
    make_db(tmp_path / "data" / "affinity.db")
    assert main(["forget", "--config", str(config)]) == 0
    assert "handled_events 2, outbox 4" in capsys.readouterr().out
    assert main(["forget", "--config", str(config), "--older-than", "1h"]) == 0
    assert "handled_events 2, outbox 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["forget", "--config", str(config), "--older-than", "soon"])
    assert exc.value.code == 2


def test_forget_refuses_an_unknown_feature_before_deleting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("features: []", "features: [nosuch]"))
    make_db(tmp_path / "data" / "affinity.db")
    assert main(["forget", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown feature 'nosuch'" in err and "nothing was forgotten" in err

    async def left() -> int:
        db = await Database.open(tmp_path / "data" / "affinity.db")
        try:
            return len(await db.fetchall("SELECT 1 FROM handled_event"))
        finally:
            await db.close()

    assert asyncio.run(left()) == 4


# -- backup and restore -------------------------------------------------------------------------


def test_backup_format_round_trip_and_tampering() -> None:
    blob = backup_format.encrypt_backup(b"SQLite format 3\x00 secret rows", PASS)
    assert blob.startswith(backup_format.MAGIC) and b"secret rows" not in blob
    assert backup_format.decrypt_backup(blob, PASS) == b"SQLite format 3\x00 secret rows"
    with pytest.raises(backup_format.BackupError, match="wrong passphrase"):
        backup_format.decrypt_backup(blob, "wrong")
    # The header is authenticated: changing the KDF cost (same passphrase) is caught too.
    head = bytearray(blob)
    head[len(backup_format.MAGIC) + 2] = 9  # r
    with pytest.raises(backup_format.BackupError):
        backup_format.decrypt_backup(bytes(head), PASS)
    with pytest.raises(backup_format.BackupError, match="not an Affinity backup"):
        backup_format.decrypt_backup(b"hello", PASS)


def test_backup_and_restore_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_config(tmp_path / "old")
    make_db(tmp_path / "old" / "data" / "affinity.db")
    out = tmp_path / "affinity.backup"
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    monkeypatch.setattr("sys.stdin", SimpleNamespace(isatty=lambda: False))
    assert main(["backup", "--config", str(source), "--out", str(out)]) == 2
    assert PASSPHRASE_ENV in capsys.readouterr().err and not out.exists()

    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert main(["backup", "--config", str(source), "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o077 == 0
    assert b"$old" not in out.read_bytes()
    assert not list((tmp_path / "old" / "data").glob(".backup-*"))  # no plaintext left over
    assert main(["backup", "--config", str(source), "--out", str(out)]) == 2  # no silent overwrite

    target = write_config(tmp_path / "new")
    db_path = tmp_path / "new" / "data" / "affinity.db"
    monkeypatch.setenv(PASSPHRASE_ENV, "wrong")
    assert main(["restore", "--config", str(target), "--in", str(out)]) == 2
    assert "wrong passphrase" in capsys.readouterr().err and not db_path.exists()

    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert main(["restore", "--config", str(target), "--in", str(out)]) == 0
    assert "schema version" in capsys.readouterr().out

    async def count() -> int:
        db = await Database.open(db_path)
        n = len(await db.fetchall("SELECT * FROM outbox"))
        await db.execute("DELETE FROM outbox")
        await db.close()
        return n

    assert asyncio.run(count()) == 8
    assert main(["restore", "--config", str(target), "--in", str(out)]) == 2  # exists
    assert "--force" in capsys.readouterr().err
    assert main(["restore", "--config", str(target), "--in", str(out), "--force"]) == 0
    assert asyncio.run(count()) == 8
    assert not list((tmp_path / "new" / "data").glob(".restore-*"))

    not_backup = tmp_path / "x.bin"
    not_backup.write_bytes(b"nope")
    assert main(["restore", "--config", str(target), "--in", str(not_backup), "--force"]) == 2
    assert main(["restore", "--config", str(target), "--in", str(tmp_path / "missing")]) == 2


def test_restore_refuses_a_database_newer_than_this_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version=999")
    blob = backup_format.encrypt_backup(newer.read_bytes(), PASS)
    (tmp_path / "b").write_bytes(blob)
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    config = write_config(tmp_path / "cfg")
    assert main(["restore", "--config", str(config), "--in", str(tmp_path / "b")]) == 2
    assert "nothing was replaced" in capsys.readouterr().err
    assert not (tmp_path / "cfg" / "data" / "affinity.db").exists()


# -- wipe ---------------------------------------------------------------------------------------


def key_files(data: Path) -> list[Path]:
    bot = data / "bots" / "bot_example.org"
    files = [
        data / "affinity.db-wal",
        data / "affinity.db-shm",
        bot / "session.json",
        bot / "cross_signing.json",
        bot / "nio" / "bot_DEVICE.db",
        bot / "session.sealed",
        bot / "cross_signing.sealed",
        bot / "session.sealed.tmp",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"secret" * 100)
    return files


def test_wipe_refuses_without_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    make_db(tmp_path / "data" / "affinity.db")
    files = key_files(tmp_path / "data")
    assert main(["wipe", "--config", str(config)]) == 2
    assert "--yes-destroy-everything" in capsys.readouterr().err
    assert all(p.exists() for p in files) and (tmp_path / "data" / "affinity.db").exists()


def test_wipe_leaves_no_database_or_key_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    data = tmp_path / "data"
    make_db(data / "affinity.db")
    files = key_files(data)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    (data / "bots" / "bot_example.org" / "link").symlink_to(outside)
    (data / "notes.txt").write_text("not ours")
    assert main(["wipe", "--config", str(config), "--yes-destroy-everything"]) == 0
    out = capsys.readouterr().out
    assert "cannot erase" in out and "homeserver" in out and "other people's devices" in out
    assert not (data / "affinity.db").exists()
    assert not any(p.exists() for p in files)
    assert not (data / "bots").exists()
    assert outside.read_text() == "keep me"  # a link is removed, never followed
    assert (data / "notes.txt").exists()  # only what Affinity keeps is destroyed


def test_wipe_revoke_without_an_answer_says_so_and_wipes_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bots.runtime.sealed_files import write_sealed
    from bots.runtime.session import SESSION_PURPOSE

    key = "an operator pickle key of some length 0123456789"
    monkeypatch.setenv("AFFINITY_PICKLE_KEY", key)
    config = write_config(tmp_path)  # homeserver http://127.0.0.1:1: nothing listens there
    data = tmp_path / "data"
    make_db(data / "affinity.db")
    bot = data / "bots" / "bot_example.org"
    write_sealed(
        bot / "session.sealed",
        key,
        SESSION_PURPOSE,
        "@bot:example.org",
        {"user_id": "@bot:example.org", "device_id": "DEVX", "access_token": "syt_x"},
    )
    assert main(["wipe", "--config", str(config), "--yes-destroy-everything", "--revoke"]) == 1
    captured = capsys.readouterr()
    assert (
        "@bot:example.org: the homeserver did not answer" in captured.out
        and "DEVX stays logged in" in captured.out
    )
    assert "Not every device was logged out" in captured.err
    assert not (data / "bots").exists() and not (data / "affinity.db").exists()


def test_wipe_revoke_with_the_wrong_pickle_key_says_so_and_wipes_anyway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bots.runtime.sealed_files import write_sealed
    from bots.runtime.session import SESSION_PURPOSE

    monkeypatch.setenv("AFFINITY_PICKLE_KEY", "not the key the session was sealed with, 01234")
    config = write_config(tmp_path)
    bot = tmp_path / "data" / "bots" / "bot_example.org"
    write_sealed(
        bot / "session.sealed",
        "the real key, 0123456789abcdefghijklmnop",
        SESSION_PURPOSE,
        "@bot:example.org",
        {"access_token": "syt_x", "device_id": "D"},
    )
    assert main(["wipe", "--config", str(config), "--yes-destroy-everything", "--revoke"]) == 1
    out = capsys.readouterr().out
    assert "cannot read its session" in out and "does not open with this pickle key" in out
    assert not (tmp_path / "data" / "bots").exists()


def test_wipe_revoke_with_no_session_has_nothing_to_log_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    make_db(tmp_path / "data" / "affinity.db")
    assert main(["wipe", "--config", str(config), "--yes-destroy-everything", "--revoke"]) == 0
    assert "no saved session, nothing to log out" in capsys.readouterr().out


def test_shred_overwrites_before_unlinking(tmp_path: Path) -> None:
    secret = tmp_path / "key.json"
    secret.write_bytes(b"private key material" * 50)
    twin = tmp_path / "twin"
    os.link(secret, twin)  # a second name for the same blocks shows what was written to them
    shred(secret)
    assert not secret.exists()
    assert len(twin.read_bytes()) == 1000 and b"private key" not in twin.read_bytes()


# -- health and metrics -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_health_verdicts(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.db")
    now = 10_000.0
    fresh = SimpleNamespace(name="@a:x", last_sync_ok=now - 5)
    stale = SimpleNamespace(name="@b:x", last_sync_ok=now - 600)
    never = SimpleNamespace(name="@c:x", last_sync_ok=0.0)
    assert (await check_health(["@a:x"], [fresh], db, now)).ok
    health = await check_health(["@a:x", "@b:x", "@c:x", "@d:x"], [fresh, stale, never], db, now)  # type: ignore[list-item]
    assert not health.ok
    assert health.problems == {
        "@b:x": "last successful sync 600s ago",
        "@c:x": "no successful sync yet",
        "@d:x": "not started",
    }
    await db.close()
    health = await check_health(["@a:x"], [fresh], db, now)  # type: ignore[list-item]
    assert health.problems == {"storage": "not writable (ValueError)"}


async def test_health_server_serves_healthz_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    config = parse_config(
        f"homeserver: http://127.0.0.1:1\ndata_dir: {tmp_path}\n"
        f"metrics: {{enabled: true, port: {port}}}\n"
        "bots:\n  - {user_id: '@a:x', password: p, features: []}\n"
    )
    db = await Database.open(tmp_path / "h.db")
    bots: list[Any] = []
    server = HealthServer(config, lambda: db, lambda: bots)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 503
                assert (await resp.json())["problems"] == {"@a:x": "not started"}
            bots.append(SimpleNamespace(name="@a:x", last_sync_ok=time.time() - 3))
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200 and resp.content_type == "text/plain"
                text = await resp.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        (age,) = families["affinity_last_successful_sync_age_seconds"].samples
        assert age.labels == {"bot": "@a:x"} and 2 <= age.value < 60
        busy = HealthServer(config, lambda: db, lambda: bots)
        with pytest.raises(ConfigError, match=f"metrics: cannot listen on 127.0.0.1:{port}"):
            await busy.start()
    finally:
        await server.stop()
        await db.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            await http.get(f"http://127.0.0.1:{port}/healthz")


def test_check_config_warns_about_a_metrics_listener_on_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, password="p")
    config.write_text(
        config.read_text() + "metrics: {enabled: true, host: 0.0.0.0}\n"
        "encryption: {pickle_key: an-operator-pickle-key-0123456789abcdef}\n"
    )
    assert main(["check-config", "--config", str(config)]) == 0
    assert "metrics.host 0.0.0.0 is not loopback" in capsys.readouterr().err
