"""Tier 1: what a protocol template says for the day of action: when its slots stop being drawn
by lottery (``slots_close``) and its intake survey (``survey``), checked when it loads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocols.herald.templates import TemplateError, parse_template

BASE = """\
name: city-march
description: A march with sign-ups.
phases:
  - key: checklist
    offset: "-3d"
    title: Checklist
    message: Check the roles.
    checklist: ["Marshal: 2", "Medic: 1"]
"""


def test_a_template_sets_its_slot_deadline_and_survey_or_leaves_them_unset() -> None:
    plain = parse_template(BASE, "plain.yaml")
    assert plain.slots_close is None and plain.survey is None
    text = (
        BASE + 'slots_close: "-1d"\nsurvey: [why, seats, {key: bus, prompt: "Which bus?", options: [a, b]}]\n'
    )
    template = parse_template(text, "march.yaml")
    assert template.slots_close == timedelta(days=-1)
    assert template.survey == ("why", "seats", {"key": "bus", "prompt": "Which bus?", "options": ["a", "b"]})


@pytest.mark.parametrize(
    ("survey", "says"),
    [
        ("[why, area, seats, access, language, why2]", "at most 5"),
        ("[why, why]", "asked twice"),
        ("[shoe_size]", "Unknown survey question"),
        ("[{key: bus, prompt: 'Which bus?', options: [only]}]", "2 to 12 options"),
        ("[{key: age, prompt: 'Age?', min: 5, max: 500}]", "min and max"),
    ],
)
def test_a_bad_survey_is_refused_when_the_template_loads_naming_the_key(survey: str, says: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(BASE + f"survey: {survey}\n", "march.yaml")
    assert "survey" in str(info.value) and says in str(info.value)


def test_a_bad_slot_deadline_is_refused() -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(BASE + "slots_close: soon\n", "march.yaml")
    assert "slots_close" in str(info.value)
