"""The blind mirror's storage: sealed reflections, one per person, release, and forgetting.

The anonymity promise is tested on the raw bytes of the database file and its WAL: the author's
user id never lands there, the text only sealed, and after the key is destroyed nothing of either.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import pytest

from protocols.mirror import MirrorError, plan_round, release_order
from storage import crypto
from storage.db import Database, Migration
from storage.mirror import DraftBook, MirrorRounds, Redaction

UTC = timezone.utc
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
CLOSE = NOW + timedelta(days=3)
LOW, HIGH = timedelta(seconds=30), timedelta(minutes=10)
WEEK = timedelta(days=7)
USERS = ["@ana.secret-author:a.org", "@bo.secret-author:a.org", "@cy.secret-author:b.org"]
TEXTS = [
    "Observed:\nThe marshals were calm PLAINTEXT-ALPHA",
    "Observed:\nSongs kept spirits up PLAINTEXT-BRAVO",
    "Observed:\nWater ran out early PLAINTEXT-CHARLIE",
]


def _migrations() -> list[Migration]:
    # Only the runtime's and ours: the mirror tables must not depend on other features'.
    folder = resources.files("storage.migrations")
    return [
        Migration(n, name, (folder / name).read_text("utf-8"))
        for n, name in [(1, "001_runtime.sql"), (4, "004_mirror.sql")]
    ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "mirror.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


async def _open(rounds: MirrorRounds, k: int = 3, seed: int = 1) -> tuple[str, int]:
    rng = random.Random(seed)
    request = plan_round("!a:x.org", "!b:x.org", NOW, CLOSE - NOW, k)
    opened = await rounds.open_round(request, entropy=rng.randbytes)
    return opened.code, opened.id


def _raw(db: Database) -> bytes:
    data = db.path.read_bytes()
    wal = db.path.with_name(db.path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_open_and_find_by_code(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    found = await rounds.get_by_code(f" {code.upper()} ")
    assert found is not None and found.id == round_id
    assert (found.state, found.k, found.closes_at) == ("open", 3, CLOSE)
    assert await rounds.get_by_code("zzzzzz") is None
    assert [r.id for r in await rounds.rounds_for_room("!b:x.org")] == [round_id]
    assert [r.id for r in await rounds.active()] == [round_id]


async def test_code_collision_retries(db: Database) -> None:
    rounds = MirrorRounds(db)
    request = plan_round("!a:x.org", "!b:x.org", NOW, CLOSE - NOW, 3)
    same = [b"x" * 16, b"x" * 16, b"y" * 16]
    first = await rounds.open_round(request, entropy=lambda n: same.pop(0))
    second = await rounds.open_round(request, entropy=lambda n: same.pop(0))
    assert first.code != second.code and not same


async def test_schema_refuses_small_k(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute(
            "INSERT INTO mirror_round (code, reflecting_room, reflected_room, k, closes_at)"
            " VALUES ('aaaaaa', '!a', '!b', 2, 0)"
        )


async def test_one_per_person_replacement(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    assert await rounds.submit(code, USERS[0], "first thought", NOW) is False
    assert await rounds.submit(code, USERS[0], "second thought", NOW) is True
    assert await rounds.submit(code, USERS[1], "other person", NOW) is False
    assert await rounds.count(round_id) == 2
    await rounds.submit(code, USERS[2], "third person", NOW)
    closed = await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH)
    assert closed is not None and closed.state == "closed"
    assert await rounds.take_batch_for_release(round_id) == sorted(
        ["second thought", "other person", "third person"]
    )


async def test_submit_errors(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    with pytest.raises(MirrorError, match="No round has the code"):
        await rounds.submit("zzzzzz", USERS[0], "text", NOW)
    with pytest.raises(MirrorError, match="has closed"):
        await rounds.submit(code, USERS[0], "text", CLOSE)
    with pytest.raises(MirrorError, match="at most 4000"):
        await rounds.submit(code, USERS[0], "x" * 100_000, NOW)
    await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH)
    with pytest.raises(MirrorError, match="has closed"):
        await rounds.submit(code, USERS[0], "text", NOW)  # the state, not only the clock
    assert await rounds.count(round_id) == 0


async def test_ciphertext_is_bound_to_its_row(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    # Swap two ciphertexts between rows: neither opens any more.
    rows = await db.fetchall("SELECT author_hash, nonce, ciphertext FROM mirror_submission")
    a, b = rows[0], rows[1]
    await db.execute(
        "UPDATE mirror_submission SET nonce = ?, ciphertext = ? WHERE author_hash = ?",
        (b["nonce"], b["ciphertext"], a["author_hash"]),
    )
    await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH)
    with pytest.raises(crypto.DecryptionError):
        await rounds.take_batch_for_release(round_id)


async def test_threshold_withholds_and_destroys(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds, k=3)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    await rounds.submit(code, USERS[1], TEXTS[1], NOW)
    closed = await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH, retention=WEEK)
    assert closed is not None
    assert closed.state == "withheld" and closed.release_at is None
    assert closed.redact_at == CLOSE + WEEK
    assert await rounds.count(round_id) == 0
    assert await db.fetchone("SELECT 1 FROM mirror_round_key") is None
    with pytest.raises(ValueError):
        await rounds.take_batch_for_release(round_id)
    # Closing again (a restart) changes nothing.
    again = await rounds.close(round_id, CLOSE, random.Random(5), LOW, HIGH)
    assert again == closed
    # The withheld round itself is forgotten after the retention period, with nothing to redact.
    assert await rounds.forget_expired(CLOSE + WEEK - timedelta(seconds=1)) == []
    assert await rounds.get(round_id) is not None
    assert await rounds.forget_expired(CLOSE + WEEK) == []
    assert await rounds.get(round_id) is None


async def test_release_delay_and_publication(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    closed = await rounds.close(round_id, CLOSE, random.Random(3), LOW, HIGH)
    assert closed is not None and closed.release_at is not None
    assert CLOSE + LOW <= closed.release_at <= CLOSE + HIGH
    batch = await rounds.take_batch_for_release(round_id)
    assert batch == sorted(TEXTS)
    assert sorted(release_order(batch, random.Random(9))) == sorted(TEXTS)
    published_at = closed.release_at
    await rounds.mark_published(
        round_id, [("!b:x.org", "$ev1"), ("!b:x.org", "$ev2")], published_at + WEEK
    )
    released = await rounds.get(round_id)
    assert released is not None and released.state == "released"
    assert released.redact_at == published_at + WEEK
    # The copies are gone at publication: no key, no reflections.
    assert await rounds.count(round_id) == 0
    assert await db.fetchone("SELECT 1 FROM mirror_round_key") is None
    with pytest.raises(ValueError):
        await rounds.mark_published(round_id, [], published_at + WEEK)
    assert [r.id for r in await rounds.active()] == []


async def test_expiry_redacts_then_forgets(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    await rounds.close(round_id, CLOSE, random.Random(3), LOW, HIGH)
    redact_at = CLOSE + WEEK
    await rounds.mark_published(round_id, [("!b:x.org", "$ev1"), ("!b:x.org", "$ev2")], redact_at)
    assert await rounds.forget_expired(redact_at - timedelta(seconds=1)) == []
    due = await rounds.forget_expired(redact_at)
    assert due == [Redaction(round_id, "!b:x.org", "$ev1"), Redaction(round_id, "!b:x.org", "$ev2")]
    expired = await rounds.get(round_id)
    assert expired is not None and expired.state == "expired"
    assert await rounds.rounds_for_room("!b:x.org") == []
    # A crash before confirming: the next sweep names them again.
    await rounds.mark_redacted(due[:1])
    assert await rounds.forget_expired(redact_at + timedelta(hours=1)) == due[1:]
    await rounds.mark_redacted(due[1:])
    assert await rounds.get(round_id) is None
    assert await db.fetchone("SELECT 1 FROM mirror_message") is None


async def test_stale_rounds_are_shredded(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    assert await rounds.forget_expired(CLOSE + WEEK - timedelta(seconds=1)) == []
    assert await rounds.get(round_id) is not None
    assert await rounds.forget_expired(CLOSE + WEEK) == []
    assert await rounds.get(round_id) is None
    for table in ("mirror_round_key", "mirror_submission"):
        assert await db.fetchone(f"SELECT 1 FROM {table}") is None


async def test_disk_never_holds_author_or_plaintext(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    await rounds.submit(code, USERS[0], TEXTS[0] + " REPLACED", NOW)
    key_row = await db.fetchone("SELECT key FROM mirror_round_key")
    assert key_row is not None
    key = bytes(key_row["key"])
    hashes = [crypto.keyed_hash(key, u) for u in USERS]
    raw = _raw(db)
    # While open: ciphertext and keyed hashes only.
    assert all(h in raw for h in hashes)
    for secret in (*USERS, *TEXTS, "secret-author", "PLAINTEXT"):
        assert secret.encode() not in raw
    await rounds.close(round_id, CLOSE, random.Random(3), LOW, HIGH)
    assert sorted(await rounds.take_batch_for_release(round_id)) == sorted(
        [TEXTS[0] + " REPLACED", *TEXTS[1:]]
    )
    ciphertexts = [bytes(r["ciphertext"]) for r in await db.fetchall(
        "SELECT ciphertext FROM mirror_submission")]
    await rounds.mark_published(round_id, [("!b:x.org", "$ev1")], CLOSE + WEEK)
    raw = _raw(db)
    # After publication: neither the key, nor the hashes, nor any ciphertext, anywhere in the
    # file or its WAL; nor, still, any author or text.
    assert key not in raw
    for blob in (*hashes, *(c[:32] for c in ciphertexts)):
        assert blob not in raw
    for secret in (*USERS, *TEXTS, "secret-author", "PLAINTEXT"):
        assert secret.encode() not in raw
    wal = db.path.with_name(db.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated


async def test_destroy_key_makes_leftovers_unreadable(db: Database) -> None:
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    key_row = await db.fetchone("SELECT key FROM mirror_round_key")
    assert key_row is not None
    key = bytes(key_row["key"])
    await rounds.destroy_key(round_id)
    assert key not in _raw(db)
    assert await rounds.count(round_id) == 0


async def test_key_is_overwritten_even_without_secure_delete(db: Database) -> None:
    # Belt and braces: a build or connection without secure_delete still loses the key bytes,
    # because the column is overwritten in place before the row is deleted.
    await db.execute("PRAGMA secure_delete=OFF")
    rounds = MirrorRounds(db)
    code, round_id = await _open(rounds)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    key_row = await db.fetchone("SELECT key FROM mirror_round_key")
    assert key_row is not None
    key = bytes(key_row["key"])
    await rounds.destroy_key(round_id)
    assert key not in _raw(db)


async def test_master_key_wraps_round_keys(db: Database) -> None:
    master = crypto.master_key_from_secret("correct horse battery staple, but longer")
    rounds = MirrorRounds(db, master_key=master)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    row = await db.fetchone("SELECT wrapped, key FROM mirror_round_key")
    assert row is not None and row["wrapped"] == 1
    stored = bytes(row["key"])
    # The stored bytes are not the key: hashes under them do not match what is stored.
    assert len(stored) > crypto.KEY_BYTES
    await rounds.close(round_id, CLOSE, random.Random(3), LOW, HIGH)
    assert await rounds.take_batch_for_release(round_id) == sorted(TEXTS)
    with pytest.raises(RuntimeError, match="no master key"):
        await MirrorRounds(db).take_batch_for_release(round_id)
    wrong = MirrorRounds(db, master_key=crypto.master_key_from_secret("another secret"))
    with pytest.raises(crypto.DecryptionError):
        await wrong.take_batch_for_release(round_id)


def test_crypto_round_trip_and_padding() -> None:
    key = crypto.new_key()
    nonce, sealed = crypto.seal(key, "é" * 10, b"aad")
    assert crypto.unseal(key, nonce, sealed, b"aad") == "é" * 10
    _, longer = crypto.seal(key, "é" * 60, b"aad")
    assert len(sealed) == len(longer)  # both pad to the same bucket
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(key, nonce, sealed, b"other row")
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(crypto.new_key(), nonce, sealed, b"aad")
    assert crypto.keyed_hash(key, "@a:x") == crypto.keyed_hash(key, "@a:x")
    assert crypto.keyed_hash(key, "@a:x") != crypto.keyed_hash(crypto.new_key(), "@a:x")


def test_draft_book_is_memory_only_and_forgets() -> None:
    from protocols.mirror import Draft

    book = DraftBook()
    book.put("@a:x", Draft(1, "abcdef"), NOW)
    book.put("@b:x", Draft(2, "ghjkmn"), NOW + timedelta(hours=1))
    assert book.get("@a:x") == Draft(1, "abcdef") and len(book) == 2
    assert book.forget_older_than(NOW + timedelta(minutes=30)) == 1
    assert book.get("@a:x") is None
    book.put("@b:x", Draft(2, "ghjkmn", stage="submitted"), NOW)
    assert book.get("@b:x") is None
    book.put("@c:x", Draft(3, "pqrstu"), NOW)
    assert book.discard_round(3) == 1 and len(book) == 0
    book.put("@d:x", Draft(4, "vwxyz2"), NOW)
    assert book.discard("@d:x") and not book.discard("@d:x")
