"""A protocol template may carry each phase in other languages: a room gets its language's text,
else the template's own; a broken translation is refused when the template is loaded, naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bots.herald.render_phases import say
from protocols.herald import MemberRoom
from protocols.herald.plan import make_plan
from protocols.herald.templates import TemplateError, parse_template

TEMPLATE = """
name: march
description: A march.
phases:
  - key: gather
    offset: -1h
    title: Gather
    message: Meet at $meeting_point at $time.
    checklist: [Water, Banners]
    texts:
      pl:
        title: Zbiórka
        message: Spotkanie w miejscu $meeting_point o $time.
        checklist: [Woda, Transparenty]
      de:
        message: Treffpunkt $meeting_point um $time.
"""
NOW = datetime(2030, 5, 1, 12, tzinfo=UTC)


def _rooms(*languages: str) -> list[MemberRoom]:
    zone = ZoneInfo("Europe/Warsaw")
    return [
        MemberRoom(f"!r{i}:x.org", zone, {"meeting_point": "Plac Zamkowy", "language": lang})
        for i, lang in enumerate(languages)
    ]


def test_each_room_gets_its_language_else_the_default() -> None:
    template = parse_template(TEMPLATE, "march.yaml")
    plan = make_plan(
        "run1", template, NOW + timedelta(days=2), _rooms("pl", "de-AT", "es", "en"), NOW, render=say
    )
    by_room = {m.room_id: m for m in plan}
    polish, austrian, spanish, english = (by_room[f"!r{i}:x.org"] for i in range(4))
    assert "📣 Zbiórka" in polish.body and "Spotkanie w miejscu Plac Zamkowy o 14:00." in polish.body
    assert "☐ Woda" in polish.body and "<li>☐ Transparenty</li>" in polish.html
    assert (
        "📣 Gather" in austrian.body and "Treffpunkt Plac Zamkowy um 14:00." in austrian.body
    )  # de, title default
    assert "☐ Water" in austrian.body
    assert (
        "Meet at Plac Zamkowy at 14:00." in spanish.body and "Meet at" in english.body
    )  # no es text: default
    assert len({m.txn_id for m in plan}) == 4  # one message per room, whatever its language


@pytest.mark.parametrize(
    "line,broken,named",
    [
        ("$meeting_point o $time.", "$meeting_point o $godzina.", "unknown variable $godzina"),
        ("[Woda, Transparenty]", "[Woda]", "the pl text's checklist has 1 items, the phase's 2"),
        ("title: Zbiórka", "colour: red", "colour"),
    ],
)
def test_a_broken_translation_is_refused_naming_it(line: str, broken: str, named: str) -> None:
    text = TEMPLATE.replace(line, broken)
    with pytest.raises(TemplateError) as refused:
        parse_template(text, "march.yaml")
    said = str(refused.value)
    assert named in said and "march.yaml" in said
    assert "texts" in said or "pl" in said


def test_a_bad_language_tag_is_refused() -> None:
    with pytest.raises(TemplateError) as refused:
        parse_template(TEMPLATE.replace("      de:\n", "      Deutsch!:\n"), "march.yaml")
    assert "'Deutsch!' is not a language tag" in str(refused.value)
