"""Every reply in the room's language: a gettext message catalogue (Babel), applied when a
message is rendered, not when it is built.

A feature writes its sentences with named placeholders, and the values may be spans::

    Message.of(_("Drawn for {role}: {holder}", role=bold(role), holder=mention(user)))
    Message.of(ngettext("{n} member is in the pool.", "{n} members are in the pool.", len(pool)))
    Message.of(_("Next: {when}.", when=when(instant)))

``_`` and ``ngettext`` return a :class:`Translatable`, a :class:`~bots.runtime.message.Span`
that looks itself up in the catalogue of the language being rendered. The host renders every
message it sends inside :func:`rendering` with the room's language and zone
(bots/runtime/i18n_rooms.py), so a feature never asks which language a room speaks, and a
translation may put the placeholders in any order. Numbers and times are formatted by Babel's
CLDR data for that language (:func:`when`: a time in the room's zone).

The catalogues are ``bots/locale/<lang>/LC_MESSAGES/affinity.po``, read as they are when first
needed (compiled in memory, no build step). A translation that is missing falls back to English;
one that names a placeholder the code does not give falls back to English too (and the
catalogue check in tests/unit/test_i18n_catalogue.py fails on both).
"""

from __future__ import annotations

import gettext
import io
import string
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import InvalidOperation
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.units import format_unit

from bots.runtime.ids import UserID
from bots.runtime.message import Span, escape
from protocols.timespec import format_duration, format_local

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "affinity"
DEFAULT = "en"
# The languages with a complete catalogue (English is the source language).
SHIPPED: tuple[str, ...] = ("en", "es", "pl", "de")
UTC = ZoneInfo("UTC")


class LanguageError(ValueError):
    """A language the suite has no catalogue for; the message names the ones it has."""


def check_language(code: str) -> str:
    """``"PL"``, ``"pl"``, ``"pl-PL"`` -> ``"pl"``; anything without a catalogue is refused,
    naming the shipped languages."""
    tag = code.strip().replace("_", "-")
    primary = tag.split("-")[0].lower()
    if primary in SHIPPED and len(tag) <= 16:
        return primary
    names = ", ".join(f"{lang} ({language_name(lang)})" for lang in SHIPPED)
    raise LanguageError(
        _(
            "'{code}' is not a language I speak: choose one of {names}. Nothing was changed.",
            code=code,
            names=names,
        )
    )


# Each shipped language by its own name (CLDR's), as its speakers look for it.
NAMES: dict[str, str] = {"en": "English", "es": "español", "pl": "polski", "de": "Deutsch"}


def language_name(language: str) -> str:
    """``pl`` -> ``polski``."""
    return NAMES.get(language) or str(Locale.parse(language).get_display_name(language))


@cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The translations of ``language`` (English: the identity). Read from the ``.po`` source."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        parsed = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


# -- the language being rendered ---------------------------------------------------------------


@dataclass(frozen=True)
class Rendering:
    language: str = DEFAULT
    zone: ZoneInfo = UTC

    @property
    def translations(self) -> gettext.NullTranslations:
        return catalogue(self.language)


_CURRENT: ContextVar[Rendering | None] = ContextVar("affinity_rendering", default=None)
_ENGLISH = Rendering()


def current() -> Rendering:
    return _CURRENT.get() or _ENGLISH


@contextmanager
def rendering(language: str = DEFAULT, zone: ZoneInfo = UTC) -> Iterator[Rendering]:
    """Render messages in ``language`` (times in ``zone``) inside the block."""
    token = _CURRENT.set(Rendering(language if language in SHIPPED else DEFAULT, zone))
    try:
        yield current()
    finally:
        _CURRENT.reset(token)


def translate(text: str) -> str:
    """A declared English text (a command's help, a feature's title) in the current language."""
    return current().translations.gettext(text) if text else text


# -- values inside a sentence ------------------------------------------------------------------

Value = str | int | Span


@dataclass(frozen=True)
class _Number(Span):
    value: int

    def plain(self) -> str:
        try:
            return format_decimal(self.value, locale=current().language)
        except InvalidOperation:  # beyond the decimal context (28 digits): as Python writes it
            return str(self.value)

    def html(self) -> str:
        return escape(self.plain())


@dataclass(frozen=True)
class _When(Span):
    instant: datetime
    zone: ZoneInfo | None

    def plain(self) -> str:
        r = current()
        zone = self.zone or r.zone
        if r.language == DEFAULT:  # the suite's own compact form: 2026-12-01 18:30 CET
            return format_local(self.instant, zone)
        local = self.instant.astimezone(zone)
        day = format_skeleton("yMMMEd", local, locale=r.language)
        clock = format_skeleton("Hm", local, locale=r.language)
        return f"{day} {clock} {local.strftime('%Z')}"

    def html(self) -> str:
        return escape(self.plain())


