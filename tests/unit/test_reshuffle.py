"""Pure tests of scheduled reshuffles: cells away from earlier co-members, the schedule grammar."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.groups import Group, GroupingError, Pair, cell_sizes, cells_feasible, repeat_score
from protocols.recurrence import MonthlyOnWeekday, WeeklyOn
from protocols.reshuffle import (
    CellsSchedule,
    forget_member,
    form_cells,
    in_pause,
    next_boundary,
    parse_cells_schedule,
    plan_boundary,
    remember,
    repeated_meetings,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday


def people(n: int) -> list[str]:
    return [f"@p{i}:example.org" for i in range(n)]


def random_partition(members: list[str], rng: random.Random, low: int, high: int) -> list[Group]:
    """The baseline: shuffle and cut into the same sizes, ignoring who met whom."""
    order = list(members)
    rng.shuffle(order)
    cells: list[Group] = []
    start = 0
    for size in cell_sizes(len(order), low, high):
        cells.append(tuple(order[start : start + size]))
        start += size
    return cells


# --- quality ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twelve_generations_repeat_far_fewer_pairs_than_random(seed: int) -> None:
    """30 members, cells of 5-7 (five cells of six), 12 generations, each formed with the memory
    of all earlier ones; the same for a random re-partition. 12 x 75 = 900 pair meetings among
    435 pairs, so at least 465 must be repeats whatever one does.

    Measured over seeds 0-7 (distinct repeats / weighted / in generations 2-5 / most meetings
    of one pair): reshuffle 465 / 543-547 / 48-51 / 3-4; random 502-519 / 805-904 / 99-117 /
    6-7 (weighted ratio 0.60-0.68, early ratio 0.43-0.51). Margins asserted, with room:
    - distinct repeated pairs: reshuffle reaches the bound (465), at least 25 fewer than random;
    - weighted repeats (a pair meeting for the k-th time counts k-1, as groups.repeat_score
      counts): at most 70% of random's;
    - generations 2-5, where there is still room to avoid repeats: at most 60% of random's;
    - the most often any pair met: at least 2 fewer times than under random.
    """
    members = people(30)
    results = {}
    for name in ("reshuffle", "random"):
        rng = random.Random(seed if name == "reshuffle" else seed + 1000)
        met: Counter[Pair] = Counter()
        distinct = weighted = early = 0
        for generation in range(12):
            if name == "reshuffle":
                cells: list[Group] | tuple[Group, ...] = form_cells(members, rng, 5, 7, met)
            else:
                cells = random_partition(members, rng, 5, 7)
            assert sorted(len(c) for c in cells) == [6] * 5
            repeats = repeated_meetings(cells, met)
            distinct += repeats
            weighted += repeat_score(cells, met)
            if 1 <= generation <= 4:
                early += repeats
            met = remember(met, cells)
        results[name] = (distinct, weighted, early, max(met.values()))
    (r_distinct, r_weighted, r_early, r_max) = results["reshuffle"]
    (b_distinct, b_weighted, b_early, b_max) = results["random"]
    assert r_distinct == 900 - 435  # the pigeonhole bound: no partition does better
    assert r_distinct <= b_distinct - 25
    assert r_weighted <= 0.70 * b_weighted
    assert r_early <= 0.6 * b_early
    assert r_max <= b_max - 2


def test_a_second_generation_repeats_only_what_the_sizes_force() -> None:
    # Five cells of six from five earlier cells: each new cell must hold two people from one
    # old cell (six people, five old cells), so five repeats is the least possible.
    members = people(30)
    first = form_cells(members, random.Random(1), 5, 7, Counter())
    second = form_cells(members, random.Random(2), 5, 7, remember(Counter(), first))
    assert repeated_meetings(second, remember(Counter(), first)) == 5


def test_pairs_that_met_twice_are_kept_apart_before_those_that_met_once() -> None:
    members = people(12)
    twice = frozenset(members[:2])
    once = [frozenset((members[2], m)) for m in members[3:]]
    met: Counter[Pair] = Counter({twice: 2, **{p: 1 for p in once}})
    cells = form_cells(members, random.Random(5), 5, 7, met)
    assert not any(twice <= set(c) for c in cells)


@given(
    n=st.integers(2, 40),
    low=st.integers(2, 7),
    extra=st.integers(0, 4),
    seed=st.integers(0, 2**32),
    history=st.integers(0, 3),
)
@settings(max_examples=25, deadline=None)
def test_every_member_in_exactly_one_cell_within_bounds(
    n: int, low: int, extra: int, seed: int, history: int
) -> None:
    high = low + extra
    members = people(n)
    rng = random.Random(seed)
    if not cells_feasible(n, low, high):
        with pytest.raises(GroupingError):
            form_cells(members, rng, low, high, Counter())
        return
    met: Counter[Pair] = Counter()
    for _ in range(history):
        met = remember(met, random_partition(members, rng, low, high))
    cells = form_cells(members, rng, low, high, met)
    assert sorted(m for c in cells for m in c) == sorted(members)
    assert all(low <= len(c) <= high for c in cells)
    assert form_cells(members, random.Random(seed), low, high, met) == form_cells(
        members, random.Random(seed), low, high, met
    )


def test_memory_of_people_outside_the_pool_is_ignored_and_forgettable() -> None:
    members = people(10)
    met = remember(Counter(), [("@gone:example.org", members[0]), tuple(members[:5])])
    assert form_cells(members, random.Random(1), 5, 5, met)
    forgotten = forget_member(met, "@gone:example.org")
    assert all("@gone:example.org" not in pair for pair in forgotten)
    assert sum(forgotten.values()) == 10  # the five-cell's ten pairs remain


def test_plan_boundary_closes_the_old_and_remembers_the_new() -> None:
    members = people(14)
    schedule = parse_cells_schedule("every 4 weeks on monday 5-7", BERLIN, NOW)
    first = plan_boundary(1, (), members, random.Random(1), schedule, Counter())
    assert first.close == () and len(first.open) == 2
    second = plan_boundary(2, first.open, members, random.Random(2), schedule, first.met)
    assert second.close == first.open
    assert second.met == remember(first.met, second.open)
    # Two cells of 7 from two earlier cells of 7: each new cell holds 4 of one and 3 of the
    # other, so 6 + 3 repeated pairs per cell is the least any split can do.
    assert repeated_meetings(second.open, first.met) == 18


# --- the schedule -------------------------------------------------------------------------


def test_parse_cells_schedule() -> None:
    got = parse_cells_schedule("every 4 weeks on monday at 18:00 5-7 rooms pause 1w", BERLIN, NOW)
    assert got.recurrence.pattern == WeeklyOn(0, 4) and got.recurrence.at == time(18, 0)
    assert (got.min_size, got.max_size, got.rooms, got.pause) == (5, 7, True, timedelta(days=7))
    plain = parse_cells_schedule("every month on the 1st monday 3-4", BERLIN, NOW)
    assert plain.recurrence.pattern == MonthlyOnWeekday(1, 0)
    assert (plain.rooms, plain.pause) == (False, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every 4 weeks on monday", "Give the cell sizes"),
        ("whenever 5-7", "not a recurrence"),
        ("after each gathering 5-7", "on dates, not after each gathering"),
        ("every day 5-7", "more often than weekly"),
        ("every 4 weeks on monday 7-5", "larger than the largest"),
        ("every 4 weeks on monday 1-3", "at least 2"),
        ("every 4 weeks on monday 5-7 pause", "needs a duration"),
        ("every 4 weeks on monday 5-7 pause soon", "not a duration"),
        ("every 4 weeks on monday 5-7 pause 10m", "no pause"),
        ("every 4 weeks on monday 5-7 loudly", "not an option"),
        ("every 4 weeks on monday 5-7 rooms rooms", "not an option"),
        ("every 4 weeks on monday until 2020-01-01 5-7", "in the past"),
    ],
)
def test_parse_cells_schedule_refuses(text: str, message: str) -> None:
    with pytest.raises((RuleError, ValueError), match=message):
        parse_cells_schedule(text, BERLIN, NOW)


def test_boundaries_and_pause() -> None:
    schedule = parse_cells_schedule("every 2 weeks on monday at 10:00 5-7 pause 2d", BERLIN, NOW)
    first = next_boundary(schedule, NOW)
    assert first is not None and first.astimezone(BERLIN).date() == date(2026, 12, 7)
    second = next_boundary(schedule, first)
    assert second is not None and second - first == timedelta(days=14)
    assert in_pause(schedule, first, first + timedelta(days=1))
    assert not in_pause(schedule, first, first + timedelta(days=2))
    assert not in_pause(schedule, first, first - timedelta(seconds=1))
    no_pause = CellsSchedule(schedule.recurrence, 5, 7)
    assert not in_pause(no_pause, first, first)
