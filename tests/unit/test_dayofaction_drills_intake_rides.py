"""Tier 1: drill time compression and its report, k-threshold aggregation, ride matching."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dayofaction import drills as d
from protocols.dayofaction import intake as i
from protocols.dayofaction import rides as r

START = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


# -- drills -----------------------------------------------------------------------------------


def test_a_drill_compresses_a_week_into_minutes_keeping_the_order() -> None:
    offsets = [timedelta(days=-7), timedelta(days=-1), timedelta(hours=-2), timedelta(0), timedelta(hours=4)]
    times = d.schedule(offsets, START, speed=1000)
    assert times[0] == START
    assert times[1] - START == timedelta(seconds=round(6 * 86400 / 1000))
    assert times == sorted(times)
    assert times[-1] - START < timedelta(minutes=15)
    assert d.compress(timedelta(hours=1), 3600) == timedelta(seconds=1)
    assert d.mark("Go").startswith("DRILL")
    with pytest.raises(d.DrillError):
        d.check_speed(0)


@given(
    offsets=st.lists(st.integers(-90 * 86400, 90 * 86400), min_size=1, max_size=20).map(sorted),
    speed=st.integers(1, 10_000),
)
def test_compressed_phases_stay_in_order_apart_and_no_later_than_the_real_span(
    offsets: list[int], speed: int
) -> None:
    deltas = [timedelta(seconds=o) for o in offsets]
    times = d.schedule(deltas, START, speed)
    assert times[0] == START
    for before, after in itertools.pairwise(times):
        assert after - before >= d.MIN_GAP
    span = deltas[-1] - deltas[0]
    assert times[-1] - START <= span / speed + d.MIN_GAP * len(times) + timedelta(seconds=len(times))


def test_the_drill_report_gives_per_room_ack_times_and_names_the_silent() -> None:
    sent = {("!a", "go"): START, ("!b", "go"): START, ("!a", "start"): START + timedelta(minutes=1)}
    acked = {("!a", "go"): START + timedelta(seconds=42)}
    rows = d.report(["!a", "!b", "!c"], sent, acked, ["go", "start"])
    assert rows[0].ack_times == (("go", timedelta(seconds=42)), ("start", None))
    assert rows[1].ack_times == (("go", None),) and rows[1].silent
    assert rows[2].ack_times == () and not rows[2].silent  # declined: never asked
    assert d.silent_rooms(rows) == ["!b"]


# -- intake -----------------------------------------------------------------------------------


QUESTIONS = i.survey(["why", "seats", {"key": "bus", "prompt": "Which bus?", "options": ["early", "late"]}])


def test_a_survey_has_at_most_five_distinct_known_questions() -> None:
    assert [q.key for q in QUESTIONS] == ["why", "seats", "bus"]
    with pytest.raises(i.IntakeError, match="at most 5"):
        i.survey(["why", "area", "seats", "access", "language", "why"])
    with pytest.raises(i.IntakeError, match="twice"):
        i.survey(["why", "why"])
    with pytest.raises(i.IntakeError, match="Unknown"):
        i.survey(["shoe size"])
    with pytest.raises(i.IntakeError):
        i.survey([{"key": "n", "prompt": "How many?", "min": 5, "max": 2}])


def test_answers_out_of_range_are_refused_with_what_fits() -> None:
    why, seats, bus = QUESTIONS
    assert i.answer(why, "2") == "the cause" and i.answer(why, " Friends ") == "friends"
    assert i.answer(seats, "3") == "3"
    with pytest.raises(i.IntakeError, match="not one of"):
        i.answer(why, "9")
    with pytest.raises(i.IntakeError, match="out of range"):
        i.answer(seats, "500")
    with pytest.raises(i.IntakeError, match="out of range"):
        i.answer(seats, "-1")
    assert i.answer(bus, "late") == "late"


def test_counts_show_only_for_rooms_with_at_least_three_answers() -> None:
    one = {"why": "friends", "seats": "2", "bus": "early"}
    shown, below = i.aggregate(
        QUESTIONS, {"!a": [one, one], "!b": [one, one, {"why": "other", "seats": "0"}]}
    )
    assert below == 1
    [room] = shown
    assert room.room == "!b" and room.answered == 3
    assert dict(room.counts)["why"] == (("friends", 2), ("other", 1))
    assert dict(room.counts)["seats"] == (("0", 1), ("2", 2))
    with pytest.raises(i.IntakeError):
        i.aggregate(QUESTIONS, {}, k=1)


@given(sizes=st.dictionaries(st.sampled_from(["!a", "!b", "!c", "!d"]), st.integers(0, 6)))
def test_no_room_under_k_is_ever_shown_and_counts_add_up(sizes: dict[str, int]) -> None:
    answers = {room: [{"why": "friends", "seats": "1", "bus": "late"}] * n for room, n in sizes.items()}
    shown, below = i.aggregate(QUESTIONS, answers)
    assert all(rc.answered >= i.K for rc in shown)
    assert {rc.room for rc in shown} == {r for r, n in sizes.items() if n >= i.K}
    assert below == sum(1 for n in sizes.values() if 0 < n < i.K)
    for rc in shown:
        for _, pairs in rc.counts:
            assert sum(c for _, c in pairs) == rc.answered


# -- rides ------------------------------------------------------------------------------------


def test_a_need_is_matched_to_the_offer_of_its_area_closest_in_time() -> None:
    offers = [
        r.Offer(1, "@d1", "north", r.clock("08:00"), 3),
        r.Offer(2, "@d2", "north", r.clock("09:00"), 3),
    ]
    needs = [
        r.Need(1, "@r1", "north", 2, r.clock("08:50")),
        r.Need(2, "@r2", "south", 1),
        r.Need(3, "@r3", "north", 2),
    ]
    props = r.match(offers, needs, [])
    assert props == [r.Proposal(2, 1, 2), r.Proposal(1, 3, 2)]
    assert r.counts_per_area(offers, needs, props) == [("north", 2, 0), ("south", 0, 1)]
    again = r.match(offers, needs[:1], [], refused=[(2, 1)])
    assert again == [r.Proposal(1, 1, 2)]  # the driver of offer 2 said no: the next fitting offer


def test_bad_ride_input_is_refused() -> None:
    for bad in (0, 500):
        with pytest.raises(r.RideError):
            r.check_seats(bad)
    with pytest.raises(r.RideError):
        r.clock("25:00")
    with pytest.raises(r.RideError):
        r.area("<script>")
    assert r.area("  North  Side ") == "north side" and r.format_clock(r.clock("8:05")) == "08:05"


offer_st = st.builds(
    lambda i, d, a, t, s: r.Offer(i, d, a, t, s),
    st.integers(1, 1000),
    st.sampled_from(["@a", "@b", "@c"]),
    st.sampled_from(["north", "south"]),
    st.integers(0, 1439),
    st.integers(1, 8),
)
need_st = st.builds(
    lambda i, p, a, s, t: r.Need(i, p, a, s, t),
    st.integers(1, 1000),
    st.sampled_from(["@a", "@b", "@x", "@y"]),
    st.sampled_from(["north", "south"]),
    st.integers(1, 8),
    st.one_of(st.none(), st.integers(0, 1439)),
)


@given(
    offers=st.lists(offer_st, max_size=6, unique_by=lambda o: o.id),
    needs=st.lists(need_st, max_size=10, unique_by=lambda n: n.id),
)
def test_matching_never_overfills_an_offer_matches_areas_and_each_need_once(
    offers: list[r.Offer], needs: list[r.Need]
) -> None:
    props = r.match(offers, needs, [])
    by_id = {o.id: o for o in offers}
    need_by = {n.id: n for n in needs}
    assert len({p.need for p in props}) == len(props)
    for o in offers:
        assert r.free_seats(o, props) >= 0
    for p in props:
        o, n = by_id[p.offer], need_by[p.need]
        assert o.area == n.area and o.driver != n.rider and p.seats == n.seats
        assert n.at is None or abs(o.at - n.at) <= r.TIME_WINDOW_MINUTES
    assert r.match(offers, needs, props) == []  # matching again proposes nothing new
