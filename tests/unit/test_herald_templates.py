"""Protocol templates: the schema, errors that name file/line/key, the shipped library, !local."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.herald.local import LOCAL_KEYS, LocalDetailError, local_value, validate_local
from protocols.herald.templates import (
    ALLOWED_VARIABLES,
    TemplateError,
    format_offset,
    load_library,
    load_template,
    parse_offset,
    parse_template,
    shipped_library,
)

GOOD = textwrap.dedent(
    """\
    name: test-protocol
    description: A protocol for tests.
    phases:
      - key: go
        offset: "-2h"
        title: Go
        message: "We start at $time ($zone) at ${meeting_point}."
        ack:
          needed: true
          within: 1h
      - key: start
        offset: "0"
        title: Start
        message: Now.
    """
)


def broken(text: str, tmp_path: Path, name: str = "broken.yaml") -> TemplateError:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), "utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(path)
    assert isinstance(info.value, RuleError)
    return info.value


def test_a_good_template_loads_with_phases_sorted_by_offset() -> None:
    text = GOOD.replace('offset: "-2h"', 'offset: "+4h"')
    template = parse_template(text, "good.yaml")
    assert [p.key for p in template.phases] == ["start", "go"]
    assert template.phase("go") is not None
    assert template.phase("go").offset == timedelta(hours=4)  # type: ignore[union-attr]
    assert template.phase("nope") is None


def test_shipped_library_has_both_real_templates() -> None:
    library = load_library([shipped_library()])
    national = library["national-day-of-action"]
    offsets = [format_offset(p.offset) for p in national.phases]
    assert offsets == ["T-1w", "T-1d", "T-2h", "T+0", "T+4h"]
    checklist = national.phase("checklist")
    assert checklist is not None and checklist.checklist
    assert any("Medic" in item for item in checklist.checklist)
    rapid = library["rapid-response"]
    assert [(p.key, p.offset) for p in rapid.phases] == [
        ("call", timedelta(0)),
        ("check", timedelta(minutes=30)),
        ("debrief", timedelta(hours=2)),
    ]
    assert all(p.ack.needed for p in rapid.phases)


def test_unknown_variable_names_file_line_and_key(tmp_path: Path) -> None:
    error = broken(
        """\
        name: test-protocol
        description: A protocol for tests.
        phases:
          - key: go
            offset: "-2h"
            title: Go
            message: "Meet at $meeting_spot"
        """,
        tmp_path,
    )
    (issue,) = error.issues
    assert issue.source.endswith("broken.yaml")
    assert issue.line == 7
    assert issue.key == "phases[0].message"
    assert "$meeting_spot" in issue.message
    assert "meeting_point" in issue.message  # the allowed set is named
    assert "broken.yaml, line 7, key phases[0].message" in str(error)


def test_a_misspelled_key_is_an_error_on_its_own_line(tmp_path: Path) -> None:
    error = broken(
        """\
        name: test-protocol
        description: A protocol for tests.
        phases:
          - key: go
            offset: "-2h"
            title: Go
            message: Go.
            ack:
              needed: true
              within: 1h
              escalte: [liaison]
        """,
        tmp_path,
    )
    (issue,) = error.issues
    assert (issue.line, issue.key) == (11, "phases[0].ack.escalte")
    assert "unknown key" in issue.message


def test_several_errors_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    error = broken(
        """\
        name: Test Protocol
        description: A protocol for tests.
        phases:
          - key: go
            offset: soon
            title: Go
            message: Go.
          - key: start
            offset: "0"
            message: Now.
        """,
        tmp_path,
    )
    found = {(i.line, i.key) for i in error.issues}
    assert (1, "name") in found
    assert (5, "phases[0].offset") in found
    # A missing key points at the item that lacks it.
    assert (8, "phases[1].title") in found
    offset_issue = next(i for i in error.issues if i.key == "phases[0].offset")
    assert "-7d" in offset_issue.message  # says how to write it


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = broken("name: x\ndescription: [unclosed\nphases: []\n", tmp_path)
    (issue,) = error.issues
    assert issue.line is not None and issue.line >= 2
    assert "not valid YAML" in issue.message


def test_a_repeated_yaml_key_is_an_error(tmp_path: Path) -> None:
    error = broken(GOOD + "name: other\n", tmp_path)
    (issue,) = error.issues
    assert (issue.line, issue.key, issue.message) == (15, "name", "key is repeated")


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (("key: start", "key: go"), "phases", "used twice"),
        (("within: 1h", "within: soon"), "phases[0].ack.within", "not a duration"),
        (("      within: 1h\n", ""), "phases[0].ack", "needs within"),
        (("needed: true", "needed: false"), "phases[0].ack", "only meaningful"),
        (("key: start", "key: amend-1"), "phases[1].key", "reserved"),
        (("key: start", "key: Start Now"), "phases[1].key", "not a phase key"),
        (("message: Now.", "message: 5$ only"), "phases[1].message", "$$"),
        (('offset: "0"', 'offset: "-100d"'), "phases[1].offset", "90 days"),
        (
            ("      within: 1h\n", "      within: 1h\n      escalate: [coordination, liaison]\n"),
            "phases[0].ack.escalate",
            "liaison, then coordination",
        ),
    ],
)
def test_rule_violations_point_at_the_key(change: tuple[str, str], key: str, words: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(TemplateError) as info:
        parse_template(text, "t.yaml")
    issue = next(i for i in info.value.issues if i.key == key)
    assert words in issue.message
    assert issue.line is not None and issue.source == "t.yaml"


def test_empty_and_non_mapping_files_are_refused() -> None:
    with pytest.raises(TemplateError, match="empty"):
        parse_template("", "e.yaml")
    with pytest.raises(TemplateError, match="mapping"):
        parse_template("- a\n- b\n", "l.yaml")


def test_library_reports_broken_files_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD, "utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, "utf-8")
    (tmp_path / "c.yaml").write_text(GOOD.replace("$time", "$hour"), "utf-8")
    with pytest.raises(TemplateError) as info:
        load_library([tmp_path])
    text = str(info.value)
    assert "b.yaml" in text and "already defined" in text and "a.yaml" in text
    assert "c.yaml, line 7" in text and "$hour" in text


def test_configured_folder_adds_to_the_shipped_library(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(GOOD, "utf-8")
    library = load_library([shipped_library(), tmp_path])
    assert {"national-day-of-action", "rapid-response", "test-protocol"} <= set(library)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-7d", -timedelta(days=7)),
        ("-2h", -timedelta(hours=2)),
        ("0", timedelta(0)),
        (0, timedelta(0)),
        ("+4h", timedelta(hours=4)),
        ("30m", timedelta(minutes=30)),
        ("-1d12h", -timedelta(hours=36)),
    ],
)
def test_parse_offset(text: object, expected: timedelta) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize("text", ["", "-", "+", "soon", "7", "--7d", 5, True, None, "-0d"])
def test_bad_offsets(text: object) -> None:
    with pytest.raises(ValueError):
        parse_offset(text)


@given(st.integers(min_value=-90 * 24 * 60, max_value=90 * 24 * 60))
def test_offsets_round_trip(minutes: int) -> None:
    delta = timedelta(minutes=minutes)
    assert parse_offset(format_offset(delta)[1:]) == delta


def test_every_allowed_variable_is_accepted() -> None:
    message = " ".join(f"${name}" for name in sorted(ALLOWED_VARIABLES))
    text = GOOD.replace("message: Now.", f'message: "{message}"')
    start = parse_template(text, "t.yaml").phase("start")
    assert start is not None and start.message == message


# --- !local set --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("meeting_point", "  Town hall\nsteps ", ("meeting_point", "Town hall steps")),
        ("Local-Contact", "@ana:example.org", ("local_contact", "@ana:example.org")),
        ("language", "pt-BR", ("language", "pt-BR")),
        ("timezone", "europe/paris", None),
        ("timezone", "Europe/Paris", ("timezone", "Europe/Paris")),
        ("timezone", "UTC", ("timezone", "UTC")),
    ],
)
def test_validate_local(key: str, value: str, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(LocalDetailError, match="time zone"):
            validate_local(key, value)
    else:
        assert validate_local(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("colour", "red", "meeting_point, local_contact, language, timezone"),
        ("meeting_point", "   ", "needs a value"),
        ("meeting_point", "x" * 201, "at most 200"),
        ("local_contact", "call\u200bme", "control characters"),
        ("timezone", "Mars/Olympus", "time zone"),
        ("timezone", "../etc/passwd", "time zone"),
        ("language", "fr; drop", "letters"),
    ],
)
def test_bad_local_details(key: str, value: str, words: str) -> None:
    with pytest.raises(LocalDetailError, match=words):
        validate_local(key, value)


def test_missing_local_details_say_how_to_set_them() -> None:
    assert local_value({"meeting_point": "Square"}, "meeting_point") == "Square"
    assert "!local set local_contact" in local_value({}, "local_contact")
    assert set(LOCAL_KEYS) == {"meeting_point", "local_contact", "language", "timezone"}
