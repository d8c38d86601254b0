"""Translated renderers: a room's language changes the words, the dates (CLDR, in the room's
zone) and the plural forms, never the values; English keeps the suite's own compact forms."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import pytest

from bots.mirror.render import render_opened, render_status
from bots.runtime.converters import IntRange
from bots.runtime.errors import UsageError
from bots.runtime.i18n import duration, rendering, when
from bots.runtime.message import element_x_problems
from bots.runtime.router import Command, params_of
from tests.unit.test_mirror_render import NOW, ROUND

WARSAW = ZoneInfo("Europe/Warsaw")


def test_a_blind_mirror_announcement_reads_in_polish_with_a_polish_date() -> None:
    notice = render_opened(ROUND, "Kuchnia", WARSAW, timedelta(days=7), eligible=5)
    with rendering("pl", WARSAW):
        plain, html = notice.plain, notice.html
    assert (
        "Ślepe lustro k7m2qx jest otwarte: anonimowa refleksja o pracy pokoju Kuchnia, do czw., 23 kwi 2026 14:00 CEST."
        in plain
    )
    assert "Okres przechowywania: 1 tydzień, potem zostaną usunięte." in plain  # a week, in words
    assert "5 członków tego pokoju może wziąć udział" in plain  # the "many" form of 5
    assert element_x_problems(html) == []
    assert "Blind mirror k7m2qx is open" in notice.plain  # outside a rendering: English, as before
    assert "until 2026-04-23 14:00 CEST" in render_opened(ROUND, "Kuchnia", WARSAW, timedelta(days=7)).plain


def test_status_lines_nest_translated_parts() -> None:
    status = render_status([ROUND], NOW, ZoneInfo("UTC"))
    with rendering("de"):
        assert (
            status.plain
            == "• k7m2qx (über !b:x.org): offen bis Do., 23. Apr. 2026 12:00 UTC, braucht mindestens 3"
        )


def test_times_and_lengths_follow_the_language() -> None:
    with rendering("es", WARSAW):
        assert when(NOW).plain() == "lun, 20 abr 2026 14:00 CEST"
        assert duration(timedelta(minutes=90)).plain() == "1 hora 30 minutos"
    with rendering("en", WARSAW):
        assert (
            when(NOW).plain() == "2026-04-20 14:00 CEST"
            and duration(timedelta(minutes=90)).plain() == "1h30m"
        )


async def size(ctx: object, n: Annotated[int, IntRange(2, 9)]) -> None: ...


def test_a_bad_argument_is_explained_in_the_room_language() -> None:
    command = Command("cells size", "Cell size", size, "test", None, "any", params_of(size))
    with pytest.raises(UsageError) as refused:
        command.parse(["12"])
    with rendering("pl"):
        assert str(refused.value) == "12 jest poza zakresem: użyj liczby od 2 do 9. Użycie: !cells size <n>"
    assert str(refused.value) == "12 is out of range: use a number from 2 to 9. Usage: !cells size <n>"


def test_numbers_are_grouped_for_the_language_even_past_the_decimal_context() -> None:
    from bots.runtime.i18n import ngettext

    counted = ngettext("{n} voice", "{n} voices", 1234)
    with rendering("de"):
        assert counted.plain() == "1.234 voices"  # no German text in this catalogue: English words
    huge = ngettext("{n} voice", "{n} voices", 10**28)
    with rendering("pl"):
        assert huge.plain() == f"{10**28} voices"
