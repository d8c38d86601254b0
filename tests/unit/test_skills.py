"""Tier 1: skill normalisation, asks meeting offers, consent before names, roles opened by
skills, and the ledger of gains' rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.gains import (
    ANONYMOUS_NAME,
    GainError,
    RoomGains,
    categories,
    check_category,
    check_share,
    check_text,
    tally,
)
from protocols.skills import (
    DECLINED,
    INTRODUCE,
    WAITING,
    Entry,
    Match,
    SkillError,
    Teachers,
    answer,
    board,
    check_note,
    matches_for,
    normalise_skill,
    role_pools,
    skill_and_note,
    suggestions,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


@pytest.mark.parametrize(
    ("typed", "tag"),
    [
        ("first aid", "first-aid"),
        ("First Aid", "first-aid"),
        ("  first   AIDS ", "first-aid"),
        ("first_aid", "first-aid"),
        ("first-aid", "first-aid"),
        ("Secure comms", "secure-comms"),
        ("secure-comms", "secure-comms"),
        ("bookkeepings", "bookkeeping"),
        ("Facilitating meetings", "facilitating-meeting"),
        ("batteries", "battery"),
        ("boxes", "box"),
        ("switches", "switch"),
        ("press", "press"),
        ("logistics", "logistics"),
        ("kids", "kid"),
        ("gas", "gas"),
        ("Café cooking!", "café-cooking"),
        ("legal/observers", "legal-observer"),
    ],
)
def test_normalisation(typed: str, tag: str) -> None:
    assert normalise_skill(typed) == tag


@pytest.mark.parametrize("typed", ["", "   ", "---", "!!!", "a" * 41])
def test_no_skill_or_too_long_a_skill_is_refused(typed: str) -> None:
    with pytest.raises(SkillError):
        normalise_skill(typed)


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=8)


@given(st.lists(words, min_size=1, max_size=3))
def test_normalising_is_idempotent_and_ignores_case_and_spacing(parts: list[str]) -> None:
    typed = " ".join(parts)
    tag = normalise_skill(typed)
    assert normalise_skill(tag) == tag
    assert normalise_skill("  " + "   ".join(p.upper() for p in parts) + " ") == tag
    assert normalise_skill("_".join(parts)) == tag
    assert " " not in tag and tag == tag.lower()


@given(words.filter(lambda w: not w.endswith(("s", "y", "x", "ch", "sh", "z", "i", "u", "ie"))))
def test_a_plain_plural_meets_its_singular(word: str) -> None:
    """(Left out: words whose s-plural reads as another rule: -is/-us stay, -ies becomes -y.)"""
    assert normalise_skill(word + "s") == normalise_skill(word)


@pytest.mark.parametrize(
    ("first", "rest", "known", "expected"),
    [
        ("first", "aid: weekends only", [], ("first-aid", "weekends only")),
        ("Secure", "comms tools: for the union", [], ("secure-comms-tool", "for the union")),
        ("First", "Aids:", [], ("first-aid", None)),
        ("first", "aid weekends", ["first-aid"], ("first-aid", "weekends")),
        ("first", "aid kits for demos", ["first-aid", "first-aid-kit"], ("first-aid-kit", "for demos")),
        ("first", "aid weekends", [], ("first", "aid weekends")),
        ("cooking:", "weekends", [], ("cooking", "weekends")),
        ("cooking", "18:00 on fridays", [], ("cooking", "18:00 on fridays")),  # a time, not a colon
        ("cooking", "for 20 people: evenings", [], ("cooking", "for 20 people: evenings")),  # too long
        ("cooking", None, [], ("cooking", None)),
    ],
)
def test_a_skill_of_several_words_ends_at_a_colon_or_is_known(
    first: str, rest: str | None, known: list[str], expected: tuple[str, str | None]
) -> None:
    assert skill_and_note(first, rest, known) == expected


def test_a_skill_and_note_with_no_skill_is_refused() -> None:
    with pytest.raises(SkillError, match="Name a skill"):
        skill_and_note("---", "--: a note", [])


def test_notes() -> None:
    assert check_note(None) is None and check_note("   ") is None
    assert check_note(" evenings \n only ") == "evenings only"
    with pytest.raises(SkillError, match="5,000 characters"):
        check_note("x" * 5_000)


def test_suggestions_offer_close_known_tags() -> None:
    assert suggestions("first-ade", ["first-aid", "cooking"]) == ["first-aid"]
    assert suggestions("first-aid", ["first-aid"]) == []


def _entry(i: int, kind: str, skill: str, user: str, *, minutes: int = 0, expired: bool = False) -> Entry:
    created = NOW + timedelta(minutes=minutes)
    return Entry(i, kind, skill, user, None, created, NOW if expired else LATER)  # type: ignore[arg-type]


def test_an_ask_meets_offers_of_others_newest_first() -> None:
    ask = _entry(10, "ask", "first-aid", "@ana", minutes=10)
    others = [
        _entry(1, "offer", "first-aid", "@ben", minutes=1),
        _entry(2, "offer", "first-aid", "@chi", minutes=2),
        _entry(3, "offer", "first-aid", "@ben", minutes=3),  # Ben's second offer: one match with Ben
        _entry(4, "offer", "cooking", "@dev", minutes=4),  # another skill
        _entry(5, "ask", "first-aid", "@eve", minutes=5),  # another ask
        _entry(6, "offer", "first-aid", "@ana", minutes=6),  # her own offer
        _entry(7, "offer", "first-aid", "@fay", minutes=7, expired=True),
        ask,
    ]
    pairs = matches_for(ask, others, [], NOW + timedelta(minutes=11))
    assert [(a.id, o.id) for a, o in pairs] == [(10, 3), (10, 2)]
    assert [(a.id, o.id) for a, o in matches_for(ask, others, [(10, 3)], NOW)] == [(10, 2), (10, 1)]
    offer = _entry(11, "offer", "first-aid", "@gus", minutes=11)
    assert [(a.id, o.id) for a, o in matches_for(offer, [*others, offer], [], NOW)] == [(10, 11), (5, 11)]


def test_matches_are_capped() -> None:
    ask = _entry(100, "ask", "cooking", "@ana")
    offers = [_entry(i, "offer", "cooking", f"@p{i}") for i in range(10)]
    assert len(matches_for(ask, offers, [], NOW, limit=3)) == 3


def test_the_board_counts_open_entries() -> None:
    entries = [
        _entry(1, "offer", "cooking", "@a"),
        _entry(2, "ask", "cooking", "@b"),
        _entry(3, "offer", "cooking", "@c"),
        _entry(4, "ask", "first-aid", "@d"),
        _entry(5, "ask", "first-aid", "@e", expired=True),
    ]
    lines = board(entries, NOW + timedelta(seconds=1))
    assert [(b.skill, b.offers, b.asks) for b in lines] == [("cooking", 2, 1), ("first-aid", 0, 1)]


def test_consent_introduces_only_after_two_yeses() -> None:
    match = Match(1, "cooking", "@ana", "@ben")
    assert match.outcome == WAITING
    one = answer(match, "@ana", True)
    assert one.outcome == WAITING
    both = answer(one, "@ben", True)
    assert both.outcome == INTRODUCE and both.other("@ana") == "@ben"
    with pytest.raises(SkillError, match="already settled"):
        answer(both, "@ben", False)
    with pytest.raises(SkillError, match="not yours"):
        answer(match, "@eve", True)


@given(st.lists(st.tuples(st.sampled_from(["@ana", "@ben"]), st.booleans()), min_size=1, max_size=4))
def test_a_no_by_either_side_settles_the_match_as_declined(answers: list[tuple[str, bool]]) -> None:
    match = Match(1, "cooking", "@ana", "@ben")
    for who, yes in answers:
        if match.outcome != WAITING:
            break
        match = answer(match, who, yes)
    said_no = match.asker_yes is False or match.offerer_yes is False
    assert (match.outcome == DECLINED) == said_no
    assert (match.outcome == INTRODUCE) == (match.asker_yes is True and match.offerer_yes is True)


def test_role_pools_keep_only_holders_and_explain_an_empty_one() -> None:
    pool = ["@ana", "@ben", "@chi"]
    required = {"care": "first-aid", "liaison": "secure-comms"}
    holders = {"first-aid": ["@ben", "@away"], "secure-comms": ["@chi", "@ana"]}
    assert role_pools(pool, ["care", "liaison", "timekeeper"], required, holders) == {
        "care": ("@ben",),
        "liaison": ("@ana", "@chi"),
    }
    assert role_pools(pool, ["timekeeper"], required, holders) == {}
    teachers = {"first-aid": Teachers(("@away",), ("@dev",))}
    with pytest.raises(SkillError) as refused:
        role_pools(pool, ["care"], required, {"first-aid": ["@away"]}, teachers)
    assert "Nobody in the pool holds first-aid, which care requires" in str(refused.value)
    assert "Who could teach it: @away, @dev." in str(refused.value) and "Nothing was drawn" in str(
        refused.value
    )
    with pytest.raises(SkillError, match="!ask first-aid"):
        role_pools(pool, ["care"], required, {})


# --- the ledger of gains -------------------------------------------------------------------


def test_categories_are_shipped_and_extensible() -> None:
    assert categories()[:3] == ("kitchen", "cooperative", "media") and "secure-comms" in categories()
    assert categories(["land", "kitchen"])[-1] == "land" and categories(["land"]).count("kitchen") == 1
    with pytest.raises(ValueError, match="not a category name"):
        categories(["Bad Name"])
    assert check_category(" Kitchen ", categories()) == "kitchen"
    with pytest.raises(GainError, match="'turnout' is not a category"):
        check_category("turnout", categories())


def test_gain_texts_and_share_modes() -> None:
    assert check_text("  a  free\nkitchen ") == "a free kitchen"
    for bad in ("", "   ", "x" * 5_000):
        with pytest.raises(GainError):
            check_text(bad)
    assert check_share("Named") == "named"
    with pytest.raises(GainError):
        check_share("public")


def test_the_tally_counts_every_room_and_shows_only_shared_texts() -> None:
    rooms = [
        RoomGains("!a", "Lyon", "named", {"kitchen": 2, "space": 1}, [("kitchen", "soup")]),
        RoomGains("!b", "Leeds", "anonymous", {"kitchen": 1, "land": 1}, [("land", "garden")]),
        RoomGains("!c", "Quiet", "counts", {"fund": 3}, [("fund", "secret fund")]),
        RoomGains("!d", "Empty", "named", {}, []),
    ]
    result = tally(rooms, categories())
    assert list(result.counts.items()) == [("kitchen", 3), ("space", 1), ("fund", 3), ("land", 1)]
    assert result.shared == [("Lyon", "kitchen", "soup"), (ANONYMOUS_NAME, "land", "garden")]
    assert result.rooms == 4 and result.rooms_with_gains == 3
