"""The skill-swap board: skills as short tags, asks meeting offers, consent before names.

"If everyone can draft a communiqué, administer first aid, manage secure communications, and
facilitate a discussion, hierarchy loses oxygen. Knowledge concentrated is power concentrated."
(seed: Rotating Roles and Random Allocation)

- :func:`normalise_skill` turns free words into one short tag (``"First Aid "`` and
  ``"first-aids"`` are both ``first-aid``), so an ask and an offer typed differently still meet.
- :func:`matches_for` pairs a new entry with the opposite entries of the same skill by other
  people (an ask meets offers, an offer meets asks), newest first, never a pair already made.
- :func:`answer` is the consent of a match: both people are asked, and only when both say yes
  does each learn the other's name (:data:`INTRODUCE`); a refusal by either ends it and
  reveals nothing to anyone (:data:`DECLINED`).
- :func:`role_pools` narrows a draw's pool to the holders of the skill each role requires,
  and refuses a role nobody in the pool can take, saying who could teach the skill.

Pure: ``now`` is passed in; no clock, no storage.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from protocols.errors import RuleError

MAX_SKILL_LENGTH = 40
MAX_NOTE_LENGTH = 280
DEFAULT_ENTRY_TTL = timedelta(days=30)
MIN_ENTRY_TTL = timedelta(days=1)
MAX_ENTRY_TTL = timedelta(days=90)
# How many new matches one entry opens at most (each asks two people by DM).
MAX_MATCHES_PER_ENTRY = 3
# How many open entries one person may have in a room (a board people can read).
MAX_OPEN_ENTRIES = 20

Kind = Literal["offer", "ask"]
Answer = Literal["waiting", "introduce", "declined"]
WAITING: Answer = "waiting"
INTRODUCE: Answer = "introduce"
DECLINED: Answer = "declined"


class SkillError(RuleError):
    """A skill-swap rule refused the input; the message says what to do."""


# --- normalisation -------------------------------------------------------------------------

# Words whose final s is not a plural (or whose plural is irregular and common in our rooms).
_KEEP = frozenset(
    {
        "news", "comms", "analysis", "basis", "crisis", "logistics", "graphics", "physics",
        "ethics", "politics", "tactics", "bus", "gas", "press", "process", "access", "class",
        "canvas", "bias", "status", "census", "campus", "focus", "chaos", "lens",
        "mathematics", "statistics", "economics", "linguistics", "dynamics",
    }
)  # fmt: skip
_IRREGULAR = {"children": "child", "people": "person", "knives": "knife", "lives": "life", "media": "media"}
_SEPARATORS = re.compile(r"[\s_/.,;:+&-]+")
_NOT_TAG = re.compile(r"[^\w-]", re.UNICODE)


def _singular(word: str) -> str:
    """One word without a common English plural ending; words whose final s is no plural
    (``comms``, ``logistics``, ``press``) stay as they are."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _KEEP or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def normalise_skill(text: str) -> str:
    """Free words -> a short tag: lower case, words joined by ``-``, common plurals made
    singular, punctuation dropped. ``"Secure  Comms"`` -> ``secure-comms``; ``"First aids"``
    -> ``first-aid``; ``"Facilitating meetings"`` -> ``facilitating-meeting``.

    An empty result, or one longer than :data:`MAX_SKILL_LENGTH`, is a :class:`SkillError`.
    """
    words = [w for w in _SEPARATORS.split(text.strip().lower()) if w]
    cleaned = [_NOT_TAG.sub("", w).strip("-") for w in words]
    parts = [_singular(w) for w in cleaned if w]
    tag = re.sub(r"-{2,}", "-", "-".join(parts)).strip("-")
    if not tag:
        raise SkillError("Name a skill in a word or two, like: !offer first aid")
    if len(tag) > MAX_SKILL_LENGTH:
        raise SkillError(
            "A skill is a short tag (at most {most} characters, this one has {length}); put the "
            "details in the note.",
            most=MAX_SKILL_LENGTH,
            length=len(tag),
        )
    return tag


