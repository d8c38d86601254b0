"""Day-of-action protocol templates: their schema, and loading them from YAML with exact errors.

A template is a named list of phases at offsets from the action time (``-7d``, ``-2h``, ``0``,
``+4h``). Each phase carries a message written with ``string.Template`` variables (``$date``,
``${meeting_point}``), an optional checklist for every local group, and an acknowledgement rule.
The set of variables is closed: a template naming any other variable is refused when it is loaded,
not discovered on the day of action. A broken file gets an error naming the file, the line and the
key, because the person fixing it is an operator with a text editor, not a Python traceback reader.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from protocols.dayofaction.intake import survey as intake_survey
from protocols.herald.template_issues import (
    TemplateError,
    TemplateIssue,
    clean_message,
    dotted,
    has_child,
    line_for,
    line_map,
)
from protocols.timespec import TimeSpecError, format_duration, parse_duration

# What a message may name. Time words are rendered in the room's own zone; local details come
# from ``!local set``. Keep in step with ``render_variables`` in plan.py.
ALLOWED_VARIABLES: frozenset[str] = frozenset(
    {
        "date",  # action date, room's zone: 2026-05-01
        "time",  # action time, room's zone: 14:00
        "weekday",  # action weekday, room's zone: Friday
        "zone",  # the room's zone abbreviation at the action time: CEST
        "when",  # date, time and zone together: 2026-05-01 14:00 CEST
        "phase_time",  # when this phase goes out, room's zone
        "meeting_point",
        "local_contact",
        "language",
        "timezone",  # the room's IANA zone name
        "coalition",
        "run_id",
        "template",
    }
)

EscalationAction = Literal["liaison", "coordination"]
ESCALATION_ACTIONS: tuple[EscalationAction, ...] = ("liaison", "coordination")
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
# Offsets beyond this are surely typos (a protocol is about one day of action, not a season).
MAX_OFFSET = timedelta(days=90)


def parse_offset(value: object) -> timedelta:
    """``"-7d"`` -> minus seven days, ``"+4h"`` -> four hours, ``"0"`` (or 0) -> zero."""
    if isinstance(value, bool):  # bool is an int; "true" is no offset
        raise ValueError("an offset is text like -7d, -2h, 0 or +4h")
    if isinstance(value, int) and value == 0:
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError("an offset is text like -7d, -2h, 0 or +4h")
    text = value.strip()
    if text in {"0", "+0", "-0"}:
        return timedelta(0)
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" and text else text
    try:
        delta = parse_duration(body)
    except TimeSpecError as exc:
        raise ValueError(
            f"'{value}' is not an offset: use a sign, a number and a unit, like -7d, -2h, 0 or +4h"
        ) from exc
    if delta > MAX_OFFSET:
        raise ValueError(f"'{value}' is too far from the action: at most 90 days")
    return sign * delta


def format_offset(delta: timedelta) -> str:
    """The inverse of :func:`parse_offset`: ``T-7d``, ``T+0``, ``T+4h``."""
    if delta == timedelta(0):
        return "T+0"
    sign = "-" if delta < timedelta(0) else "+"
    return f"T{sign}{format_duration(abs(delta))}"


def _parse_window(value: object) -> timedelta:
    if not isinstance(value, str):
        raise ValueError("a duration is text like 30m, 2h or 1d")
    try:
        return parse_duration(value)
    except TimeSpecError as exc:
        raise ValueError(str(exc)) from exc


def template_variables(text: str) -> set[str]:
    """The variables a message names; an invalid ``$`` use is an error (write ``$$`` for $)."""
    tmpl = string.Template(text)
    if not tmpl.is_valid():
        raise ValueError(
            "a '$' is not followed by a variable name: write $$ for a dollar sign, "
            "or $name / ${name} for a variable"
        )
    return set(tmpl.get_identifiers())


def _check_variables(text: str) -> str:
    unknown = template_variables(text) - ALLOWED_VARIABLES
    if unknown:
        raise ValueError(
            f"unknown variable {', '.join('$' + v for v in sorted(unknown))}; "
            f"allowed: {', '.join(sorted(ALLOWED_VARIABLES))}"
        )
    return text


Offset = Annotated[timedelta, BeforeValidator(parse_offset)]
Window = Annotated[timedelta, BeforeValidator(_parse_window)]


class AckRule(BaseModel):
    """Whether rooms must acknowledge a phase, by when, and whom to tell if they do not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    needed: bool = False
    within: Window | None = None
    # Step 1 at the deadline, step 2 half a window later; the order is fixed on purpose:
    # first the room's own liaison, and only then the whole coordination room.
    escalate: tuple[EscalationAction, ...] = ESCALATION_ACTIONS

    @field_validator("escalate")
    @classmethod
    def _escalate_order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value) or list(value) != sorted(value, key=ESCALATION_ACTIONS.index):
            raise ValueError("escalate lists liaison, then coordination, each at most once")
        return value

    @model_validator(mode="after")
    def _window_with_need(self) -> AckRule:
        if self.needed and self.within is None:
            raise ValueError("needed: true also needs within: (how long rooms have, e.g. 2h)")
        if not self.needed and self.within is not None:
            raise ValueError("within: is only meaningful with needed: true")
        return self


