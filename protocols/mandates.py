"""Mandates: a role held by one member for a short term that ends on its own.

"Roles should expire automatically. No one holds a position indefinitely. Mandates are short.
Renewal is deliberate rather than assumed." (seed: Rotating Roles and Random Allocation)

- A mandate starts when a draw gives the role and expires one term later; the role is then
  vacant (:func:`expire`) and can be drawn again.
- Its holder gets a reminder before it ends (:func:`reminder_at`): one day before, or a quarter
  of the term for terms under four days (a 1-day term: 6 hours before), so the reminder always
  falls well inside the term and leaves time to arrange a handover or a renewal.
- Only the holder can end it early (:func:`release`).
- Renewal takes two people: anyone proposes it (:func:`propose_renewal`), and a member who is
  neither the holder nor the proposer confirms it (:func:`confirm_renewal`) before expiry. A
  mandate is renewed at most ``MAX_RENEWALS`` times in a row; then it goes back to the lottery.

Pure state transitions on frozen dataclasses; ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from protocols.errors import RuleError

REMINDER_LEAD = timedelta(days=1)
REMINDER_FRACTION = 4  # short terms: remind a quarter of the term before the end
MAX_RENEWALS = 2


class MandateError(RuleError):
    """A mandate rule refused the request; the message says what to do."""


@dataclass(frozen=True)
class RenewalProposal:
    """Someone asked to renew the mandate; it waits for a second member to confirm."""

    proposed_by: str
    proposed_at: datetime


@dataclass(frozen=True)
class Mandate:
    """``holder`` holds ``role`` in ``room`` from ``start`` until ``expires``."""

    room: str
    role: str
    holder: str
    start: datetime
    expires: datetime
    reminded: bool = False
    renewals: int = 0
    renewal: RenewalProposal | None = None

    @property
    def term(self) -> timedelta:
        """The length of the current term (renewals extend ``expires``)."""
        return self.expires - self.start

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.expires


def grant(room: str, role: str, holder: str, start: datetime, term: timedelta) -> Mandate:
    """A fresh mandate, as a draw gives it."""
    if term <= timedelta(0):
        raise ValueError("a mandate needs a positive term")
    return Mandate(room, role, holder, start, start + term)


def reminder_lead(term: timedelta) -> timedelta:
    """How long before expiry the holder is reminded: a day, or a quarter of a short term."""
    return min(REMINDER_LEAD, term / REMINDER_FRACTION)


def reminder_at(mandate: Mandate, term: timedelta | None = None) -> datetime:
    """When the holder is reminded that the mandate ends (term: the room's, else the mandate's)."""
    return mandate.expires - reminder_lead(term if term is not None else mandate.term)


def due_reminders(mandates: Iterable[Mandate], now: datetime) -> list[Mandate]:
    """Mandates whose reminder is due and not yet sent (and that have not already ended)."""
    return [m for m in mandates if not m.reminded and reminder_at(m) <= now < m.expires]


def mark_reminded(mandate: Mandate) -> Mandate:
    return replace(mandate, reminded=True)


def expire(mandates: Iterable[Mandate], now: datetime) -> tuple[list[Mandate], list[Mandate]]:
    """Split into (still running, ended): every ended mandate leaves its role vacant."""
    running: list[Mandate] = []
    ended: list[Mandate] = []
    for mandate in mandates:
        (ended if mandate.expires <= now else running).append(mandate)
    return running, ended


def _require(mandate: Mandate | None, role: str, now: datetime) -> Mandate:
    if mandate is None or not mandate.active(now):
        raise MandateError("Nobody holds '{role}' right now: !roles shows who holds what.", role=role)
    return mandate


def release(mandate: Mandate | None, role: str, by: str, now: datetime) -> Mandate:
    """The holder ends their own mandate early; returns the mandate that ends."""
    held = _require(mandate, role, now)
    if by != held.holder:
        raise MandateError(
            "Only {holder} can release '{role}'. A mandate ends on its own when its term is over.",
            holder=held.holder,
            role=role,
        )
    return held


def propose_renewal(mandate: Mandate | None, role: str, by: str, now: datetime) -> Mandate:
    """Ask to renew a running mandate for one more term; a second member must confirm."""
    held = _require(mandate, role, now)
    if held.renewals >= MAX_RENEWALS:
        raise MandateError(
            "'{role}' was renewed {n} times in a row: let it go back to the lottery when it ends.",
            role=role,
            n=held.renewals,
        )
    if held.renewal is not None:
        raise MandateError(
            "Renewing '{role}' was already proposed by {who}; someone other than the holder confirms it.",
            role=role,
            who=held.renewal.proposed_by,
        )
    return replace(held, renewal=RenewalProposal(by, now))


def confirm_renewal(mandate: Mandate | None, role: str, by: str, now: datetime, term: timedelta) -> Mandate:
    """A second member confirms the proposed renewal: the mandate runs ``term`` longer.

    The confirmer must be neither the holder nor the proposer, so a renewal is never one
    person's decision about themselves.
    """
    held = _require(mandate, role, now)
    if held.renewal is None:
        raise MandateError("Nobody proposed renewing '{role}': propose it first.", role=role)
    if by == held.holder:
        raise MandateError("You hold '{role}': another member has to confirm its renewal.", role=role)
    if by == held.renewal.proposed_by:
        raise MandateError("You proposed renewing '{role}': a different member has to confirm it.", role=role)
    if term <= timedelta(0):
        raise ValueError("a renewal needs a positive term")
    return replace(
        held,
        expires=held.expires + term,
        reminded=False,
        renewals=held.renewals + 1,
        renewal=None,
    )