# How many words a skill typed with spaces may have (``first aid``, ``secure comms tools``).
MAX_SKILL_WORDS = 3
# The rest of a skill ended by a colon: one or two more words, then ':' and a space or the end
# (``aid: weekends``; a time such as ``18:00`` is no such colon).
_COLON_ENDED = re.compile(r"\s*((?:[^\s:]+\s+)?[^\s:]+):(?:\s+|$)(.*)", re.DOTALL)


def skill_and_note(first: str, rest: str | None, known: Iterable[str]) -> tuple[str, str | None]:
    """The skill and the note of ``!offer``/``!ask <first> [rest]``, as (tag, note as typed):

    - a skill of several words ended by a colon: ``first aid: weekends`` -> ``first-aid``, note
      ``weekends``;
    - else a skill the room knows, typed with spaces: ``first aid weekends`` -> ``first-aid``
      when ``first-aid`` is known (the longest known one wins);
    - else the first word is the skill and the rest the note.

    A :class:`SkillError` when no skill is left (``!offer ---``)."""
    words = (rest or "").split()
    ended = _COLON_ENDED.match(rest or "")
    if ended is not None and not first.endswith(":"):
        return normalise_skill(f"{first} {ended.group(1)}"), ended.group(2).strip() or None
    tags = set(known)
    for n in range(min(MAX_SKILL_WORDS, len(words)), 0, -1):
        try:
            candidate = normalise_skill(" ".join([first, *words[:n]]))
        except SkillError:
            continue
        if candidate in tags:
            return candidate, " ".join(words[n:]) or None
    return normalise_skill(first), rest


def check_note(note: str | None) -> str | None:
    """A note as kept: stripped, None when empty, refused past :data:`MAX_NOTE_LENGTH`."""
    if note is None or not note.strip():
        return None
    cleaned = " ".join(note.split())
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise SkillError(
            "That note has {length} characters; a note is at most {most}. Nothing was kept.",
            length=f"{len(cleaned):,}",
            most=str(MAX_NOTE_LENGTH),
        )
    return cleaned


def check_ttl(ttl: timedelta) -> timedelta:
    """How long entries last, as an operator sets it."""
    if not MIN_ENTRY_TTL <= ttl <= MAX_ENTRY_TTL:
        raise ValueError("entries last between 1 day and 90 days")
    return ttl


