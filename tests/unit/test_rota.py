"""Pure tests of care rotas: fairness, aways and step-backs, swaps and takes, flags, forgetting."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.recurrence import AfterGathering, Recurrence, WeeklyOn, following
from protocols.rota import (
    Exchanged,
    Rota,
    RotaError,
    Taken,
    commit,
    counts_from_history,
    due_flags,
    due_reminders,
    eligible,
    fold_history,
    forget_member,
    join,
    leave,
    levels,
    mark_flagged,
    mark_reminded,
    new_rota,
    offer,
    open_offers,
    parse_rota_spec,
    release,
    resize,
    set_away,
    take,
    turn_counts,
    upcoming,
    withdraw,
)
from protocols.schedule import Weekly

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday
WEEKLY = Recurrence(WeeklyOn(1), time(18, 0), BERLIN, date(2026, 12, 1))  # tuesdays 18:00
NOBODY: dict[str, datetime | None] = {}
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def people(n: int, prefix: str = "m") -> list[str]:
    return [f"@{prefix}{i}:example.org" for i in range(n)]


def make(members: list[str], size: int = 1, seed: int = 1) -> Rota:
    rota = new_rota("meals", WEEKLY, size, members, random.Random(seed), NOW)
    for member in members:
        rota = join(rota, member)
    return rota


def local_day(turn_at: datetime) -> date:
    return turn_at.astimezone(BERLIN).date()


# --- fairness -----------------------------------------------------------------------------


def test_nobody_takes_a_second_turn_while_someone_has_had_none() -> None:
    members = people(5)
    rota, turns = commit(make(members, size=2), NOW, 5, NOBODY)
    holders = [h for t in turns for h in t.holders]
    first_five = holders[:5]  # the first 2.5 turns
    assert len(set(first_five)) == 5
    assert set(turn_counts(rota).values()) == {2}  # 10 places among 5


def test_turns_land_on_the_recurrence_in_order() -> None:
    _, turns = commit(make(people(3)), NOW, 4, NOBODY)
    assert [local_day(t.at) for t in turns] == [
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 15),
        date(2026, 12, 22),
    ]
    assert [t.number for t in turns] == [1, 2, 3, 4]


def test_ties_depend_on_the_seed_only() -> None:
    a = commit(make(people(6), seed=1), NOW, 6, NOBODY)[1]
    b = commit(make(people(6), seed=1), NOW, 6, NOBODY)[1]
    c = commit(make(people(6), seed=2), NOW, 6, NOBODY)[1]
    assert a == b
    assert [t.holders for t in a] != [t.holders for t in c]


def test_upcoming_is_deterministic_and_what_commit_then_gives() -> None:
    rota, _ = commit(make(people(4)), NOW, 2, NOBODY)
    shown = upcoming(rota, NOW, 6, NOBODY)
    assert shown == upcoming(rota, NOW, 6, NOBODY)
    assert [p.given for p in shown] == [True, True, False, False, False, False]
    later, _ = commit(rota, NOW, 6, NOBODY)
    assert [p.turn for p in shown] == [t for t in later.turns if t.at > NOW]


def test_an_away_member_is_skipped_and_not_counted_against() -> None:
    members = people(3)
    away = members[0]
    rota, _ = commit(make(members), NOW, 1, NOBODY)
    rota, _ = set_away(rota, away, NOW + 5 * WEEK, NOW, NOBODY)
    rota, _ = commit(rota, NOW, 5, NOBODY)
    assert all(away not in t.holders for t in rota.turns if t.at < NOW + 5 * WEEK)
    # Back: counted at the level of those who stayed, so not given the missed turns all at once.
    back_at = NOW + 5 * WEEK
    rota, _ = commit(rota, back_at, 6, NOBODY)
    # The five turns went 2 and 3 to the others; the one back is credited 2, not 0, so it
    # takes its share of the next six turns (2 or 3), not the first four of them.
    assert rota.credit[away] == 2
    mine = [t for t in rota.turns if t.at > back_at and away in t.holders]
    assert 2 <= len(mine) <= 3
    assert max(levels(rota).values()) - min(levels(rota).values()) <= 1


def test_away_releases_a_turn_already_given() -> None:
    members = people(3)
    rota, turns = commit(make(members), NOW, 3, NOBODY)
    holder = turns[1].holders[0]
    rota, changed = set_away(rota, holder, turns[1].at + DAY, NOW, NOBODY)
    assert [t.number for t in changed] == [2]
    assert holder not in changed[0].holders and len(changed[0].holders) == 1


def test_a_stepped_back_member_is_skipped() -> None:
    members = people(3)
    stepped = {members[1]: None}
    _, turns = commit(make(members), NOW, 6, stepped)
    assert all(members[1] not in t.holders for t in turns)
    until = {members[1]: NOW + 2 * WEEK}  # a step-back with an end: eligible after it
    _, turns = commit(make(members), NOW, 6, until)
    assert any(members[1] in t.holders for t in turns if t.at >= NOW + 2 * WEEK)
    assert all(members[1] not in t.holders for t in turns if t.at < NOW + 2 * WEEK)


def test_a_newcomer_starts_at_the_level_of_those_who_stayed() -> None:
    """Turns done are no newcomer's debt: they start at the level of those who stayed, counting
    what those did, and share the turns given ahead but not yet done."""
    members = people(3)
    rota, _ = commit(make(members), NOW, 9, NOBODY)  # three turns each, all ahead
    newcomer = "@new:example.org"
    rota = join(rota, newcomer)
    rota, _ = commit(rota, NOW, 9, NOBODY)
    counts = turn_counts(rota)
    assert sorted(counts[m] for m in [*members, newcomer]) == [2, 2, 2, 3]
    # Once the first round is done, a later newcomer is raised to its level (a credit, not turns).
    later = NOW + 10 * WEEK
    rota, _ = commit(rota, later, 4, NOBODY)
    second = "@second:example.org"
    rota, _ = commit(join(rota, second), later, 5, NOBODY)
    assert turn_counts(rota)[second] == 1 and levels(rota)[second] >= 3


def test_a_turn_short_of_people_is_flagged_then_filled_when_someone_joins() -> None:
    members = people(2)
    rota = new_rota("meals", WEEKLY, 3, [*members, "@c:example.org"], random.Random(1), NOW)
    for member in members:
        rota = join(rota, member)
    rota, turns = commit(rota, NOW, 1, NOBODY)
    assert len(turns[0].holders) == 2
    flags = due_flags(rota, turns[0].at - DAY, lead=2 * DAY)
    assert [(f.turn.number, f.short) for f in flags] == [(1, 1)]
    rota = join(rota, "@c:example.org")
    rota, changed = commit(rota, NOW, 1, NOBODY)
    assert [len(t.holders) for t in changed] == [3]


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[int, int, int, int, int, list[tuple[str, int, int, int]]]:
    steady = draw(st.integers(2, 7))
    others = draw(st.integers(0, 4))
    # Fewer than the members present throughout: when a turn needs every one of them, each
    # does every turn and their counts differ by what happened before, not by any choice.
    size = draw(st.integers(1, steady - 1))
    ahead = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["away", "stepback", "stepin", "join", "leave", "offer", "take", "wait"]),
                st.integers(0, 20),
                st.integers(0, 20),
                st.integers(1, 40),
            ),
            max_size=50,
        )
    )
    return steady, others, size, ahead, seed, ops


@given(scenarios())
@settings(max_examples=150, deadline=None)
def test_fairness_holds_over_pools_aways_and_swaps(
    scenario: tuple[int, int, int, int, int, list[tuple[str, int, int, int]]],
) -> None:
    """Among members present throughout, turns given (done and ahead) differ by at most one,
    whatever the others do (come and go, go away, step back and in) and whoever offers or
    takes turns, with turns given 1 to 5 ahead."""
    replay(scenario)


def replay(scenario: tuple[int, int, int, int, int, list[tuple[str, int, int, int]]]) -> None:
    """Run a scenario, checking fairness and the shape of every turn after each step."""
    steady_n, others_n, size, ahead, seed, ops = scenario
    steady, others = people(steady_n, "s"), people(others_n, "o")
    everyone = steady + others
    rng = random.Random(seed)
    rota = new_rota("care", WEEKLY, size, everyone, random.Random(seed), NOW)
    for member in steady:
        rota = join(rota, member)
    now = NOW
    stepped: dict[str, datetime | None] = {}
    for kind, a, b, hours in ops:
        before = rota
        try:
            if kind == "away" and others:
                until = now + timedelta(hours=hours * 12)
                rota, _ = set_away(rota, others[a % len(others)], until, now, stepped)
            elif kind == "stepback" and others:
                # As the runtime does on !stepback: record it, then free the turns it covers.
                member = others[a % len(others)]
                end = None if b % 3 == 0 else now + timedelta(hours=hours * 12)
                stepped[member] = end
                rota, _ = release(rota, member, now, end, stepped)
            elif kind == "join" and others:
                rota = join(rota, others[a % len(others)])
            elif kind == "leave" and others:
                rota, _ = leave(rota, others[a % len(others)], now, stepped)
            elif kind == "offer":
                given = [t for t in rota.turns if t.at > now and t.holders]
                if given:
                    turn = given[a % len(given)]
                    holder = turn.holders[b % len(turn.holders)]
                    rota, _ = offer(rota, holder, local_day(turn.at), now)
            elif kind == "take":
                offers = [(t, g) for t in rota.turns if t.at > now for g in t.offered]
                if offers:
                    turn, giver = offers[a % len(offers)]
                    taker = rng.choice(everyone)
                    rota, _ = take(rota, turn.number, giver, taker, now, stepped)
            elif kind == "stepin" and others:
                stepped.pop(others[a % len(others)], None)
            else:
                now += timedelta(hours=hours * 6)
        except RotaError:
            assert rota == before  # a refusal changes nothing
        rota, _ = commit(rota, now, ahead, stepped)
        counts = turn_counts(rota)
        spread = max(counts[m] for m in steady) - min(counts[m] for m in steady)
        assert spread <= 1, (counts, steady)
        for turn in rota.turns:
            assert len(set(turn.holders)) == len(turn.holders) <= size
            assert set(turn.offered) <= set(turn.holders)
            if turn.at > now:  # nobody holds a turn ahead while away or stepped back then
                assert set(turn.holders) <= eligible(rota, turn.at, stepped)


def test_a_place_freed_near_moves_along_the_turns_ahead() -> None:
    """Found by a search over scenarios with the chain hand-over switched off (then it fails):
    six present throughout, turns of five given three ahead, and others who join and step back.
    A place freed in a near turn can only go to someone already high; places then move along a
    chain of turns ahead so the spread stays at one."""
    replay(
        (
            6,
            4,
            5,
            3,
            155,
            [
                ("stepback", 16, 1, 40),
                ("join", 3, 3, 28),
                ("wait", 1, 0, 40),
                ("wait", 1, 5, 10),
                ("wait", 12, 11, 30),
                ("join", 6, 7, 28),
                ("wait", 9, 3, 39),
                ("stepback", 7, 0, 20),
            ],
        )
    )


# --- swaps and takes ----------------------------------------------------------------------


def _two_turns() -> tuple[Rota, list[str]]:
    members = people(3)
    rota, _ = commit(make(members), NOW, 3, NOBODY)
    return rota, members


def test_offer_and_take_moves_the_turn_and_its_count() -> None:
    rota, _ = commit(make(people(3)), NOW, 1, NOBODY)
    first = rota.turns[0]
    giver = first.holders[0]
    rota, offered = offer(rota, giver, local_day(first.at), NOW)
    assert offered.offered == (giver,)
    taker = next(m for m in rota.pool if m != giver)
    rota, result = take(rota, first.number, giver, taker, NOW, NOBODY)
    assert isinstance(result, Taken) and result.turn.holders == (taker,)
    assert turn_counts(rota)[taker] == 1 and turn_counts(rota)[giver] == 0
    assert result.turn.offered == ()


def test_a_take_that_would_break_fairness_becomes_an_exchange() -> None:
    rota, _ = _two_turns()  # three turns, one each
    first, second = rota.turns[0], rota.turns[1]
    giver, taker = first.holders[0], second.holders[0]
    rota, _ = offer(rota, giver, local_day(first.at), NOW)
    rota, result = take(rota, first.number, giver, taker, NOW, NOBODY)
    assert isinstance(result, Exchanged)
    assert result.turn.holders == (taker,) and result.other.holders == (giver,)
    assert set(turn_counts(rota).values()) == {1}


def test_a_take_refused_without_a_turn_to_exchange_changes_nothing() -> None:
    members = people(2)
    rota, _ = commit(make(members), NOW, 2, NOBODY)  # one turn each
    rota = fold_history(rota, NOW + 2 * DAY)  # the first is done and folded into counts
    second = rota.turns[0]
    giver = second.holders[0]
    taker = next(m for m in members if m != giver)
    rota, _ = offer(rota, giver, local_day(second.at), NOW + 2 * DAY)
    before = rota
    with pytest.raises(RotaError, match="two turns ahead"):
        take(rota, second.number, giver, taker, NOW + 2 * DAY, NOBODY)
    assert rota == before


def test_offering_a_turn_that_is_not_yours_is_refused() -> None:
    rota, members = _two_turns()
    first = rota.turns[0]
    other = next(m for m in members if m not in first.holders)
    before = rota
    with pytest.raises(RotaError, match="not yours"):
        offer(rota, other, local_day(first.at), NOW)
    assert rota == before


@pytest.mark.parametrize(
    ("day", "message"),
    [(date(2026, 11, 24), "in the past"), (date(2026, 12, 2), "no meals turn ahead")],
)
def test_offering_a_day_without_a_turn_ahead_is_refused(day: date, message: str) -> None:
    rota, _ = _two_turns()
    before = rota
    with pytest.raises(RotaError, match=message):
        offer(rota, rota.turns[0].holders[0], day, NOW)
    assert rota == before


def test_a_turn_that_passed_cannot_be_offered_or_taken() -> None:
    rota, _ = _two_turns()
    first = rota.turns[0]
    giver = first.holders[0]
    rota, _ = offer(rota, giver, local_day(first.at), NOW)
    after = first.at + timedelta(minutes=1)
    with pytest.raises(RotaError, match="no meals turn ahead"):
        offer(rota, giver, local_day(first.at), after)
    with pytest.raises(RotaError, match="has passed"):
        take(rota, first.number, giver, next(m for m in rota.pool if m != giver), after, NOBODY)


@pytest.mark.parametrize("who", ["giver", "outsider", "away"])
def test_takes_that_are_refused(who: str) -> None:
    rota, members = _two_turns()
    first = rota.turns[0]
    giver = first.holders[0]
    rota, _ = offer(rota, giver, local_day(first.at), NOW)
    taker = next(m for m in members if m != giver)
    if who == "giver":
        taker, message = giver, "your own turn"
    elif who == "outsider":
        taker, message = "@stranger:example.org", "Join the meals rota first"
    else:
        rota, _ = set_away(rota, taker, first.at + DAY, NOW, NOBODY)
        message = "away or stepped back"
    before = rota
    with pytest.raises(RotaError, match=message):
        take(rota, first.number, giver, taker, NOW, NOBODY)
    assert rota == before


def test_open_offers_list_what_can_be_taken() -> None:
    rota, _ = _two_turns()
    first, third = rota.turns[0], rota.turns[2]
    rota, _ = offer(rota, third.holders[0], local_day(third.at), NOW)
    rota, _ = offer(rota, first.holders[0], local_day(first.at), NOW)
    assert [(t.number, g) for t, g in open_offers(rota, NOW)] == [
        (1, first.holders[0]),
        (3, third.holders[0]),
    ]
    assert [t.number for t, _ in open_offers(rota, first.at)] == [3]  # the first has passed


def test_a_rota_after_each_gathering_turns_with_the_gatherings() -> None:
    rec = Recurrence(AfterGathering(), None, BERLIN, date(2026, 12, 1))
    rota = new_rota("decompression", rec, 1, people(3), random.Random(3), NOW)
    for member in people(3):
        rota = join(rota, member)
    gatherings = following([Weekly(4, time(19, 0), BERLIN)])  # fridays 19:00
    shown = upcoming(rota, NOW, 3, NOBODY, gatherings)
    assert [p.turn.at.astimezone(BERLIN).replace(tzinfo=None) for p in shown] == [
        datetime(2026, 12, 4, 19, 0),
        datetime(2026, 12, 11, 19, 0),
        datetime(2026, 12, 18, 19, 0),
    ]
    assert len({p.turn.holders for p in shown}) == 3
    with pytest.raises(RuleError, match="needs a gathering"):
        commit(rota, NOW, 1, NOBODY)


def test_withdraw_keeps_the_turn() -> None:
    rota, _ = _two_turns()
    first = rota.turns[0]
    giver = first.holders[0]
    rota, _ = offer(rota, giver, local_day(first.at), NOW)
    rota = withdraw(rota, giver, first.number)
    assert rota.turns[0].offered == ()
    with pytest.raises(RotaError, match="not offered"):
        withdraw(rota, giver, first.number)


# --- reminders and flags ------------------------------------------------------------------


def test_reminders_follow_the_holder() -> None:
    rota, _ = commit(make(people(3)), NOW, 2, NOBODY)
    first = rota.turns[0]
    assert due_reminders(rota, NOW, lead=timedelta(hours=1)) == []
    due = due_reminders(rota, first.at - timedelta(minutes=30), lead=timedelta(hours=1))
    assert due == [(first, first.holders[0])]
    rota = mark_reminded(rota, first.number, first.holders[0])
    assert due_reminders(rota, first.at - timedelta(minutes=30), lead=timedelta(hours=1)) == []
    giver = first.holders[0]
    rota, _ = offer(rota, giver, local_day(first.at), NOW)
    taker = next(m for m in rota.pool if m not in (giver, *rota.turns[1].holders))
    rota, _ = take(rota, first.number, giver, taker, NOW, NOBODY)
    due = due_reminders(rota, first.at - timedelta(minutes=30), lead=timedelta(hours=1))
    assert [holder for _, holder in due] == [taker]


def test_an_offer_nobody_took_is_flagged_once_ahead_of_time() -> None:
    rota, _ = commit(make(people(3)), NOW, 2, NOBODY)
    second = rota.turns[1]
    rota, _ = offer(rota, second.holders[0], local_day(second.at), NOW)
    lead = 2 * DAY
    assert due_flags(rota, second.at - 3 * DAY, lead) == []
    flags = due_flags(rota, second.at - DAY, lead)
    assert [(f.turn.number, f.offered, f.short) for f in flags] == [(second.number, second.holders, 0)]
    rota = mark_flagged(rota, second.number)
    assert due_flags(rota, second.at - DAY, lead) == []


# --- bad input ----------------------------------------------------------------------------


def test_spec_parses_size_and_recurrence() -> None:
    rec, size, remind = parse_rota_spec("every 2 weeks on saturday at 10:00 size 2", BERLIN, NOW)
    assert size == 2 and rec.pattern == WeeklyOn(5, 2) and rec.at == time(10, 0) and remind is None
    assert parse_rota_spec("every tuesday", BERLIN, NOW).size == 1


def test_spec_parses_a_reminder_lead_anywhere_after_the_recurrence() -> None:
    spec = parse_rota_spec("every tuesday at 18:00 remind 2h size 2 until 2027-06-30", BERLIN, NOW)
    assert spec.remind == timedelta(hours=2) and spec.size == 2
    assert (
        spec.recurrence == parse_rota_spec("every tuesday at 18:00 until 2027-06-30", BERLIN, NOW).recurrence
    )
    rota = new_rota("meals", spec.recurrence, 1, people(2), random.Random(1), NOW, spec.remind)
    assert rota.remind == timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("whenever size 2", "not a recurrence"),
        ("every tuesday size", "needs a number"),
        ("every tuesday size 0", "not a size"),
        ("every tuesday size two", "not a size"),
        ("every tuesday size 2 size 3", "given twice"),
        ("every tuesday remind", "needs a duration"),
        ("every tuesday remind soon", "not a duration"),
        ("every tuesday remind 0h", "not a duration"),
        ("every tuesday remind 3w", "at most 2w before a turn"),
        ("every tuesday remind 1h remind 2h", "given twice"),
        ("every tuesday until 2020-01-01", "in the past"),
    ],
)
def test_spec_refuses_nonsense(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_rota_spec(text, BERLIN, NOW)


def test_a_size_larger_than_the_pool_is_refused() -> None:
    with pytest.raises(RotaError, match="more than the pool can give"):
        new_rota("meals", WEEKLY, 4, people(3), random.Random(1), NOW)
    rota = make(people(3))
    before = rota
    with pytest.raises(RotaError, match="Choose size 3 or less"):
        resize(rota, 4, people(3))
    assert rota == before and resize(rota, 3, people(3)).size == 3


@pytest.mark.parametrize("name", ["", "Meals!", "9lives", "a" * 40, "two words"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(RotaError, match="not a rota name"):
        new_rota(name, WEEKLY, 1, people(2), random.Random(1), NOW)


def test_away_in_the_past_and_pool_errors_change_nothing() -> None:
    rota = make(people(2))
    before = rota
    with pytest.raises(RotaError, match="in the past"):
        set_away(rota, people(2)[0], NOW - DAY, NOW, NOBODY)
    with pytest.raises(RotaError, match="not in the meals rota"):
        set_away(rota, "@x:example.org", NOW + DAY, NOW, NOBODY)
    with pytest.raises(RotaError, match="already in"):
        join(rota, people(2)[0])
    with pytest.raises(RotaError, match="nothing to leave"):
        leave(rota, "@x:example.org", NOW, NOBODY)
    assert rota == before


# --- forgetting ---------------------------------------------------------------------------


def test_fold_history_keeps_counts_and_forgets_who_did_which() -> None:
    members = people(4)
    rota, _ = commit(make(members, size=2), NOW, 6, NOBODY)
    counts = turn_counts(rota)
    cutoff = NOW + 3 * WEEK
    folded = fold_history(rota, cutoff)
    assert turn_counts(folded) == counts
    assert all(t.at >= cutoff for t in folded.turns)
    assert sum(folded.done.values()) == 2 * len([t for t in rota.turns if t.at < cutoff])
    assert (
        counts_from_history(folded.turns) + counts_from_history(t for t in rota.turns if t.at < cutoff)
        == counts
    )
    assert fold_history(folded, cutoff) == folded
    # Fairness carries on from the counts alone.
    later, _ = commit(folded, NOW, 10, NOBODY)
    assert max(turn_counts(later).values()) - min(turn_counts(later).values()) <= 1


def test_forget_member_removes_every_trace_and_gives_their_turns_away() -> None:
    members = people(3)
    rota, _ = commit(make(members), NOW, 6, NOBODY)
    rota = fold_history(rota, NOW + 2 * WEEK)
    gone = members[0]
    rota, changed = forget_member(rota, gone, NOW, NOBODY)
    assert gone not in rota.pool and gone not in rota.done and gone not in rota.credit
    assert all(gone not in t.holders for t in rota.turns)
    assert all(len(t.holders) == 1 for t in changed)
    assert gone not in repr(rota)


@pytest.mark.parametrize("text", ["²", "٣", "0", "21", "9" * 40])
def test_a_size_that_is_not_a_small_ascii_number_is_a_rota_error(text: str) -> None:
    # "²" and Arabic-Indic digits pass str.isdigit() but not int(): a typed refusal, not a crash.
    from protocols.rota import parse_size

    with pytest.raises(RotaError):
        parse_size(text)
