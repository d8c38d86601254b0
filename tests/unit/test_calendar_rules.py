"""Tier 1: the calendar's grammar (add, edit), its page model and the limits of following a feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from protocols.calendar_events import (
    EventError,
    check_reason,
    names_nobody,
    parse_event_add,
    parse_event_edit,
)
from protocols.calendar_feed import PRIVATE_PLACE, FeedEvent
from protocols.calendar_follow import (
    FollowError,
    FollowLimits,
    address_allowed,
    check_redirect,
    check_size,
    check_url,
    label_for,
)
from protocols.calendar_page import page_days

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "title", "start", "end", "zone", "place", "private"),
    [
        ("Rally at 2026-11-30 18:00", "Rally", (11, 30, 17), None, "Europe/Paris", None, False),
        (
            "Meet at the square at 2026-11-30 18:00 until 2026-11-30 20:00 where Place Bellecour private",
            "Meet at the square",
            (11, 30, 17),
            (11, 30, 19),
            "Europe/Paris",
            "Place Bellecour",
            True,
        ),
        (
            "Vigil at 2026-12-01 09:30 UTC where Town hall",
            "Vigil",
            (12, 1, 9),
            None,
            "UTC",
            "Town hall",
            False,
        ),
        (
            "Camp at 2026-12-01T10:00 America/New_York",
            "Camp",
            (12, 1, 15),
            None,
            "America/New_York",
            None,
            False,
        ),
        # an end that is only a time is on the start's day, in its zone
        (
            "Rally at 2026-11-30 23:00 UTC until 23:30 where Square",
            "Rally",
            (11, 30, 23),
            (11, 30, 23),
            "UTC",
            "Square",
            False,
        ),
        # the end takes the start's zone when it names none
        (
            "Fair at 2026-12-01 10:00 UTC until 2026-12-01 12:00",
            "Fair",
            (12, 1, 10),
            (12, 1, 12),
            "UTC",
            None,
            False,
        ),
    ],
)
def test_event_add_reads_title_times_place_and_private(
    text: str,
    title: str,
    start: tuple[int, int, int],
    end: tuple[int, int, int] | None,
    zone: str,
    place: str | None,
    private: bool,
) -> None:
    draft = parse_event_add(text, PARIS, NOW)
    assert draft.title == title and draft.zone == zone and draft.place == place and draft.private is private
    assert (draft.starts_at.month, draft.starts_at.day, draft.starts_at.hour) == start
    assert (
        None if draft.ends_at is None else (draft.ends_at.month, draft.ends_at.day, draft.ends_at.hour)
    ) == end


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Rally tomorrow", "use: !event add"),
        ("at 2026-11-30 18:00", "use: !event add"),
        ("Rally at 2020-01-01 10:00", "in the past"),
        ("Rally at 2030-01-01 10:00", "two years"),
        ("Rally at 2026-11-30 18:00 until 2026-11-30 17:00", "must come after"),
        ("Rally at 2026-11-30 18:00 until 17:00", "must come after"),
        ("Rally at 2026-11-30 18:00 until 25:00", "time"),
        ("Rally at 2026-11-30 18:00 until 2026-12-30 17:00", "two weeks"),
        ("Rally at 2026-11-30 18:00 private", "say where"),
        ("Ask @ana:example.org at 2026-11-30 18:00", "names nobody"),
        ("Rally at 2026-11-30 18:00 where #lyon:example.org", "names nobody"),
        ("Rally at 2026-11-30 18:00 where https://matrix.to/#/x", "names nobody"),
        ("x" * 121 + " at 2026-11-30 18:00", "too long"),
        ("Rally at 2026-11-30 18:00 Mars/Olympus", "zone"),
    ],
)
def test_event_add_refuses_bad_words_with_a_reason(text: str, error: str) -> None:
    with pytest.raises(EventError, match=error):
        parse_event_add(text, PARIS, NOW)


def test_event_add_is_linear_on_a_long_line_of_ats() -> None:
    with pytest.raises(EventError):
        parse_event_add(" ".join(["at"] * 2000), PARIS, NOW)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("3 title Big rally", "title", "Big rally"),
        ("3 at 2026-12-01 18:00", "at", datetime(2026, 12, 1, 17, tzinfo=UTC)),
        ("3 until none", "until", None),
        ("3 where none", "where", None),
        ("3 where Town hall", "where", "Town hall"),
        ("3 private off", "private", False),
    ],
)
def test_event_edit_types_its_value(text: str, field: str, value: object) -> None:
    edit = parse_event_edit(text, PARIS)
    assert (edit.event_id, edit.field, edit.value) == (3, field, value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("x title a", "not an event number"),
        ("3 colour red", "not a field"),
        ("3", "use: !event edit"),
        ("3 private maybe", "on or off"),
        ("3 at soon", "time"),
        ("3 title @bob:example.org", "names nobody"),
    ],
)
def test_event_edit_refuses_bad_words(text: str, error: str) -> None:
    with pytest.raises(EventError, match=error):
        parse_event_edit(text, PARIS)


def test_a_reason_is_public_text_too() -> None:
    assert check_reason(None) is None and check_reason("  ") is None
    assert check_reason("storm  warning") == "storm warning"
    with pytest.raises(EventError):
        check_reason("ask @ana:example.org")
    assert names_nobody("meet at 18:00, room 2") and not names_nobody("!abc:example.org")


def _event(uid: str, start: datetime, **changes: object) -> FeedEvent:
    base = FeedEvent(
        uid, "Rally", start, None, "Europe/Paris", "Square", False, 0, NOW, NOW, holder="Lyon group"
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_the_page_groups_upcoming_actions_by_their_local_date() -> None:
    events = [
        # 23:30 UTC on the 29th is 00:30 on the 30th in Paris: it belongs to the 30th.
        _event(
            "a", datetime(2026, 11, 29, 23, 30, tzinfo=UTC), ends_at=datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
        ),
        _event("b", datetime(2026, 11, 30, 17, 0, tzinfo=UTC), private=True),
        _event("c", datetime(2026, 11, 30, 17, 0, tzinfo=UTC), cancelled=True),
        _event("d", datetime(2026, 11, 21, 17, 0, tzinfo=UTC)),  # over
        _event("e", datetime(2026, 12, 2, 14, 0, tzinfo=UTC), zone="UTC", source="north", holder="north"),
    ]
    days = page_days(events, NOW)
    assert [d.heading for d in days] == ["Monday 30 November 2026", "Wednesday 2 December 2026"]
    first, second = days[0].items
    assert first.time == "00:30–02:00" and first.place == "Square"
    assert second.time == "18:00" and second.place == PRIVATE_PLACE
    [followed] = days[1].items
    assert followed.followed and followed.holder == "north" and followed.time == "14:00"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://example.org/x.ics", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("https://user:pw@example.org/x.ics", "user name and password"),
        ("https:///x.ics", "no host"),
        ("https://example.org:99999/x", "not a web address"),
        ("https://example.org/" + "a" * 2001, "too long"),
    ],
)
def test_follow_refuses_addresses_it_may_not_fetch(url: str, error: str) -> None:
    with pytest.raises(FollowError, match=error):
        check_url(url)


def test_follow_reads_webcal_as_https_and_labels_by_name_or_host() -> None:
    target = check_url("webcal://Cal.Example.org./c/x/events.ics")
    assert (target.scheme, target.host, target.port) == ("https", "cal.example.org", 443)
    assert label_for(None, target) == "cal.example.org" and label_for("North", target) == "North"


@pytest.mark.parametrize(
    ("address", "public", "private"),
    [
        ("93.184.216.34", True, True),
        ("2606:4700::1111", True, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("10.1.2.3", False, True),
        ("192.168.1.1", False, True),
        ("169.254.169.254", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("fd00::1", False, True),
        ("100.64.0.1", False, True),
        ("0.0.0.0", False, False),
        ("224.0.0.1", False, False),
        ("not-an-ip", False, False),
    ],
)
def test_only_public_addresses_unless_the_operator_allows_private_ones(
    address: str, public: bool, private: bool
) -> None:
    assert address_allowed(address, allow_private=False) is public
    assert address_allowed(address, allow_private=True) is private


def test_redirects_and_size_are_capped() -> None:
    limits = FollowLimits(max_bytes=100, max_redirects=2)
    assert check_redirect("https://example.org/b", 1, limits).host == "example.org"
    with pytest.raises(FollowError, match="more than 2 times"):
        check_redirect("https://example.org/c", 2, limits)
    with pytest.raises(FollowError, match="only http"):
        check_redirect("gopher://example.org/", 0, limits)
    check_size(100, limits)
    with pytest.raises(FollowError, match="larger than 100 bytes"):
        check_size(101, limits)
    assert timedelta(seconds=10) == FollowLimits().timeout


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("en", "22:00 – 1 Dec 02:00"),
        ("es", "22:00 – 1 dic 02:00"),
        ("pl", "22:00 – 1 gru 02:00"),
        ("de", "22:00 – 1. Dez. 02:00"),
    ],
)
def test_a_range_that_ends_the_next_day_is_said_in_the_page_s_language(language: str, shown: str) -> None:
    from bots.calendar.page import render_page, time_range

    late = _event(
        "n", datetime(2026, 11, 30, 21, 0, tzinfo=UTC), ends_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    )
    short = _event(
        "s", datetime(2026, 12, 2, 17, 0, tzinfo=UTC), ends_at=datetime(2026, 12, 2, 19, 0, tzinfo=UTC)
    )
    [night], [evening] = (day.items for day in page_days([late, short], NOW))
    assert night.time == "22:00 – 1 Dec 02:00"  # the model keeps the English
    assert time_range(night, language) == shown and time_range(evening, language) == "18:00–20:00"
    assert f">{shown}</time>" in render_page("spring", page_days([late], NOW), None, language).decode()
