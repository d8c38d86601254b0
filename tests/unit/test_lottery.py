"""Role lottery: pool, roles, weights, commit-reveal, fairness, and the documented verifier."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.lottery import (
    WEIGHT_SCALE,
    Assignment,
    DrawInputs,
    LotteryError,
    PastWin,
    PublishedDraw,
    Stream,
    clean_contributions,
    commitment,
    prepare,
    problems,
    recent_wins,
    recompute,
    reveal,
    seed_hash,
    verify,
    weight,
)
from protocols.lottery_room import DEFAULT_ROLES, parse_roles, parse_term, pool, roles_to_draw

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROOM = "!room:a.org"
SEED = bytes(range(32))
DOC = Path(__file__).resolve().parents[2] / "docs" / "lottery-algorithm.md"


def _seed(i: int) -> bytes:
    return hashlib.sha256(f"seed-{i}".encode()).digest()


def _users(n: int) -> list[str]:
    return [f"@u{i}:a.org" for i in range(n)]


def _inputs(
    members: list[str],
    roles: tuple[str, ...] = ("facilitator",),
    held: dict[str, int] | None = None,
    recent: dict[str, dict[str, int]] | None = None,
) -> DrawInputs:
    return prepare(ROOM, "d1", members, roles, held or {}, recent or {})


# --- setup ---------------------------------------------------------------------------------


def test_roles_are_cleaned_and_bad_ones_refused() -> None:
    assert parse_roles(["Facilitator,", "care", "media-liaison"]) == (
        "facilitator",
        "care",
        "media-liaison",
    )
    for words, fragment in [
        ([], "at least one role"),
        (["care", "Care"], "named twice"),
        (["9lives"], "not a role name"),
        ([f"r{i}" for i in range(21)], "At most 20"),
    ]:
        with pytest.raises(LotteryError, match=fragment):
            parse_roles(words)
    assert issubclass(LotteryError, RuleError)


def test_term_is_bounded() -> None:
    assert parse_term("7d") == timedelta(days=7)
    for text, fragment in [("soon", "not a duration"), ("30m", "between"), ("100d", "between")]:
        with pytest.raises(LotteryError, match=fragment):
            parse_term(text)


def test_pool_drops_bots_and_active_stepbacks() -> None:
    members = ["@c:a", "@a:a", "@bot:a", "@b:a", "@d:a", "@a:a"]
    stepped = {"@b:a": None, "@c:a": NOW + timedelta(hours=1), "@d:a": NOW}
    # @d's step-back ends exactly now: back in the pool; @b's has no end.
    assert pool(members, stepped, ["@bot:a"], NOW) == ("@a:a", "@d:a")
    assert pool([], {}, [], NOW) == ()


def test_roles_to_draw_vacant_or_named() -> None:
    roles = DEFAULT_ROLES
    assert roles_to_draw(roles, ["care"]) == ("facilitator", "timekeeper", "liaison", "mediation")
    assert roles_to_draw(roles, ["care"], ["Liaison", "facilitator", "liaison"]) == (
        "liaison",
        "facilitator",
    )
    for held, requested, fragment in [
        (roles, (), "Every role is held"),
        ([], ["chair"], "not a role here"),
        (["care"], ["care"], "release care"),
    ]:
        with pytest.raises(LotteryError, match=fragment):
            roles_to_draw(roles, held, requested)
    with pytest.raises(LotteryError, match="no roles yet"):
        roles_to_draw((), ())


# --- weights -------------------------------------------------------------------------------


def test_weight_table() -> None:
    assert [weight(k) for k in range(5)] == [2520, 1260, 840, 630, 504]
    assert all(WEIGHT_SCALE % (1 + k) == 0 for k in range(10))
    with pytest.raises(ValueError):
        weight(-1)


def test_recent_wins_counts_only_each_roles_last_draws() -> None:
    t = [NOW - timedelta(days=d) for d in range(10)]
    history = [
        PastWin("care", "@a", t[0]),
        PastWin("care", "@a", t[1]),
        PastWin("care", "@b", t[2]),
        PastWin("care", "@c", t[3]),
        PastWin("care", "@a", t[4]),  # fifth most recent: outside the window of 4
        PastWin("facilitator", "@a", t[9]),
    ]
    assert recent_wins(history) == {
        "care": {"@a": 2, "@b": 1, "@c": 1},
        "facilitator": {"@a": 1},
    }
    inputs = _inputs(["@a", "@b", "@d"], ("care",), recent=recent_wins(history))
    assert inputs.weights == {"care": {"@a": 840, "@b": 1260, "@d": 2520}}


def test_prepare_refuses_an_empty_pool_and_canonicalizes() -> None:
    with pytest.raises(LotteryError, match="stepin"):
        _inputs([])
    inputs = _inputs(["@b", "@a", "@b"], held={"@a": 0, "@b": 2, "@gone": 1})
    assert inputs.pool == ("@a", "@b")
    assert inputs.held == {"@b": 2}


# --- stream --------------------------------------------------------------------------------


def test_stream_is_sha256_counter_mode() -> None:
    stream = Stream(b"k")
    for counter in range(3):
        block = hashlib.sha256(b"k" + counter.to_bytes(8, "big")).digest()
        assert stream.next_u64() == int.from_bytes(block[:8], "big")


def test_below_rejects_the_biased_tail() -> None:
    class Fixed(Stream):
        def __init__(self, values: list[int]) -> None:
            super().__init__(b"")
            self.values = values

        def next_u64(self) -> int:
            return self.values.pop(0)

    n = 3  # 2**64 % 3 == 1: the single top value 2**64 - 1 is in the biased tail
    stream = Fixed([2**64 - 1, 2**64 - 2])
    assert stream.below(n) == (2**64 - 2) % 3
    assert stream.values == []


@given(st.binary(min_size=1, max_size=8), st.integers(1, 2**64))
@settings(max_examples=100, deadline=None)
def test_below_is_in_range(key: bytes, n: int) -> None:
    assert 0 <= Stream(key).below(n) < n


# --- commit, reveal, verify ----------------------------------------------------------------


def test_commitment_binds_inputs_and_seed_but_not_contributions() -> None:
    inputs = _inputs(_users(4), ("care", "facilitator"))
    c = commitment(inputs, SEED)
    assert re.fullmatch(r"[0-9a-f]{64}", c)
    assert commitment(inputs, SEED) == c
    assert commitment(inputs, SEED[::-1]) != c
    assert commitment(replace(inputs, roles=("facilitator", "care")), SEED) != c
    assert commitment(replace(inputs, draw_id="d2"), SEED) != c
    assert seed_hash(SEED) == hashlib.sha256(SEED).hexdigest()
    with pytest.raises(ValueError):
        commitment(inputs, b"short")


def test_contributions_change_the_result_but_not_their_order() -> None:
    inputs = _inputs(_users(8), ("care",))
    a = recompute(inputs, SEED, ["$x", "$y"])
    assert recompute(inputs, SEED, ["$y", "$x", "$x"]) == a
    results = {recompute(inputs, SEED, [f"$e{i}"]).picks for i in range(40)}
    assert len(results) > 1  # a contribution the bot cannot know moves the result


def test_contributions_are_bounded() -> None:
    with pytest.raises(LotteryError, match="At most"):
        clean_contributions(str(i) for i in range(201))
    with pytest.raises(LotteryError, match="characters"):
        clean_contributions([""])


def test_published_draw_round_trips_and_verifies() -> None:
    inputs = _inputs(_users(5), ("care", "facilitator"), held={"@u0:a.org": 1})
    published = reveal(inputs, SEED, ["$b", "$a"])
    assert published.contributions == ("$a", "$b")
    through_json = PublishedDraw.from_json(json.loads(json.dumps(published.to_json())))
    assert through_json == published
    assert verify(through_json)
    assert problems(through_json) == []


def test_verify_catches_tampering() -> None:
    inputs = _inputs(_users(5), ("care", "facilitator"))
    published = reveal(inputs, SEED, ["$a"])
    others = [m for m in inputs.pool if m != published.assignment.holder("care")]
    forged = replace(
        published,
        assignment=Assignment("d1", (("care", others[0]), published.assignment.picks[1])),
    )
    assert problems(forged) == ["the published result differs from the recomputed one"]
    other_seed = replace(published, seed=SEED[::-1])
    assert "committed" in problems(other_seed)[0]
    dropped = replace(published, contributions=())
    # Dropping a contribution keeps the commitment but (here) changes the result.
    assert recompute(inputs, SEED, ()) != published.assignment
    assert not verify(dropped)
    broken = replace(published, inputs=replace(inputs, version=3))
    assert "cannot be drawn" in problems(broken)[0]


def test_inputs_from_json_refuses_bad_weights() -> None:
    data = _inputs(_users(3)).to_json()
    data["weights"]["facilitator"]["@u0:a.org"] = 0
    with pytest.raises(LotteryError, match="positive weight"):
        DrawInputs.from_json(data)


# --- fairness ------------------------------------------------------------------------------

members_st = st.lists(st.from_regex(r"@[a-z]{1,4}:x", fullmatch=True), min_size=1, max_size=8, unique=True)
roles_st = st.lists(st.sampled_from(DEFAULT_ROLES), min_size=1, max_size=5, unique=True)


@given(
    members_st,
    roles_st,
    st.dictionaries(st.integers(0, 7), st.integers(0, 3), max_size=8),
    st.binary(min_size=16, max_size=32),
    st.lists(st.text(min_size=1, max_size=5), max_size=5),
)
@settings(max_examples=200, deadline=None)
def test_draw_properties(
    members: list[str],
    roles: list[str],
    held_by_index: dict[int, int],
    seed: bytes,
    contributions: list[str],
) -> None:
    held = {members[i]: n for i, n in held_by_index.items() if i < len(members)}
    inputs = prepare(ROOM, "d", members, roles, held, {})
    result = recompute(inputs, seed, contributions)
    # Every role drawn exactly once, in order, to a pool member.
    assert [r for r, _ in result.picks] == roles
    assert all(h in inputs.pool for _, h in result.picks)
    # Load levelling: each pick went to someone with the fewest roles at that moment, so
    # nobody ends with two more than anyone (counting held roles) unless held counts said so.
    load = {m: held.get(m, 0) for m in inputs.pool}
    for _, holder in result.picks:
        assert load[holder] == min(load.values())
        load[holder] += 1
    won = Counter(h for _, h in result.picks)
    if len(roles) <= sum(1 for m in inputs.pool if held.get(m, 0) == 0):
        assert max(won.values()) == 1  # enough role-less members: one role each
    # Recompute from the published record gives the same.
    assert verify(PublishedDraw.from_json(reveal(inputs, seed, contributions).to_json()))


def test_nobody_gets_two_roles_while_someone_has_none() -> None:
    # u0 already holds a role: the first two of four roles go to u1 and u2; then everyone holds
    # one, and the last two go to two different members: final loads are 1, 2, 2.
    members = _users(3)
    seen_first = set()
    for i in range(50):
        inputs = _inputs(members, DEFAULT_ROLES[:4], held={"@u0:a.org": 1})
        picks = recompute(inputs, _seed(i), []).picks
        assert {picks[0][1], picks[1][1]} == {"@u1:a.org", "@u2:a.org"}
        assert picks[2][1] != picks[3][1]
        load = Counter(h for _, h in picks) + Counter({"@u0:a.org": 1})
        assert sorted(load.values()) == [1, 2, 2]
        seen_first.add(picks[0][1])
    assert len(seen_first) == 2  # and chance still decides who goes first


def test_each_member_gets_a_fair_share_over_many_draws() -> None:
    # 2000 independent draws, 5 members, 1 role, equal weights: each share within 20% +- 5 points
    # (5 points is over 5 standard deviations at n=2000; the seeds are fixed, so no flakes).
    members = _users(5)
    inputs = _inputs(members)
    wins = Counter(recompute(inputs, _seed(i), []).picks[0][1] for i in range(2000))
    for member in members:
        assert abs(wins[member] / 2000 - 0.20) <= 0.05, wins


def test_recent_holders_are_less_likely_by_the_documented_weight() -> None:
    # u0 won the role in 1 of the last draws: weight 1260 against 2520 for the four others,
    # so its chance is 1260 / (1260 + 4 * 2520) = 1/9.
    members = _users(5)
    inputs = _inputs(members, recent={"facilitator": {"@u0:a.org": 1}})
    wins = Counter(recompute(inputs, _seed(i), []).picks[0][1] for i in range(2000))
    assert abs(wins["@u0:a.org"] / 2000 - 1 / 9) <= 0.03, wins
    for member in members[1:]:
        assert abs(wins[member] / 2000 - 2 / 9) <= 0.05, wins


def test_rotation_over_time_spreads_a_role_evenly() -> None:
    # The role drawn weekly for 500 weeks with history feeding back: everyone holds it about
    # equally often, and repeats are rarer than with a plain uniform draw (1/5).
    members = _users(5)
    history: list[PastWin] = []
    repeats = 0
    for week in range(500):
        inputs = _inputs(members, recent=recent_wins(history))
        holder = recompute(inputs, _seed(week), []).picks[0][1]
        if history and history[-1].holder == holder:
            repeats += 1
        history.append(PastWin("facilitator", holder, NOW + timedelta(weeks=week)))
    counts = Counter(w.holder for w in history)
    assert all(abs(c / 500 - 0.2) <= 0.05 for c in counts.values()), counts
    assert repeats / 499 < 0.15


# --- the documented verifier ---------------------------------------------------------------


def _doc_verifier() -> ModuleType:
    text = DOC.read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 1, "the algorithm page holds exactly one Python program"
    code = blocks[0]
    assert len(code.splitlines()) <= 50, "keep the verifier short enough to read"
    module = ModuleType("verify_draw")
    exec(compile(code, str(DOC), "exec"), module.__dict__)  # our own docs
    return module


def test_documented_verifier_matches_recompute(tmp_path: Path) -> None:
    verifier = _doc_verifier()
    for i in range(30):
        members = _users(2 + i % 6)
        inputs = _inputs(
            members,
            DEFAULT_ROLES[: 1 + i % 5],
            held={members[0]: i % 2},
            recent={"care": {members[-1]: i % 3}},
        )
        contributions = [f"$event{i}-{j}" for j in range(i % 4)] + ["$é"]
        published = reveal(inputs, _seed(i), contributions).to_json()
        data = json.loads(json.dumps(published))
        commit, picks, shadows = verifier.recompute(data["inputs"], data["seed"], data["contributions"])
        assert commit == published["commitment"]
        assert picks == published["assignment"]["picks"] and shadows == []


def test_documented_verifier_runs_as_a_program(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)[0]
    script = tmp_path / "verify_draw.py"
    script.write_text(code, "utf-8")
    published = reveal(_inputs(_users(4), ("care", "liaison")), SEED, ["$a"]).to_json()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(published), "utf-8")
    run = subprocess.run(
        [sys.executable, str(script), str(good)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0 and "MATCHES" in run.stdout
    published["contributions"] = ["$b"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(published), "utf-8")
    run = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True, check=False)
    assert run.returncode == 1 and "DOES NOT MATCH" in run.stdout


def test_documented_example_inputs_are_valid() -> None:
    text = DOC.read_text("utf-8")
    example = json.loads(re.findall(r"```json\n(.*?)```", text, re.DOTALL)[0])
    inputs = DrawInputs.from_json(example)
    assert inputs.weights["care"]["@chi:example.org"] == weight(1)
