"""``!event add`` (the calendar, protocols/calendar_events.py) parses in one pass: the inputs that made the old regular expression backtrack
for tens of seconds are refused with the typed error, after a number of steps bounded by the
number of words."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from protocols import calendar_events as events
from protocols.calendar_events import EventError, parse_event_add

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
SIZE = 64 * 1024

# The old pattern's worst cases: long whitespace runs between the lazy title and " at ", and
# many " at " that each almost start a time.
WORST = [
    "t" + " " * SIZE + "at",
    "t" + "\n" * SIZE + "at x",
    "x at " * (SIZE // 5),
    "x at 2026-05-01 " * (SIZE // 16),
    "x at 2026-05-01 18:00 a b " * (SIZE // 26),
    "Rally at 2026-05-01 18:00 where" + " " * SIZE,
]


@pytest.mark.timeout(20)  # a hang detector: the old parser took ~48 s on one of these
@pytest.mark.parametrize("text", WORST, ids=range(len(WORST)))
def test_hostile_inputs_are_refused_in_linear_steps(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = events._when_after

    def counted(words, i):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(words, i)

    monkeypatch.setattr(events, "_when_after", counted)
    with pytest.raises(EventError):
        parse_event_add(text, PARIS, NOW)
    assert calls <= len(text.split())


@pytest.mark.parametrize(
    ("text", "title", "starts", "place"),
    [
        ("Meet at noon at 2026-05-01 18:00", "Meet at noon", datetime(2026, 5, 1, 16, 0, tzinfo=UTC), None),
        (
            "X at 2026-05-01 18:00 foo bar at 2026-05-02 10:00 UTC",
            "X at 2026-05-01 18:00 foo bar",
            datetime(2026, 5, 2, 10, 0, tzinfo=UTC),
            None,
        ),
        (
            "Dawn AT 2026-05-01T06:00 UTC WHERE the  park",
            "Dawn",
            datetime(2026, 5, 1, 6, 0, tzinfo=UTC),
            "the park",
        ),
        ("Picnic\nat\t2026-05-01   12:00", "Picnic", datetime(2026, 5, 1, 10, 0, tzinfo=UTC), None),
    ],
)
def test_titles_may_contain_at(text: str, title: str, starts: datetime, place: str | None) -> None:
    draft = parse_event_add(text, PARIS, NOW)
    assert (draft.title, draft.starts_at, draft.place) == (title, starts, place)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("at 2026-05-01 18:00", "use:"),
        ("Rally at 2026-05-01 18:00 where", "say where"),
        ("Rally at 2026-05-01 18:00 UTC extra words", "use:"),
        ("Rally at 2026-05-01", "use:"),
    ],
)
def test_malformed_event_add(text: str, words: str) -> None:
    with pytest.raises(EventError, match=words):
        parse_event_add(text, PARIS, NOW)