_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$")


class PhaseText(BaseModel):
    """A phase's words in one language (``texts: {pl: {title, message, checklist}}``); what a
    translation leaves out is said in the template's own words."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = Field(default=None, min_length=1, max_length=80)
    message: str | None = Field(default=None, min_length=1, max_length=4000)
    checklist: tuple[str, ...] | None = None

    @field_validator("message")
    @classmethod
    def _message_variables(cls, value: str | None) -> str | None:
        return None if value is None else _check_variables(value)

    @field_validator("checklist")
    @classmethod
    def _checklist_items(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _checked_items(value)


def _checked_items(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        if not item.strip() or len(item) > 200 or "\n" in item.strip():
            raise ValueError("each checklist item is one line of 1 to 200 characters")
        _check_variables(item)
    return value


class Phase(BaseModel):
    """One message to every member room at ``offset`` from the action time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    offset: Offset
    title: str = Field(min_length=1, max_length=80)
    message: str = Field(min_length=1, max_length=4000)
    checklist: tuple[str, ...] = ()
    ack: AckRule = AckRule()
    # The phase in other languages, by language tag (pl, de, pt-BR): a room whose language has
    # a text gets it (protocols/herald/plan.py), any other room the words above.
    texts: dict[str, PhaseText] = Field(default_factory=dict)

    @field_validator("key")
    @classmethod
    def _key_shape(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError(f"'{value}' is not a phase key: use lower-case letters, digits, - or _ (max 32)")
        if value.startswith(("amend", "cancel")):
            raise ValueError(f"'{value}' is reserved for amendments and stand-downs")
        return value

    @field_validator("message")
    @classmethod
    def _message_variables(cls, value: str) -> str:
        return _check_variables(value)

    @field_validator("checklist")
    @classmethod
    def _checklist_items(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _checked_items(value)

    @field_validator("texts")
    @classmethod
    def _language_tags(cls, value: dict[str, PhaseText]) -> dict[str, PhaseText]:
        for tag in value:
            if not _LANGUAGE_TAG.match(tag):
                raise ValueError(f"'{tag}' is not a language tag: use one like pl, de or pt-BR")
        return value

    @model_validator(mode="after")
    def _whole_checklists(self) -> Phase:
        for tag, text in self.texts.items():
            if text.checklist is not None and len(text.checklist) != len(self.checklist):
                raise ValueError(
                    f"the {tag} text's checklist has {len(text.checklist)} items, the phase's "
                    f"{len(self.checklist)}: translate each item, or leave the checklist out"
                )
        return self

    def in_language(self, language: str) -> Phase:
        """The phase as a room speaking ``language`` reads it: its text in that language (the
        exact tag, else the language without its region), else the template's own words."""
        text = self.texts.get(language) or self.texts.get(language.split("-")[0])
        if text is None:
            return self
        return self.model_copy(
            update={
                "title": text.title or self.title,
                "message": text.message or self.message,
                "checklist": self.checklist if text.checklist is None else text.checklist,
            }
        )


class ProtocolTemplate(BaseModel):
    """A whole protocol: phases in time order around the action time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = Field(min_length=1, max_length=1000)
    phases: tuple[Phase, ...] = Field(min_length=1, max_length=20)
    # The day of action's sign-up slots (checklist items like ``marshal: 2``): until this offset
    # from the action time an over-subscribed slot is drawn by lottery, then first come (unset:
    # when the first phase with a checklist goes out). The intake survey: at most five questions,
    # standard keys (why, area, seats, access, language) or {key, prompt, options | min, max}.
    slots_close: Offset | None = None
    survey: tuple[str | dict[str, Any], ...] | None = None

    @field_validator("survey")
    @classmethod
    def _survey_shape(
        cls, value: tuple[str | dict[str, Any], ...] | None
    ) -> tuple[str | dict[str, Any], ...] | None:
        if value is not None:
            intake_survey(value)  # an IntakeError is a ValueError: the loader names the key
        return value

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"'{value}' is not a template name: use lower-case letters, digits and -")
        return value

    @field_validator("phases")
    @classmethod
    def _distinct_keys(cls, value: tuple[Phase, ...]) -> tuple[Phase, ...]:
        seen: set[str] = set()
        for phase in value:
            if phase.key in seen:
                raise ValueError(f"phase key '{phase.key}' is used twice: keys must be distinct")
            seen.add(phase.key)
        # Sorted by offset so every consumer sees the phases in the order they happen.
        return tuple(sorted(value, key=lambda p: p.offset))

    def phase(self, key: str) -> Phase | None:
        return next((p for p in self.phases if p.key == key), None)


# --- loading ------------------------------------------------------------------------------


def parse_template(text: str, source: str) -> ProtocolTemplate:
    """Validate one template from YAML text; ``source`` names the file in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise TemplateError([TemplateIssue(source, line, "", f"not valid YAML: {problem}")]) from exc
    if node is None:
        raise TemplateError([TemplateIssue(source, None, "", "the file is empty")])
    lines, issues = line_map(node, source)
    if issues:
        raise TemplateError(issues)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TemplateError([TemplateIssue(source, 1, "", "a template is a mapping of keys")])
    try:
        return ProtocolTemplate.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        locs = [tuple(err["loc"]) for err in errors]
        found = [
            TemplateIssue(source, line_for(loc, lines), dotted(loc), clean_message(dict(err)))
            for err, loc in zip(errors, locs, strict=True)
            # pydantic also calls a list "too short" when its broken items were dropped;
            # the items' own errors are the ones worth reading.
            if not (err["type"] == "too_short" and has_child(loc, locs))
        ]
        raise TemplateError(found) from exc


def load_template(path: Path) -> ProtocolTemplate:
    """Read and validate one template file."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError([TemplateIssue(str(path), None, "", f"cannot read: {exc}")]) from exc
    return parse_template(text, str(path))


def shipped_library() -> Path:
    """The folder of templates that ship with the suite (``protocols/library``)."""
    return Path(str(resources.files("protocols") / "library"))


def load_library(folders: Iterable[Path]) -> dict[str, ProtocolTemplate]:
    """Every ``*.yaml`` template in ``folders``, by name.

    All broken files are reported together; two files defining one name are an error (naming
    both), since silently preferring one would run a protocol nobody chose.
    """
    templates: dict[str, ProtocolTemplate] = {}
    origin: dict[str, Path] = {}
    issues: list[TemplateIssue] = []
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            try:
                template = load_template(path)
            except TemplateError as exc:
                issues.extend(exc.issues)
                continue
            if template.name in templates:
                issues.append(
                    TemplateIssue(
                        str(path),
                        None,
                        "name",
                        f"template '{template.name}' is already defined in {origin[template.name]}",
                    )
                )
                continue
            templates[template.name] = template
            origin[template.name] = path
    if issues:
        raise TemplateError(issues)
    return templates