def suggestions(typed: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known skills close to what was typed (``first-ade`` -> ``first-aid``), not itself."""
    candidates = [k for k in known if k != typed]
    return difflib.get_close_matches(typed, candidates, n=limit, cutoff=0.7)


# --- the board -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """An ask or an offer on a room's board."""

    id: int
    kind: Kind
    skill: str
    user: str
    note: str | None
    created_at: datetime
    expires_at: datetime

    def open(self, now: datetime) -> bool:
        return now < self.expires_at


@dataclass(frozen=True)
class BoardLine:
    """One skill on the board: how many offer it, how many ask for it."""

    skill: str
    offers: int
    asks: int


def board(entries: Iterable[Entry], now: datetime) -> list[BoardLine]:
    """Counts per skill of the open entries, busiest first, then by name."""
    offers: dict[str, int] = {}
    asks: dict[str, int] = {}
    for entry in entries:
        if not entry.open(now):
            continue
        counts = offers if entry.kind == "offer" else asks
        counts[entry.skill] = counts.get(entry.skill, 0) + 1
    skills = set(offers) | set(asks)
    lines = [BoardLine(s, offers.get(s, 0), asks.get(s, 0)) for s in skills]
    return sorted(lines, key=lambda b: (-(b.offers + b.asks), b.skill))


def matches_for(
    entry: Entry,
    others: Iterable[Entry],
    paired: Iterable[tuple[int, int]],
    now: datetime,
    limit: int = MAX_MATCHES_PER_ENTRY,
) -> list[tuple[Entry, Entry]]:
    """(ask, offer) pairs the new ``entry`` makes with open opposite entries of its skill by
    someone else, newest first, skipping pairs already made (``paired``: (ask id, offer id)).
    One pair per other person: two offers of the same person meet an ask once."""
    if not entry.open(now):
        return []
    done = set(paired)
    seen_people: set[str] = set()
    found: list[tuple[Entry, Entry]] = []
    opposite = "ask" if entry.kind == "offer" else "offer"
    for other in sorted(others, key=lambda e: (e.created_at, e.id), reverse=True):
        if other.kind != opposite or other.skill != entry.skill or other.user == entry.user:
            continue
        if not other.open(now) or other.user in seen_people:
            continue
        pair = (entry, other) if entry.kind == "ask" else (other, entry)
        if (pair[0].id, pair[1].id) in done:
            continue
        seen_people.add(other.user)
        found.append(pair)
        if len(found) >= limit:
            break
    return found


# --- consent -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """An ask met an offer. Each side answers yes (True) or no (False); None: not yet."""

    id: int
    skill: str
    asker: str
    offerer: str
    asker_yes: bool | None = None
    offerer_yes: bool | None = None

    def side_of(self, user: str) -> str:
        if user == self.asker:
            return "asker"
        if user == self.offerer:
            return "offerer"
        raise SkillError("Match {id} is not yours: I only ask the two people it concerns.", id=str(self.id))

    def other(self, user: str) -> str:
        return self.offerer if self.side_of(user) == "asker" else self.asker

    @property
    def outcome(self) -> Answer:
        if self.asker_yes is False or self.offerer_yes is False:
            return DECLINED
        if self.asker_yes and self.offerer_yes:
            return INTRODUCE
        return WAITING


def answer(match: Match, user: str, yes: bool) -> Match:
    """Record ``user``'s answer. A match that is decided (introduced or declined) does not
    change any more: a yes after a no reveals nothing, a no after both said yes is too late."""
    side = match.side_of(user)
    if match.outcome != WAITING:
        raise SkillError("Match {id} is already settled; nothing changed.", id=str(match.id))
    if side == "asker":
        return replace(match, asker_yes=yes)
    return replace(match, offerer_yes=yes)


# --- skills that open roles ----------------------------------------------------------------


@dataclass(frozen=True)
class Teachers:
    """Who could teach a skill: members holding it (out of the pool now) and open offers."""

    holders: tuple[str, ...] = ()
    offerers: tuple[str, ...] = ()


def role_pools(
    pool: Sequence[str],
    roles: Sequence[str],
    required: Mapping[str, str],
    holders: Mapping[str, Iterable[str]],
    teachers: Mapping[str, Teachers] | None = None,
) -> dict[str, tuple[str, ...]]:
    """role -> the pool members who may be drawn for it, for the roles that require a skill
    (``required``: role -> skill; ``holders``: skill -> who holds it). Roles without a
    requirement are absent (the whole pool may take them).

    A role whose pool would be empty is refused with a :class:`SkillError` that names the skill
    and who could teach it, so nothing is drawn half-way.
    """
    out: dict[str, tuple[str, ...]] = {}
    members = sorted(set(pool))
    for role in roles:
        skill = required.get(role)
        if skill is None:
            continue
        held = set(holders.get(skill, ()))
        eligible = tuple(m for m in members if m in held)
        if not eligible:
            raise no_holder_error(role, skill, (teachers or {}).get(skill, Teachers()))
        out[role] = eligible
    return out


def no_holder_error(role: str, skill: str, teachers: Teachers) -> SkillError:
    """Why a role cannot be drawn, and the way out: who could teach its skill."""
    if teachers.holders or teachers.offerers:
        who = sorted(set(teachers.holders) | set(teachers.offerers))
        return SkillError(
            "Nobody in the pool holds {skill}, which {role} requires, so {role} cannot be drawn. "
            "Who could teach it: {who}. Once someone has learned it, they type !learned {skill}. "
            "Nothing was drawn.",
            skill=skill,
            role=role,
            who=", ".join(who),
        )
    return SkillError(
        "Nobody in the pool holds {skill}, which {role} requires, so {role} cannot be drawn. Nobody "
        "here offers it yet: someone can ask with !ask {skill}. Once someone has learned it, they "
        "type !learned {skill}. Nothing was drawn.",
        skill=skill,
        role=role,
    )
