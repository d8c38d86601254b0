"""Speaking order, triads and cells: sizes, coverage, determinism, and avoiding repeat meetings."""

from __future__ import annotations

import random
import re
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.groups import (
    GroupingError,
    cell_sizes,
    cells,
    cells_feasible,
    pairs_in,
    parse_cell_bounds,
    repeat_score,
    speaking_order,
    triad_sizes,
    triads,
)


def _people(n: int) -> list[str]:
    return [f"@p{i:02d}:a.org" for i in range(n)]


def _flat(groups: list[tuple[str, ...]]) -> list[str]:
    return sorted(m for g in groups for m in g)


# --- speaking order ------------------------------------------------------------------------


def test_speaking_order_is_a_permutation_fixed_by_the_rng() -> None:
    people = _people(7)
    order = speaking_order(people, random.Random(1))
    assert sorted(order) == people
    assert speaking_order(reversed(people), random.Random(1)) == order
    orders = {tuple(speaking_order(people, random.Random(s))) for s in range(20)}
    assert len(orders) > 1
    with pytest.raises(GroupingError, match="stepin"):
        speaking_order([], random.Random(1))
    assert issubclass(GroupingError, RuleError)


# --- triads --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (3, [3]),
        (4, [4]),
        (5, [5]),
        (6, [3, 3]),
        (7, [4, 3]),
        (8, [4, 4]),
        (9, [3, 3, 3]),
        (10, [4, 3, 3]),
        (11, [4, 4, 3]),
    ],
)
def test_triad_sizes(n: int, sizes: list[int]) -> None:
    assert triad_sizes(n) == sizes


@pytest.mark.parametrize(("n", "word"), [(0, "are 0"), (1, "is 1"), (2, "are 2")])
def test_too_few_for_triads(n: int, word: str) -> None:
    with pytest.raises(GroupingError, match=f"at least 3 people.*there {word}"):
        triads(_people(n), random.Random(0))


@given(st.integers(3, 60), st.integers(0, 2**32))
@settings(max_examples=150, deadline=None)
def test_triads_cover_everyone_once_in_groups_of_three_or_four(n: int, seed: int) -> None:
    people = _people(n)
    groups = triads(people, random.Random(seed))
    assert _flat(groups) == people
    if n == 5:
        assert [len(g) for g in groups] == [5]
    else:
        assert all(len(g) in (3, 4) for g in groups)
        assert sum(1 for g in groups if len(g) == 4) <= 2


def test_triads_are_deterministic_given_the_rng() -> None:
    people = _people(12)
    previous = list(pairs_in(triads(people, random.Random(5))))
    a = triads(people, random.Random(9), previous)
    b = triads(list(reversed(people)), random.Random(9), previous)
    assert a == b


@pytest.mark.parametrize("seed", range(20))
def test_triads_avoid_pairs_that_met_last_time(seed: int) -> None:
    # Nine people after one round of triads: a new round where nobody meets again exists
    # (one from each old triad), and the search finds it.
    people = _people(9)
    last = triads(people, random.Random(1000 + seed))
    again = triads(people, random.Random(seed), pairs_in(last))
    assert repeat_score(again, pairs_in(last)) == 0


def test_triads_weigh_pairs_by_how_often_they_met() -> None:
    # Four people must form one group: every pair meets, whatever the history.
    people = _people(4)
    groups = triads(people, random.Random(0), [(people[0], people[1])] * 3)
    assert groups == [tuple(people)]
    # Six people: the pair that met three times is split before any pair that met once.
    people = _people(6)
    previous = [(people[0], people[1])] * 3 + [(people[2], people[3]), (people[4], people[5])]
    for seed in range(10):
        groups = triads(people, random.Random(seed), previous)
        assert not any({people[0], people[1]} <= set(g) for g in groups)
        assert repeat_score(groups, pairs_in([frozenset(p) for p in previous])) == 0


# --- cells ---------------------------------------------------------------------------------


def test_cell_feasibility_with_the_default_bounds() -> None:
    feasible = [n for n in range(1, 40) if cells_feasible(n, 5, 7)]
    assert feasible == [5, 6, 7, *list(range(10, 40))]


