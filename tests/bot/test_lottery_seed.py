"""Tier 2: a draw's seed is out of reach of whoever reads the database during its window.

With the seed, a member could compute what each extra reaction does to the result and add the
one that gives the result they want. So the database only ever holds the seed sealed under a
key derived from the operator's pickle key; the draw still reveals after a restart, old draws
(stored before seeds were sealed) still reveal and verify, and a draw whose seed no longer
opens (the pickle key changed) is called off with a clear note instead of a result.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

from protocols.lottery import PublishedDraw, canonical_json, commitment, prepare, recompute, reveal, verify
from storage.db import Database, shipped_migrations
from tests.bot.fakes import BOT, ROOM, FakeBot, close
from tests.bot.test_lottery import ANA, BEN, CHI, DEV, NOW, draw_id_of, feature, jobs, lottery_bot

PICKLE_KEY = "operator-pickle-key"


async def keyed_bot(tmp_path: Path, pickle_key: str = PICKLE_KEY) -> FakeBot:
    # As BotRuntime.start sets it from the configuration, before the features start.
    FakeBot.pickle_key = pickle_key  # type: ignore[attr-defined]
    try:
        bot = await lottery_bot(tmp_path)
    finally:
        del FakeBot.pickle_key  # type: ignore[attr-defined]
    bot.pickle_key = pickle_key
    return bot


def database_copy(tmp_path: Path) -> bytes:
    """What someone who copies the data directory gets: the database, its WAL and index."""
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("affinity.db*")) if p.is_file())


async def test_a_database_copy_taken_in_the_window_cannot_predict_the_draw(tmp_path: Path) -> None:
    bot = await keyed_bot(tmp_path)
    try:
        [commit] = await bot.say(ROOM, BEN, "!draw facilitator care")
        draw_id = draw_id_of(commit)
        await bot.react(ROOM, CHI, commit.event_id, "🎲")
        copy = database_copy(tmp_path)
        # The attacker's view: every value stored for the draw, tried as the seed.
        row = await bot.db.fetchone("SELECT * FROM lottery_draw WHERE draw_id = ?", (draw_id,))
        assert row is not None
        stored = await feature(bot).draws.get(draw_id)
        assert stored is not None
        for value in row:
            if isinstance(value, bytes | str) and len(value) >= 16:
                candidate = value if isinstance(value, bytes) else value.encode()
                assert commitment(stored.inputs, candidate) != stored.commitment

        bot.now = NOW + timedelta(seconds=31)
        [result] = await bot.fire(f"lottery:reveal-{draw_id}")
        revealed = await feature(bot).draws.get(draw_id)
        assert revealed is not None and revealed.published is not None
        seed = revealed.published.seed
        assert seed.hex() in result.body
        # The seed the draw revealed was nowhere in the copy taken during the window.
        assert seed not in copy and seed.hex().encode() not in copy
        assert verify(revealed.published)
        [checked] = await bot.say(ROOM, DEV, f"!verify {draw_id}")
        assert f"Draw {draw_id} checks out" in checked.body
    finally:
        await close(bot)


async def test_a_restart_with_the_same_key_reveals_and_another_key_calls_the_draw_off(
    tmp_path: Path,
) -> None:
    first = await keyed_bot(tmp_path / "same")
    [commit] = await first.say(ROOM, BEN, "!draw care")
    same_id = draw_id_of(commit)
    await close(first)
    again = await keyed_bot(tmp_path / "same")
    try:
        again.now = NOW + timedelta(minutes=1)
        [result] = await again.fire(f"lottery:reveal-{same_id}")
        assert f"Draw {same_id} result" in result.body
    finally:
        await close(again)

    first = await keyed_bot(tmp_path / "other")
    [commit] = await first.say(ROOM, BEN, "!draw care")
    other_id = draw_id_of(commit)
    await close(first)
    changed = await keyed_bot(tmp_path / "other", pickle_key="a new pickle key")
    try:
        changed.now = NOW + timedelta(minutes=1)
        [note] = await changed.fire(f"lottery:reveal-{other_id}")
        assert f"Draw {other_id} cannot be revealed" in note.body
        assert "Nothing was drawn: type !draw to draw again." in note.body
        assert note.reply_to == commit.event_id
        before = len(changed.fake.sent)
        await feature(changed)._reveal(other_id)  # a second firing: called off once only
        await changed.flush()
        assert len(changed.fake.sent) == before
        assert await feature(changed).draws.get(other_id) is None
        assert await feature(changed).mandates.current(ROOM) == {}
        changed._ids = itertools.count(100)  # new event ids after the restart
        [fresh] = await changed.say(ROOM, ANA, "!draw care")
        assert "Commitment:" in fresh.body
    finally:
        await close(changed)


async def test_draws_stored_before_seeds_were_sealed_still_reveal_and_verify(tmp_path: Path) -> None:
    # A database as the previous version left it (schema 10): one draw still open, one revealed,
    # both with their seed in the clear and no owning bot recorded.
    people = [ANA, BEN, CHI, DEV]
    seed = bytes(range(32))
    open_inputs = prepare(ROOM, "old0open", people, ["care"], {}, {})
    done_inputs = prepare(ROOM, "old0done", people, ["liaison"], {}, {})
    published = reveal(done_inputs, seed, ["$old-reaction"])
    old = await Database.open(tmp_path / "affinity.db", migrations=shipped_migrations()[:10])
    await old.execute("INSERT INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, 0)", (BOT, ROOM))
    for inputs, state, result in (
        (open_inputs, "committed", None),
        (done_inputs, "revealed", canonical_json(published.to_json()).decode()),
    ):
        await old.execute(
            "INSERT INTO lottery_draw (draw_id, room_id, state, commitment, inputs, seed, "
            "reveal_at, created_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inputs.draw_id,
                ROOM,
                state,
                commitment(inputs, seed),
                canonical_json(inputs.to_json()).decode(),
                seed,
                NOW.timestamp(),
                NOW.timestamp(),
                result,
            ),
        )
    await old.close()

    bot = await keyed_bot(tmp_path)  # the upgrade: migration 011, then the feature starts
    try:
        row = await bot.db.fetchone(
            "SELECT bot, seed, seed_sealed FROM lottery_draw WHERE draw_id = 'old0open'"
        )
        assert row is not None and row["bot"] == BOT
        assert row["seed_sealed"] == 1 and seed not in bytes(row["seed"])  # sealed at start
        assert jobs(bot, "lottery:reveal-") == ["lottery:reveal-old0open"]
        [result] = await bot.fire("lottery:reveal-old0open")
        assert "Draw old0open result" in result.body and seed.hex() in result.body
        revealed = await feature(bot).draws.get("old0open")
        assert revealed is not None and revealed.published is not None
        assert revealed.published.assignment == recompute(open_inputs, seed, [])
        for draw_id in ("old0open", "old0done"):
            [checked] = await bot.say(ROOM, DEV, f"!verify {draw_id}")
            assert f"Draw {draw_id} checks out" in checked.body, checked.body
            shown = PublishedDraw.from_json(json.loads(checked.body.splitlines()[-1]))
            assert verify(shown) and shown.seed == seed
    finally:
        await close(bot)
