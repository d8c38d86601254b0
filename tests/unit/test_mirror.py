"""Blind-mirror rules: opening, codes, drafts, threshold, shuffling, delay, rendering."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.mirror import (
    CODE_ALPHABET,
    CODE_LENGTH,
    ConsentRequest,
    MirrorError,
    MirrorRound,
    OpenArgs,
    check_can_reflect,
    check_k,
    decide_close,
    new_code,
    parse_code,
    parse_open_args,
    plan_round,
    release_delay,
    release_order,
)
from protocols.mirror_draft import (
    MAX_ANSWER,
    MAX_REFLECTION,
    PROMPTS,
    Draft,
    DraftStep,
    check_reflection_text,
    compose,
    draft_step,
    start_draft,
)

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ROUND = MirrorRound(
    id=7,
    code="k7m2qx",
    reflecting_room="!a:x.org",
    reflected_room="!b:x.org",
    k=3,
    closes_at=NOW + timedelta(days=3),
    state="open",
)


# --- opening ------------------------------------------------------------------------------


def test_parse_open_args_options_in_any_order() -> None:
    assert parse_open_args(["#b:x.org"]) == OpenArgs("#b:x.org")
    assert parse_open_args(["#b:x.org", "min", "4", "closes", "48h"]) == OpenArgs(
        "#b:x.org", timedelta(hours=48), 4
    )


@pytest.mark.parametrize(
    ("words", "fragment"),
    [
        ([], "Name the room"),
        (["#b:x.org", "min"], "needs a value"),
        (["#b:x.org", "min", "three"], "whole number"),
        (["#b:x.org", "closes", "soon"], "not a duration"),
        (["#b:x.org", "min", "3", "min", "4"], "given twice"),
        (["#b:x.org", "until", "4"], "Unexpected"),
    ],
)
def test_parse_open_args_errors(words: list[str], fragment: str) -> None:
    with pytest.raises(MirrorError, match=fragment):
        parse_open_args(words)


def test_k_must_be_at_least_three() -> None:
    for k in (0, 1, 2):
        with pytest.raises(MirrorError, match="at least 3"):
            check_k(k)
    check_k(3)
    with pytest.raises(MirrorError, match="at least 3"):
        plan_round("!a:x", "!b:x", NOW, timedelta(days=1), 2)


def test_plan_round() -> None:
    request = plan_round("!a:x", "!b:x", NOW, timedelta(hours=48), 4)
    assert request.closes_at == NOW + timedelta(hours=48)
    assert request.k == 4
    with pytest.raises(MirrorError, match="another group"):
        plan_round("!a:x", "!a:x", NOW, timedelta(days=1), 3)
    with pytest.raises(MirrorError, match="at least 10m"):
        plan_round("!a:x", "!b:x", NOW, timedelta(minutes=5), 3)
    with pytest.raises(MirrorError, match="at most 30d"):
        plan_round("!a:x", "!b:x", NOW, timedelta(days=31), 3)


def test_mirror_errors_are_rule_errors() -> None:
    assert issubclass(MirrorError, RuleError)


@given(st.binary(min_size=8, max_size=64))
def test_codes_are_short_unambiguous_and_parse_back(entropy: bytes) -> None:
    code = new_code(entropy)
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(CODE_ALPHABET)
    assert not set(code) & set("01ilo")
    assert parse_code(f"  {code.upper()} ") == code


def test_codes_differ_with_entropy_and_need_enough_of_it() -> None:
    codes = {new_code(random.Random(i).randbytes(16)) for i in range(200)}
    assert len(codes) == 200
    with pytest.raises(ValueError):
        new_code(b"short")


@pytest.mark.parametrize("text", ["", "abc", "k7m2qx9", "k7m2q0", "k7 m2qx"])
def test_bad_codes(text: str) -> None:
    with pytest.raises(MirrorError, match="not a round code"):
        parse_code(text)


def test_check_can_reflect() -> None:
    assert check_can_reflect(ROUND, ROUND.code, NOW) is ROUND
    with pytest.raises(MirrorError, match="No round has the code zzzzzz"):
        check_can_reflect(None, "zzzzzz", NOW)
    with pytest.raises(MirrorError, match="has closed"):
        check_can_reflect(ROUND, ROUND.code, ROUND.closes_at)
    with pytest.raises(MirrorError, match="has closed"):
        check_can_reflect(replace(ROUND, state="closed"), ROUND.code, NOW)


# --- drafts -------------------------------------------------------------------------------


def _answered(*answers: str) -> Draft:
    step = start_draft(ROUND)
    for answer in answers:
        step = draft_step(step.draft, answer)
    return step.draft


def _said(step: DraftStep) -> str:
    from bots.mirror.render import draft_reply

    return draft_reply(step).plain


def test_the_prompts_said_are_the_rules_prompts() -> None:
    from bots.mirror.render import QUESTIONS

    assert [q.msgid for q in QUESTIONS] == [p.question for p in PROMPTS]


def test_draft_walks_prompts_review_submit() -> None:
    step = start_draft(ROUND)
    assert step.kind == "started" and f"(1/3) {PROMPTS[0].question}" in _said(step)
    assert step.draft.stage == "answering"
    step = draft_step(step.draft, "  They held the line calmly.  ")
    assert step.kind == "next" and f"(2/3) {PROMPTS[1].question}" in _said(step)
    step = draft_step(step.draft, "The water\r\nand the songs.")
    assert f"(3/3) {PROMPTS[2].question}" in _said(step)
    step = draft_step(step.draft, "Rotate the stewards.")
    assert step.draft.stage == "review" and step.kind == "review"
    assert step.submit_text is None
    expected = compose(["They held the line calmly.", "The water\nand the songs.", "Rotate the stewards."])
    for part in expected.split("\n\n"):
        assert part in _said(step)  # the draft is shown before submit
    assert "submit" in _said(step)
    done = draft_step(step.draft, "SUBMIT")
    assert done.draft.stage == "submitted"
    assert done.submit_text == expected
    assert expected.startswith("Observed:\nThey held the line calmly.\n\nGrateful for:\n")


def test_cancel_discards_at_any_stage() -> None:
    for draft in (_answered(), _answered("a"), _answered("a", "b", "c")):
        step = draft_step(draft, " Cancel ")
        assert step.draft.stage == "cancelled"
        assert step.draft.answers == ()
        assert step.submit_text is None


def test_restart_empties_the_draft() -> None:
    step = draft_step(_answered("a", "b", "c"), "restart")
    assert step.draft == Draft(ROUND.id, ROUND.code)
    assert step.kind == "restarted" and PROMPTS[0].question in _said(step)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01"])
def test_empty_answers_are_rejected(text: str) -> None:
    draft = _answered("a")
    with pytest.raises(MirrorError, match="empty"):
        draft_step(draft, text)


def test_keywords_out_of_place() -> None:
    with pytest.raises(MirrorError, match="Answer this prompt first"):
        draft_step(_answered("a"), "submit")
    with pytest.raises(MirrorError, match="Reply submit"):
        draft_step(_answered("a", "b", "c"), "more thoughts")
    for finished in ("submitted", "cancelled"):
        with pytest.raises(MirrorError, match="finished"):
            draft_step(replace(_answered(), stage=finished), "hello")  # type: ignore[arg-type]


def test_huge_input_gets_a_clear_error_and_leaves_the_draft() -> None:
    draft = _answered("a")
    with pytest.raises(MirrorError, match=r"102400 characters; each answer can have at most 2000"):
        draft_step(draft, "x" * 102400)
    assert draft_step(draft, "fine").draft.answers == ("a", "fine")


def test_whole_reflection_limit() -> None:
    with pytest.raises(MirrorError, match=f"at most {MAX_REFLECTION}"):
        _answered("x" * MAX_ANSWER, "y" * MAX_ANSWER)
    draft = _answered("x" * MAX_ANSWER, "y" * 1900)  # the third must be short
    with pytest.raises(MirrorError, match=f"at most {MAX_REFLECTION}. Shorten this answer"):
        draft_step(draft, "z" * 100)
    room = MAX_REFLECTION - len(compose(["x" * MAX_ANSWER, "y" * 1900, ""]))
    step = draft_step(draft, "z" * room)
    assert step.draft.stage == "review"
    assert len(compose(step.draft.answers)) == MAX_REFLECTION


@settings(max_examples=60)
@given(st.lists(st.text(max_size=2500), min_size=1, max_size=6))
def test_drafts_never_exceed_limits(messages: list[str]) -> None:
    draft = start_draft(ROUND).draft
    for message in messages:
        try:
            draft = draft_step(draft, message).draft
        except MirrorError:
            continue
        if draft.stage in ("submitted", "cancelled"):
            break
        assert all(0 < len(a) <= MAX_ANSWER for a in draft.answers)
        assert len(compose(draft.answers)) <= MAX_REFLECTION


def test_check_reflection_text() -> None:
    assert check_reflection_text("ok") == "ok"
    with pytest.raises(MirrorError):
        check_reflection_text(" ")
    with pytest.raises(MirrorError):
        check_reflection_text("x" * (MAX_REFLECTION + 1))


# --- close: threshold, delay, shuffle -----------------------------------------------------


@pytest.mark.parametrize(("count", "state"), [(0, "withheld"), (2, "withheld"), (3, "closed"), (9, "closed")])
def test_threshold(count: int, state: str) -> None:
    decision = decide_close(count, 3, NOW, random.Random(1), timedelta(0), timedelta(minutes=10))
    assert decision.state == state
    assert (decision.release_at is None) == (state == "withheld")


@given(st.integers(0, 2**32), st.integers(0, 3600), st.integers(0, 3600))
def test_release_delay_within_range(seed: int, a: int, b: int) -> None:
    low, high = timedelta(seconds=min(a, b)), timedelta(seconds=max(a, b))
    delay = release_delay(random.Random(seed), low, high)
    assert low <= delay <= high


def test_release_delay_is_random_and_checked() -> None:
    low, high = timedelta(seconds=30), timedelta(minutes=10)
    assert len({release_delay(random.Random(s), low, high) for s in range(50)}) > 10
    with pytest.raises(ValueError):
        release_delay(random.Random(0), high, low)


@given(
    st.lists(st.text(min_size=1, max_size=30), min_size=3, max_size=12),
    st.integers(0, 2**32),
    st.randoms(use_true_random=False),
)
def test_release_order_ignores_submission_order(texts: list[str], seed: int, permuter: random.Random) -> None:
    # Any permutation of the submissions gives the very same published order for a given rng:
    # the order is a function of the multiset of texts and the rng, nothing else.
    shuffled = texts[:]
    permuter.shuffle(shuffled)
    first = release_order(texts, random.Random(seed))
    again = release_order(shuffled, random.Random(seed))
    assert first == again
    assert sorted(first) == sorted(texts)


def test_release_order_depends_on_rng() -> None:
    texts = [f"reflection {i}" for i in range(8)]
    orders = {tuple(release_order(texts, random.Random(seed))) for seed in range(30)}
    assert len(orders) > 20
    # Neither submission order nor its reverse is systematically kept.
    assert sum(list(o) == texts for o in orders) <= 1


# -- consent, quotas, eligibility (issue 10) --------------------------------------------------


def _request(**changes: object) -> ConsentRequest:
    base = ConsentRequest(
        1, "k7m2qx", "!group:x", "!kitchen:x", "@mod:x", 3, timedelta(days=2), NOW + timedelta(hours=24)
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("counts", "refusal"),
    [
        ((0, 0, 0), None),
        ((1, 1, 1), None),
        ((2, 0, 0), "This room already has 2"),
        ((0, 2, 0), "That room already has 2"),
        ((0, 0, 2), "You already have 2"),
        ((5, 5, 5), "This room already has 5"),
    ],
)
def test_quota_per_room_and_opener(counts: tuple[int, int, int], refusal: str | None) -> None:
    from protocols.mirror import MirrorError, check_quota

    if refusal is None:
        check_quota(*counts)
    else:
        with pytest.raises(MirrorError, match=refusal):
            check_quota(*counts)


def test_a_request_is_found_only_in_its_room_and_before_it_lapses() -> None:
    from protocols.mirror import MirrorError, check_request

    request = _request()
    assert check_request(request, "k7m2qx", "!kitchen:x", NOW) == request
    # Unknown, asked about in another room, or lapsed: the same answer, naming no room.
    answers = set()
    for found, room, when in [
        (None, "!kitchen:x", NOW),
        (request, "!group:x", NOW),
        (request, "!elsewhere:x", NOW),
        (request, "!kitchen:x", NOW + timedelta(hours=24)),
    ]:
        with pytest.raises(MirrorError) as refused:
            check_request(found, "k7m2qx", room, when)
        answers.add(str(refused.value))
        assert "kitchen" not in str(refused.value) and "group" not in str(refused.value)
    assert len(answers) == 1