@given(st.integers(0, 120), st.integers(2, 12), st.integers(0, 10))
@settings(max_examples=300, deadline=None)
def test_feasibility_matches_brute_force(n: int, low: int, spread: int) -> None:
    high = low + spread
    brute = n >= 1 and any(k * low <= n <= k * high for k in range(1, n + 1))
    assert cells_feasible(n, low, high) == brute


@pytest.mark.parametrize(
    ("low", "high", "fragment"),
    [
        (1, 7, "at least 2 people"),
        (7, 5, "write the smaller first, like !cells 5-7"),
        (5, 60, "not affinity cells"),
    ],
)
def test_bad_bounds(low: int, high: int, fragment: str) -> None:
    with pytest.raises(GroupingError, match=re.escape(fragment)):
        cells(_people(12), random.Random(0), low, high)


def test_parse_cell_bounds() -> None:
    assert parse_cell_bounds(" 4 - 6 ") == (4, 6)
    with pytest.raises(GroupingError, match="like 5-7"):
        parse_cell_bounds("five")
    with pytest.raises(GroupingError, match="smaller first"):
        parse_cell_bounds("7-5")


def test_too_few_people_are_told_to_stay_one_cell() -> None:
    with pytest.raises(GroupingError, match="3 people are too few for cells of 5-7: stay together"):
        cells(_people(3), random.Random(0))


def test_an_unsplittable_pool_gets_working_suggestions() -> None:
    with pytest.raises(GroupingError) as caught:
        cells(_people(8), random.Random(0))
    assert str(caught.value) == (
        "8 people cannot be split into cells of 5-7. Try !cells 4-7 (2 cells) or !cells 5-8 (1 cell)."
    )


@given(st.integers(1, 80), st.integers(2, 8), st.integers(0, 6))
@settings(max_examples=200, deadline=None)
def test_every_suggestion_works(n: int, low: int, spread: int) -> None:
    high = low + spread
    if cells_feasible(n, low, high) or n < low:
        return
    with pytest.raises(GroupingError) as caught:
        cell_sizes(n, low, high)
    suggestions = re.findall(r"!cells (\d+)-(\d+)", str(caught.value))
    assert suggestions
    for a, b in suggestions:
        assert cells_feasible(n, *parse_cell_bounds(f"{a}-{b}"))


@given(st.integers(2, 80), st.integers(2, 9), st.integers(0, 5), st.integers(0, 2**32))
@settings(max_examples=200, deadline=None)
def test_cells_sizes_within_bounds_whenever_a_split_exists(n: int, low: int, spread: int, seed: int) -> None:
    high = low + spread
    people = _people(n)
    if not cells_feasible(n, low, high):
        with pytest.raises(GroupingError):
            cells(people, random.Random(seed), low, high)
        return
    groups = cells(people, random.Random(seed), low, high)
    assert _flat(groups) == people
    assert all(low <= len(g) <= high for g in groups)
    assert max(map(len, groups)) - min(map(len, groups)) <= 1
    assert len(groups) == -(-n // high)  # as few cells as fit


@pytest.mark.parametrize("seed", range(10))
def test_cells_mix_previous_cells_as_far_as_sizes_allow(seed: int) -> None:
    # Twelve people, two old cells of six, two new cells of six: the best possible is three
    # from each old cell in each new one, which repeats 3 + 3 pairs per cell.
    people = _people(12)
    old = [tuple(people[:6]), tuple(people[6:])]
    new = cells(people, random.Random(seed), previous_cells=old)
    assert repeat_score(new, pairs_in(old)) == 12
    assert all(len(set(g) & set(old[0])) == 3 for g in new)


def test_pairs_in_counts_repeats() -> None:
    counts = pairs_in([("a", "b", "c"), ("a", "b")])
    assert counts[frozenset(("a", "b"))] == 2
    assert sum(counts.values()) == 4
    assert repeat_score([("a", "b")], counts) == 2
    assert all(len(p) == 2 for p in counts)
    assert set(counts) == {frozenset(p) for p in combinations("abc", 2)}
