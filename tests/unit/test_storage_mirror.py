"""The blind mirror's storage: sealed reflections, one per person, release, and forgetting.

The anonymity promise is tested on the raw bytes of the database file and its WAL: the author's
user id never lands there, the text only sealed, and after the key is destroyed nothing of either.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from protocols.mirror import MirrorError, plan_round, release_order
from storage import crypto
from storage.db import Database, Migration
from storage.mirror import DraftBook, MirrorRounds, Redaction

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
CLOSE = NOW + timedelta(days=3)
LOW, HIGH = timedelta(seconds=30), timedelta(minutes=10)
WEEK = timedelta(days=7)
USERS = ["@ana.secret-author:a.org", "@bo.secret-author:a.org", "@cy.secret-author:b.org"]
MASTER = crypto.master_key_from_secret("the operator's pickle key, long and random")
BOT = "@mirror-bot:x.org"
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
        for n, name in [(1, "001_runtime.sql"), (4, "004_mirror.sql"), (9, "009_mirror_hardening.sql")]
    ]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "mirror.db", migrations=_migrations())
    try:
        yield database
    finally:
        await database.close()


def _rounds(db: Database, bot: str = BOT) -> MirrorRounds:
    return MirrorRounds(db, MASTER, bot)


async def _open(
    rounds: MirrorRounds, k: int = 3, seed: int = 1, members: list[str] = USERS
) -> tuple[str, int]:
    rng = random.Random(seed)
    request = plan_round("!a:x.org", "!b:x.org", NOW, CLOSE - NOW, k)
    opened = await rounds.open_round(request, "@opener:x.org", members, entropy=rng.randbytes)
    return opened.code, opened.id


async def _round_key(rounds: MirrorRounds, round_id: int) -> bytes:
    key = await rounds._key(round_id)
    assert key is not None
    return key


async def _one(db: Database, sql: str, params: tuple[object, ...] = ()) -> Any:
    row = await db.fetchone(sql, params)
    assert row is not None
    return row


def _raw(db: Database) -> bytes:
    data = db.path.read_bytes()
    wal = db.path.with_name(db.path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_open_and_find_by_code(db: Database) -> None:
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    found = await rounds.get_by_code(f" {code.upper()} ")
    assert found is not None and found.id == round_id
    assert (found.state, found.k, found.closes_at) == ("open", 3, CLOSE)
    assert await rounds.get_by_code("zzzzzz") is None
    assert [r.id for r in await rounds.rounds_for_room("!b:x.org")] == [round_id]
    assert [r.id for r in await rounds.active()] == [round_id]


async def test_code_collision_retries(db: Database) -> None:
    rounds = _rounds(db)
    request = plan_round("!a:x.org", "!b:x.org", NOW, CLOSE - NOW, 3)
    same = [b"x" * 16, b"x" * 16, b"y" * 16]
    first = await rounds.open_round(request, "@o:x.org", USERS, entropy=lambda n: same.pop(0))
    second = await rounds.open_round(request, "@o:x.org", USERS, entropy=lambda n: same.pop(0))
    assert first.code != second.code and not same


async def test_schema_refuses_small_k(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute(
            "INSERT INTO mirror_round (code, reflecting_room, reflected_room, k, closes_at)"
            " VALUES ('aaaaaa', '!a', '!b', 2, 0)"
        )


async def test_one_per_person_replacement(db: Database) -> None:
    rounds = _rounds(db)
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
    rounds = _rounds(db)
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
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    other_code, other_id = await _open(rounds, seed=2)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
        await rounds.submit(other_code, user, text, NOW)
    # Copy one round's box over the other's: it does not open there.
    row = await db.fetchone("SELECT nonce, sealed FROM mirror_box WHERE round_id = ?", (other_id,))
    assert row is not None
    await db.execute(
        "UPDATE mirror_box SET nonce = ?, sealed = ? WHERE round_id = ?",
        (row["nonce"], row["sealed"], round_id),
    )
    with pytest.raises(crypto.DecryptionError):
        await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH)


async def test_threshold_withholds_and_destroys(db: Database) -> None:
    rounds = _rounds(db)
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
    rounds = _rounds(db)
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
    await rounds.mark_published(round_id, [("!b:x.org", "$ev1"), ("!b:x.org", "$ev2")], published_at + WEEK)
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
    rounds = _rounds(db)
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
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    assert await rounds.forget_expired(CLOSE + WEEK - timedelta(seconds=1)) == []
    assert await rounds.get(round_id) is not None
    assert await rounds.forget_expired(CLOSE + WEEK) == []
    assert await rounds.get(round_id) is None
    for table in ("mirror_round_key", "mirror_box", "mirror_submission"):
        assert await db.fetchone(f"SELECT 1 FROM {table}") is None


async def test_disk_never_holds_author_or_plaintext(db: Database) -> None:
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    await rounds.submit(code, USERS[0], TEXTS[0] + " REPLACED", NOW)
    key = await _round_key(rounds, round_id)
    hashes = [crypto.keyed_hash(key, u) for u in USERS]
    raw = _raw(db)
    # While open: one sealed box; not even the keyed hashes are in the clear.
    assert key not in raw and not any(h in raw for h in hashes)
    for secret in (*USERS, *TEXTS, "secret-author", "PLAINTEXT"):
        assert secret.encode() not in raw
    await rounds.close(round_id, CLOSE, random.Random(3), LOW, HIGH)
    assert sorted(await rounds.take_batch_for_release(round_id)) == sorted(
        [TEXTS[0] + " REPLACED", *TEXTS[1:]]
    )
    ciphertexts = [bytes(r["sealed"]) for r in await db.fetchall("SELECT sealed FROM mirror_box")]
    wrapped = bytes((await _one(db, "SELECT key FROM mirror_round_key"))["key"])
    await rounds.mark_published(round_id, [("!b:x.org", "$ev1")], CLOSE + WEEK)
    raw = _raw(db)
    # After publication: neither the key, nor the hashes, nor any ciphertext, anywhere in the
    # file or its WAL; nor, still, any author or text.
    assert key not in raw and wrapped not in raw
    for blob in (*hashes, *(c[:32] for c in ciphertexts)):
        assert blob not in raw
    for secret in (*USERS, *TEXTS, "secret-author", "PLAINTEXT"):
        assert secret.encode() not in raw
    wal = db.path.with_name(db.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated


async def test_destroy_key_makes_leftovers_unreadable(db: Database) -> None:
    rounds = _rounds(db)
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
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    await rounds.submit(code, USERS[0], TEXTS[0], NOW)
    key_row = await db.fetchone("SELECT key FROM mirror_round_key")
    assert key_row is not None
    key = bytes(key_row["key"])
    await rounds.destroy_key(round_id)
    assert key not in _raw(db)


async def test_master_key_wraps_round_keys(db: Database) -> None:
    rounds = _rounds(db)
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
        await MirrorRounds(db, None, BOT).take_batch_for_release(round_id)
    wrong = MirrorRounds(db, crypto.master_key_from_secret("another secret"), BOT)
    with pytest.raises(crypto.DecryptionError):
        await wrong.take_batch_for_release(round_id)
    # Without a master key no round opens at all: a round key is never stored in the clear.
    with pytest.raises(RuntimeError, match="no master key"):
        await _open(MirrorRounds(db, None, BOT), seed=7)


async def test_a_copy_during_the_round_neither_orders_nor_sizes_the_reflections(db: Database) -> None:
    # No row per reflection (no rowid, no cell placed in submission order), and one box whose
    # size depends on how many reflections there are, never on how long each one is.
    rounds = _rounds(db)
    code, round_id = await _open(rounds)
    other_code, _ = await _open(rounds, seed=2)
    await rounds.submit(code, USERS[0], "short", NOW)
    await rounds.submit(other_code, USERS[0], "é" * 3900, NOW)
    sizes = {len(bytes(r["sealed"])) for r in await db.fetchall("SELECT sealed FROM mirror_box")}
    assert len(sizes) == 1, "a long and a short reflection seal to the same size"
    await rounds.submit(code, USERS[1], TEXTS[1], NOW)
    await rounds.submit(code, USERS[2], TEXTS[2], NOW)
    assert tuple(await _one(db, "SELECT COUNT(*) FROM mirror_box WHERE round_id = ?", (round_id,))) == (1,)
    assert tuple(await _one(db, "SELECT COUNT(*) FROM mirror_submission")) == (0,)
    # Inside the box, entries are stored in keyed-hash order, whatever order they came in.
    for order in ([0, 1, 2], [2, 0, 1]):
        code_n, id_n = await _open(rounds, seed=10 + order[0])
        for i in order:
            await rounds.submit(code_n, USERS[i], TEXTS[i], NOW)
        box = await rounds._read_box(id_n, await _round_key(rounds, id_n))
        stored_order = list(box.entries)  # as unpacked from the stored bytes
        assert stored_order == sorted(stored_order)


async def test_only_members_at_open_who_stay_count(db: Database) -> None:
    rounds = _rounds(db)
    newcomer = "@sock.joined-late:a.org"
    code, round_id = await _open(rounds, members=USERS)
    assert await rounds.is_eligible(round_id, USERS[0]) and not await rounds.is_eligible(round_id, newcomer)
    with pytest.raises(MirrorError, match="were in the room when round"):
        await rounds.submit(code, newcomer, "I joined after it opened", NOW)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code, user, text, NOW)
    # One author left before the close: their reflection is dropped, and 2 < k withholds all.
    closed = await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH, members=[*USERS[1:], newcomer])
    assert closed is not None and closed.state == "withheld" and closed.eligible == 2
    # With everyone still there, the same round would have been released, counting 3.
    code2, id2 = await _open(rounds, seed=5, members=USERS)
    for user, text in zip(USERS, TEXTS, strict=True):
        await rounds.submit(code2, user, text, NOW)
    kept = await rounds.close(id2, CLOSE, random.Random(0), LOW, HIGH, members=USERS)
    assert kept is not None and kept.state == "closed" and kept.eligible == 3
    assert await rounds.take_batch_for_release(id2) == sorted(TEXTS)
    # Waiting for its release, the box holds the texts and no author hash, nor who could take part.
    key = await _round_key(rounds, id2)
    box = await rounds._read_box(id2, key)
    assert box.eligible == set() and not {crypto.keyed_hash(key, u) for u in USERS} & set(box.entries)


async def test_rounds_of_one_bot_are_invisible_to_another(db: Database) -> None:
    ours, theirs = _rounds(db, "@one:x.org"), _rounds(db, "@two:x.org")
    code, round_id = await _open(ours)
    for user, text in zip(USERS, TEXTS, strict=True):
        await ours.submit(code, user, text, NOW)
    assert await theirs.get(round_id) is None and await theirs.get_by_code(code) is None
    assert await theirs.active() == [] and await theirs.rounds_for_room("!a:x.org") == []
    with pytest.raises(MirrorError, match="No round has the code"):
        await theirs.submit(code, USERS[0], "text", NOW)
    assert await theirs.close(round_id, CLOSE, random.Random(0), LOW, HIGH) is None
    assert await theirs.forget_expired(CLOSE + WEEK * 2) == []
    assert (await ours.get(round_id)) is not None and await ours.count(round_id) == 3
    request = await ours.add_request("!a:x.org", "!b:x.org", "@opener:x.org", 3, WEEK, NOW)
    assert await theirs.get_request(request.code) is None
    assert await theirs.active_counts("!a:x.org", "!b:x.org", "@opener:x.org") == (0, 0, 0)
    assert await ours.active_counts("!a:x.org", "!b:x.org", "@opener:x.org") == (2, 2, 2)


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
    from protocols.mirror_draft import Draft

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


async def test_a_round_from_before_the_box_is_claimed_and_boxed(db: Database) -> None:
    # As stored before migration 009: no bot, one sealed row per reflection, a raw key.
    key = crypto.new_key()
    round_id = await db.insert(
        "INSERT INTO mirror_round (code, reflecting_room, reflected_room, k, closes_at)"
        " VALUES ('abcdef', '!a:x.org', '!b:x.org', 3, ?)",
        (CLOSE.timestamp(),),
    )
    await db.execute(
        "INSERT INTO mirror_round_key (round_id, wrapped, key) VALUES (?, 0, ?)", (round_id, key)
    )
    for user, text in zip(USERS[:2], TEXTS[:2], strict=True):
        author = crypto.keyed_hash(key, user)
        nonce, sealed = crypto.seal(key, text, b"mirror_submission/%d/" % round_id + author)
        await db.execute(
            "INSERT INTO mirror_submission (round_id, author_hash, nonce, ciphertext) VALUES (?, ?, ?, ?)",
            (round_id, author, nonce, sealed),
        )
    rounds, other = _rounds(db), _rounds(db, "@two:x.org")
    assert [r.id for r in await rounds.unclaimed()] == [round_id] and await rounds.get(round_id) is None
    assert await rounds.claim(round_id, USERS) is True
    assert await other.claim(round_id, USERS) is False  # claimed once
    assert tuple(await _one(db, "SELECT COUNT(*) FROM mirror_submission")) == (0,)
    row = await db.fetchone("SELECT wrapped FROM mirror_round_key")
    assert row is not None and row["wrapped"] == 1 and key not in _raw(db)
    assert await rounds.count(round_id) == 2
    assert await rounds.submit("abcdef", USERS[2], TEXTS[2], NOW) is False
    closed = await rounds.close(round_id, CLOSE, random.Random(0), LOW, HIGH, members=USERS)
    assert closed is not None and closed.state == "closed"
    assert await rounds.take_batch_for_release(round_id) == sorted(TEXTS)
