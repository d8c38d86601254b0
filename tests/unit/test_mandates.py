"""Mandates: expiry, reminders, release by the holder only, renewal by two other people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.mandates import (
    MAX_RENEWALS,
    Mandate,
    MandateError,
    RenewalProposal,
    confirm_renewal,
    due_reminders,
    expire,
    grant,
    mark_reminded,
    propose_renewal,
    release,
    reminder_at,
    reminder_lead,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
ROOM = "!room:a.org"
ANA, BEN, CHI = "@ana:a.org", "@ben:a.org", "@chi:a.org"


def _care(term: timedelta = WEEK) -> Mandate:
    return grant(ROOM, "care", ANA, NOW, term)


def test_grant_sets_the_expiry() -> None:
    m = _care()
    assert (m.start, m.expires, m.reminded, m.renewals, m.renewal) == (
        NOW,
        NOW + WEEK,
        False,
        0,
        None,
    )
    assert m.active(NOW) and not m.active(NOW + WEEK)
    with pytest.raises(ValueError):
        grant(ROOM, "care", ANA, NOW, timedelta(0))


@pytest.mark.parametrize(
    ("term", "lead"),
    [
        (WEEK, timedelta(days=1)),
        (timedelta(days=10), timedelta(days=1)),
        (timedelta(days=4), timedelta(days=1)),
        (timedelta(days=2), timedelta(hours=12)),
        (timedelta(days=1), timedelta(hours=6)),
        (timedelta(hours=1), timedelta(minutes=15)),
    ],
)
def test_reminder_is_a_day_before_or_a_quarter_of_a_short_term(term: timedelta, lead: timedelta) -> None:
    assert reminder_lead(term) == lead
    assert reminder_at(_care(term)) == NOW + term - lead


def test_due_reminders_once_and_not_after_expiry() -> None:
    m = _care()
    assert due_reminders([m], NOW + timedelta(days=5, hours=23)) == []
    assert due_reminders([m], NOW + timedelta(days=6)) == [m]
    assert due_reminders([mark_reminded(m)], NOW + timedelta(days=6)) == []
    assert due_reminders([m], NOW + WEEK) == []


def test_expire_returns_vacancies() -> None:
    short = grant(ROOM, "care", ANA, NOW, timedelta(days=1))
    long = grant(ROOM, "liaison", BEN, NOW, WEEK)
    assert expire([short, long], NOW + timedelta(hours=23)) == ([short, long], [])
    assert expire([short, long], NOW + timedelta(days=1)) == ([long], [short])
    assert expire([short, long], NOW + WEEK) == ([], [short, long])


def test_release_by_the_holder_only() -> None:
    m = _care()
    assert release(m, "care", ANA, NOW + timedelta(hours=1)) == m
    with pytest.raises(MandateError, match=f"Only {ANA} can release"):
        release(m, "care", BEN, NOW)
    with pytest.raises(MandateError, match="Nobody holds 'care'"):
        release(None, "care", ANA, NOW)
    with pytest.raises(MandateError, match="Nobody holds"):
        release(m, "care", ANA, NOW + WEEK)  # already over
    assert issubclass(MandateError, RuleError)


def test_renewal_needs_a_second_member_who_is_not_the_holder() -> None:
    later = NOW + timedelta(days=6)
    proposed = propose_renewal(_care(), "care", ANA, later)
    assert proposed.renewal == RenewalProposal(ANA, later)
    with pytest.raises(MandateError, match="already proposed by"):
        propose_renewal(proposed, "care", BEN, later)
    with pytest.raises(MandateError, match="You hold 'care'"):
        confirm_renewal(proposed, "care", ANA, later, WEEK)
    renewed = confirm_renewal(proposed, "care", BEN, later, WEEK)
    assert renewed.expires == NOW + 2 * WEEK
    assert (renewed.renewals, renewed.renewal, renewed.holder) == (1, None, ANA)


def test_the_proposer_cannot_confirm_their_own_proposal() -> None:
    proposed = propose_renewal(_care(), "care", BEN, NOW)
    with pytest.raises(MandateError, match="different member"):
        confirm_renewal(proposed, "care", BEN, NOW, WEEK)
    assert confirm_renewal(proposed, "care", CHI, NOW, WEEK).renewals == 1


def test_renewal_refused_without_proposal_after_expiry_or_too_often() -> None:
    with pytest.raises(MandateError, match="Nobody proposed"):
        confirm_renewal(_care(), "care", BEN, NOW, WEEK)
    proposed = propose_renewal(_care(), "care", BEN, NOW)
    with pytest.raises(MandateError, match="Nobody holds"):
        confirm_renewal(proposed, "care", CHI, NOW + WEEK, WEEK)
    m = _care()
    for _ in range(MAX_RENEWALS):
        m = confirm_renewal(propose_renewal(m, "care", BEN, NOW), "care", CHI, NOW, WEEK)
    with pytest.raises(MandateError, match="back to the lottery"):
        propose_renewal(m, "care", BEN, NOW)


def test_renewal_resets_the_reminder() -> None:
    m = mark_reminded(_care())
    renewed = confirm_renewal(propose_renewal(m, "care", BEN, NOW), "care", CHI, NOW, WEEK)
    assert not renewed.reminded
    assert reminder_at(renewed, WEEK) == NOW + 2 * WEEK - timedelta(days=1)


@given(
    st.integers(1, 60 * 24 * 30),
    st.integers(0, 60 * 24 * 60),
)
@settings(max_examples=200, deadline=None)
def test_a_mandate_is_either_running_or_vacant(term_minutes: int, after_minutes: int) -> None:
    m = _care(timedelta(minutes=term_minutes))
    now = NOW + timedelta(minutes=after_minutes)
    running, ended = expire([m], now)
    assert (running == [m]) == m.active(now) and (ended == [m]) != m.active(now)
    # A reminder is always inside the term, before the end.
    assert m.start < reminder_at(m) < m.expires