# CLDR's unit names, largest first; a length is said in the largest units it fills exactly.
_UNITS = (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


@dataclass(frozen=True)
class _Duration(Span):
    length: timedelta

    def plain(self) -> str:
        language = current().language
        if language == DEFAULT:  # the suite's own compact form: 90m, 2d, 1w
            return format_duration(self.length)
        seconds = max(0, int(self.length.total_seconds()))
        parts: list[str] = []
        for unit, size in _UNITS:
            if unit == "week" and seconds % size:
                continue  # "10 days" reads better than "1 week 3 days"
            count, seconds = divmod(seconds, size)
            if count:
                parts.append(format_unit(count, f"duration-{unit}", length="long", locale=language))
        return " ".join(parts) or format_unit(0, "duration-second", length="long", locale=language)

    def html(self) -> str:
        return escape(self.plain())


def when(instant: datetime, zone: ZoneInfo | None = None) -> Span:
    """A time as the room reads it: its language's date format (CLDR; English keeps the
    suite's ``2026-12-01 18:30 CET``), in ``zone`` or else the room's zone."""
    if instant.tzinfo is None:
        raise ValueError("when() needs an aware datetime")
    return _When(instant, zone)


def duration(length: timedelta) -> Span:
    """A length of time in the current language (``2 dni``, ``90 Minuten``; English keeps the
    suite's ``2d``), exact: in the largest units it fills."""
    return _Duration(length)


def _value(value: Value) -> Span:
    from bots.runtime.message import text

    if isinstance(value, Span):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        return text(str(value))
    return _Number(value)


# -- the translatable sentence ---------------------------------------------------------------


@dataclass(frozen=True)
class Translatable(Span):
    """A sentence looked up in the catalogue of the language being rendered."""

    msgid: str
    plural: str | None
    count: int | None
    values: tuple[tuple[str, Span], ...]

    def _template(self) -> str:
        t = current().translations
        if self.plural is not None:
            return t.ngettext(self.msgid, self.plural, self.count or 0)
        return t.gettext(self.msgid)

    def _pieces(self) -> list[str | Span]:
        values = dict(self.values)
        template = self._template()
        try:
            return _split(template, values)
        except (KeyError, ValueError):  # a broken translation: say it in English rather than not
            english = self.msgid if self.plural is None or self.count == 1 else self.plural
            return _split(english, values)

    def plain(self) -> str:
        return "".join(p if isinstance(p, str) else p.plain() for p in self._pieces())

    def html(self) -> str:
        return "".join(
            escape(p).replace("\n", "<br/>") if isinstance(p, str) else p.html() for p in self._pieces()
        )

    def users(self) -> tuple[UserID, ...]:
        return tuple(u for _, span in self.values for u in span.users())

    def __str__(self) -> str:
        return self.plain()


def _split(template: str, values: dict[str, Span]) -> list[str | Span]:
    pieces: list[str | Span] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            pieces.append(literal)
        if field is None:
            continue
        if spec or conversion or field not in values:
            raise KeyError(field)
        pieces.append(values[field])
    return pieces


def placeholders(template: str) -> set[str]:
    """The named placeholders of a sentence (``{role}`` -> ``role``); ValueError if malformed."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def _(msgid: str, **values: Value) -> Translatable:
    """A sentence to translate; ``{name}`` placeholders take ``values`` (text, numbers, spans)."""
    return Translatable(msgid, None, None, tuple((k, _value(v)) for k, v in values.items()))


def ngettext(singular: str, plural: str, n: int, **values: Value) -> Translatable:
    """A sentence whose form depends on ``n`` (the language's plural rules); ``{n}`` is ``n``."""
    values.setdefault("n", n)
    return Translatable(singular, plural, n, tuple((k, _value(v)) for k, v in values.items()))


@dataclass(frozen=True)
class _Catalogued(Span):
    text: str

    def plain(self) -> str:
        return translate(self.text)

    def html(self) -> str:
        return escape(self.plain()).replace("\n", "<br/>")


def catalogued(declared: str) -> Span:
    """A text declared elsewhere in English (a command's ``help``, a feature's ``title``),
    shown in the language being rendered. tests/unit/test_i18n_catalogue.py collects them."""
    return _Catalogued(declared)
