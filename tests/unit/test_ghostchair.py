"""Pure tests of the ghost chair: absent voices, the rotating reminder, gathering commands."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.ghostchair import render
from bots.ghostchair.render import GatheringLine
from protocols.errors import RuleError
from protocols.gathering import (
    MAX_GATHERINGS_PER_ROOM,
    GatheringOptions,
    check_room_capacity,
    describe_options,
    describe_schedule,
    next_step,
    parse_gathering,
    parse_gathering_id,
)
from protocols.ghostchair import (
    DEFAULT_ABSENT_VOICES,
    FRAMINGS,
    MAX_VOICE_LENGTH,
    MAX_VOICES,
    GhostChairError,
    add_voice,
    remove_voice,
    validate_voice,
)
from protocols.ghostchair import reminder as choose_reminder
from protocols.ghostchair import reminder_for_turn as choose_for_turn
from protocols.schedule import Once, Weekly

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)  # a Friday


# --- voices -------------------------------------------------------------------------------


def test_defaults_are_a_short_valid_set() -> None:
    assert 3 <= len(DEFAULT_ABSENT_VOICES) <= 8
    assert "the comrade in prison" in DEFAULT_ABSENT_VOICES
    assert all(validate_voice(v) == v for v in DEFAULT_ABSENT_VOICES)


def test_add_voice_cleans_and_appends() -> None:
    assert add_voice(("a",), "  the   night-shift worker \n") == ("a", "the night-shift worker")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_add_voice_refuses_empty(text: str) -> None:
    with pytest.raises(GhostChairError, match="!ghost add"):
        add_voice((), text)


def test_voice_length_limit() -> None:
    assert add_voice((), "x" * MAX_VOICE_LENGTH) == ("x" * MAX_VOICE_LENGTH,)
    with pytest.raises(GhostChairError, match=str(MAX_VOICE_LENGTH)):
        add_voice((), "x" * (MAX_VOICE_LENGTH + 1))


def test_voice_count_limit_and_duplicates() -> None:
    full = tuple(f"voice {n}" for n in range(MAX_VOICES))
    with pytest.raises(GhostChairError, match="remove one first"):
        add_voice(full, "one more")
    with pytest.raises(GhostChairError, match="already has a chair"):
        add_voice(("The Comrade in prison",), "the comrade in PRISON")


def test_remove_voice_by_one_based_index() -> None:
    voices = ("a", "b", "c")
    assert remove_voice(voices, "1") == (("b", "c"), "a")
    assert remove_voice(voices, 3) == (("a", "b"), "c")
    assert remove_voice(voices, " 2 ") == (("a", "c"), "b")


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("0", "choose 1 to 3"),
        ("4", "choose 1 to 3"),
        ("-1", "choose 1 to 3"),
        ("two", "not a number"),
        ("", "not a number"),
    ],
)
def test_remove_voice_refuses_bad_index(number: str, message: str) -> None:
    with pytest.raises(GhostChairError, match=message):
        remove_voice(("a", "b", "c"), number)


def test_remove_from_empty_list() -> None:
    with pytest.raises(GhostChairError, match="no absent voices"):
        remove_voice((), "1")


def test_errors_are_rule_errors() -> None:
    assert issubclass(GhostChairError, RuleError)


def render_voices(voices: tuple[str, ...]) -> tuple[str, str]:
    msg = render.voices_list(voices)
    return msg.plain, msg.html


def reminder(voices: tuple[str, ...], rotation: int, framing: int, late: bool = False) -> tuple[str, str]:
    msg = render.reminder(choose_reminder(voices, rotation, framing, late))
    return msg.plain, msg.html


def reminder_for_turn(voices: tuple[str, ...], turn: int) -> tuple[str, str]:
    msg = render.reminder(choose_for_turn(voices, turn))
    return msg.plain, msg.html


def test_render_voices_numbers_and_escapes() -> None:
    plain, rich = render_voices(("a <b>", "c"))
    assert "1. a <b>" in plain and "2. c" in plain
    assert "<li>a &lt;b&gt;</li>" in rich and rich.count("<li>") == 2
    assert "!ghost add" in render_voices(())[0]


# --- reminder -----------------------------------------------------------------------------


def test_framings_are_few_and_each_names_one_voice() -> None:
    assert 4 <= len(FRAMINGS) <= 6
    for framing in FRAMINGS:
        fields = [f for _, f, _, _ in string.Formatter().parse(framing) if f is not None]
        assert fields == ["voice"]


def test_reminder_rotates_voice_and_framing() -> None:
    voices = ("the comrade in prison", "the parent at home")
    plain0, _ = reminder(voices, 0, 0)
    assert plain0 == "🪑 " + FRAMINGS[0].format(voice="the comrade in prison")
    assert "the parent at home" in reminder(voices, 1, 0)[0]
    assert "the comrade in prison" in reminder(voices, 2, 0)[0]  # wraps around
    assert reminder(voices, 0, len(FRAMINGS))[0] == plain0
    assert FRAMINGS[1].format(voice="the parent at home") in reminder(voices, 3, 1)[0]


def test_reminder_html_escapes_and_marks_late() -> None:
    plain, rich = reminder(("<script>x</script>",), 0, 0, late=True)
    assert "<script>" not in rich and "<em>&lt;script&gt;x&lt;/script&gt;</em>" in rich
    assert "late" in plain and "late" in rich
    assert "late" not in reminder(("a",), 0, 0)[0]


def test_reminder_with_no_voices_still_keeps_the_chair() -> None:
    plain, _ = reminder((), 5, 2)
    assert "those who are not here" in plain


@given(count=st.integers(1, MAX_VOICES))
def test_reminder_for_turn_meets_every_pair(count: int) -> None:
    voices = tuple(f"v{n}" for n in range(count))
    seen = {reminder_for_turn(voices, turn)[0] for turn in range(count * len(FRAMINGS))}
    expected = {reminder(voices, v, f)[0] for v in range(count) for f in range(len(FRAMINGS))}
    assert seen == expected


# --- gathering commands -------------------------------------------------------------------


def test_parse_every_with_room_zone() -> None:
    spec = parse_gathering("every Tuesday 19:00", PARIS, NOW)
    assert spec.schedule == Weekly(1, time(19, 0), PARIS)
    assert spec.options == GatheringOptions()
    assert not spec.zone_given


def test_parse_every_with_zone_and_options() -> None:
    spec = parse_gathering(
        "every thu 18:30 America/New_York draw remind 2h care 90m until 2026-09-30", PARIS, NOW
    )
    assert spec.schedule == Weekly(3, time(18, 30), NEW_YORK, date(2026, 9, 30))
    assert spec.options == GatheringOptions(
        draw=True, remind_before=timedelta(hours=2), care_after=timedelta(minutes=90)
    )
    assert spec.zone_given
    assert describe_options(spec.options) == "draw remind 2h care 1h30m"


def test_parse_at() -> None:
    spec = parse_gathering("at 2026-05-02 18:00 care 1h", PARIS, NOW)
    assert spec.schedule == Once(datetime(2026, 5, 2, 16, 0, tzinfo=UTC), PARIS)
    assert spec.options.care_after == timedelta(hours=1)
    spec = parse_gathering("at 2026-05-02 18:00 UTC draw", PARIS, NOW)
    assert spec.schedule == Once(datetime(2026, 5, 2, 18, 0, tzinfo=UTC), ZoneInfo("UTC"))
    assert spec.options.draw and spec.zone_given


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("", "!gathering every"),
        ("sometimes", "!gathering every"),
        ("every", "!gathering every"),
        ("every funday 19:00", "not a weekday"),
        ("every tue 25:00", "HH:MM"),
        ("every tue 19:00 Mars/Olympus", "not a time zone"),
        ("every tue 19:00 draw loudly", "'loudly' is not understood"),
        ("every tue 19:00 remind", "needs a value"),
        ("every tue 19:00 remind soon", "not a duration"),
        ("every tue 19:00 remind 8d", "at most 6d"),
        ("every tue 19:00 care 3d", "at most 2d"),
        ("every tue 19:00 until 2026-04-30", "already passed"),
        ("every tue 19:00 until 2026-02-30", "not a date"),
        ("every tue 19:00 until 2026-05-01", "No tuesday at 19:00 is left"),
        ("at 2026-05-01 11:00", "already passed"),
        ("at 2026-05-01", "!gathering at"),
        ("at tomorrow 18:00", "not a time"),
        ("at 2026-03-29 02:30", "does not exist"),
        ("at 2026-06-01 18:00 until 2026-07-01", "only for weekly"),
    ],
)
def test_parse_gathering_refuses(args: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_gathering(args, PARIS, NOW)


def test_parse_gathering_id() -> None:
    assert parse_gathering_id("12") == 12
    assert parse_gathering_id("#7") == 7
    for bad in ("", "0", "-3", "abc", "1.5"):
        with pytest.raises(GhostChairError, match="!gathering cancel <id>"):
            parse_gathering_id(bad)


def test_room_capacity() -> None:
    check_room_capacity(MAX_GATHERINGS_PER_ROOM - 1)
    with pytest.raises(GhostChairError, match="cancel one first"):
        check_room_capacity(MAX_GATHERINGS_PER_ROOM)


# --- texts --------------------------------------------------------------------------------


def test_describe_and_render_gatherings() -> None:
    weekly = Weekly(1, time(19, 0), PARIS, date(2026, 9, 30))
    assert describe_schedule(weekly) == "every tuesday 19:00 Europe/Paris until 2026-09-30"
    once = Once(datetime(2026, 5, 2, 16, tzinfo=UTC), PARIS)
    assert describe_schedule(once) == "once, 2026-05-02 18:00 CEST"
    listing = render.gatherings_list(
        [
            GatheringLine(3, weekly, GatheringOptions(draw=True), datetime(2026, 5, 5, 17, tzinfo=UTC)),
            GatheringLine(4, once, GatheringOptions(), None),
        ],
        PARIS,
    )
    plain, rich = listing.plain, listing.html
    assert "#3: every tuesday 19:00 Europe/Paris until 2026-09-30; draw; next 2026-05-05 19:00 CEST" in plain
    assert "#4: once" in plain and "next none" in plain
    assert rich.count("<li>") == 2 and "<table" not in rich  # one entry each, no table
    assert "!gathering every" in render.gatherings_list([], PARIS).plain


def test_missed_note_summarises() -> None:
    one = render.missed_note([datetime(2026, 5, 5, 17, tzinfo=UTC)], PARIS).plain
    assert "2026-05-05 19:00 CEST" in one
    many = render.missed_note(
        [
            datetime(2026, 4, 21, 17, tzinfo=UTC),
            datetime(2026, 4, 28, 17, tzinfo=UTC),
            datetime(2026, 5, 5, 17, tzinfo=UTC),
        ],
        PARIS,
    ).plain
    assert "3 gatherings" in many and "2026-04-21 19:00 CEST" in many and "2026-05-05" in many
    with pytest.raises(ValueError):
        render.missed_note([], PARIS)


def test_before_and_care_texts() -> None:
    plain = render.heads_up(datetime(2026, 5, 5, 17, tzinfo=UTC), PARIS).plain
    assert "2026-05-05 19:00 CEST" in plain
    assert "care" in render.care_check_in().plain.lower()


# --- steps of a gathering -----------------------------------------------------------------


def _steps(spec_args: str, count: int) -> list[tuple[str, datetime, datetime]]:
    spec = parse_gathering(spec_args, PARIS, NOW)
    found: list[tuple[str, datetime, datetime]] = []
    after = NOW
    for _ in range(count):
        step = next_step(spec.schedule, spec.options, after, NOW)
        if step is None:
            break
        found.append((step.kind, step.occurrence, step.due))
        after = step.due
    return found


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_steps_of_a_weekly_gathering_in_order() -> None:
    first, second = utc(2026, 5, 5, 17), utc(2026, 5, 12, 17)
    assert _steps("every tue 19:00 remind 1h care 2h", 4) == [
        ("remind", first, utc(2026, 5, 5, 16)),
        ("start", first, first),
        ("care", first, utc(2026, 5, 5, 19)),
        ("remind", second, utc(2026, 5, 12, 16)),
    ]
    assert _steps("every tue 19:00", 2) == [("start", first, first), ("start", second, second)]


def test_steps_end_with_the_schedule() -> None:
    at = utc(2026, 5, 2, 6)
    assert _steps("at 2026-05-02 08:00 remind 1d care 1h", 5) == [
        ("start", at, at),  # the reminder a day before was due before the gathering existed
        ("care", at, utc(2026, 5, 2, 7)),
    ]
    assert [kind for kind, _, _ in _steps("at 2026-05-02 18:00 remind 1d care 1h", 5)] == [
        "remind",
        "start",
        "care",
    ]
    last = utc(2026, 5, 5, 17)
    assert _steps("every tue 19:00 until 2026-05-05", 5) == [("start", last, last)]


def test_no_care_for_a_gathering_held_before_it_was_scheduled() -> None:
    spec = parse_gathering("every fri 11:00 care 2h", PARIS, NOW)  # Friday 11:00 Paris = 09:00Z
    step = next_step(spec.schedule, spec.options, NOW, NOW)
    assert step is not None and (step.kind, step.occurrence) == ("start", utc(2026, 5, 8, 9))


def test_ties_put_the_reminder_first() -> None:
    spec = parse_gathering("every tue 19:00 remind 2h care 1h", PARIS, NOW)
    after = utc(2026, 5, 5, 17, 30)
    step = next_step(spec.schedule, spec.options, after, NOW)
    assert step is not None and step.kind == "care" and step.due == utc(2026, 5, 5, 18)
    # Care one day after this week's and the reminder six days before next week's: a tie.
    tie = next_step(
        Weekly(1, time(19, 0), PARIS),
        GatheringOptions(remind_before=timedelta(days=6), care_after=timedelta(days=1)),
        utc(2026, 5, 5, 18),
        NOW,
    )
    assert tie is not None and tie.kind == "remind" and tie.due == utc(2026, 5, 6, 17)


# --- the command grammar ------------------------------------------------------------------


def test_the_grammar_reads_a_gathering_as_parse_gathering_does() -> None:
    from protocols.gathering import (
        ZoneAndOptions,
        one_off_gathering,
        parse_zone_and_options,
        weekly_gathering,
    )

    extra = parse_zone_and_options("America/New_York draw remind 2h until 2026-09-30".split(), weekly=True)
    assert extra == ZoneAndOptions(
        NEW_YORK, GatheringOptions(draw=True, remind_before=timedelta(hours=2)), date(2026, 9, 30)
    )
    assert weekly_gathering(3, time(18, 30), extra, PARIS, NOW) == parse_gathering(
        "every thu 18:30 America/New_York draw remind 2h until 2026-09-30", PARIS, NOW
    )
    none = parse_zone_and_options([], weekly=False)
    assert one_off_gathering(date(2026, 5, 2), time(18, 0), none, PARIS, NOW) == parse_gathering(
        "at 2026-05-02 18:00", PARIS, NOW
    )
    with pytest.raises(GhostChairError, match="only for weekly"):
        parse_zone_and_options(["until", "2026-09-30"], weekly=False)


def test_the_grammar_explains_a_bad_word() -> None:
    from bots.ghostchair.grammar import GatheringId, VoiceNumber, Weekday
    from bots.runtime.converters import ArgumentError, converter_for

    for annotation, word, message in (
        (Weekday, "funday", "'funday' is not a weekday"),
        (VoiceNumber, "x", "'x' is not a number"),
        (GatheringId, "²", "is not a gathering id"),
    ):
        convert = converter_for(annotation)[0].convert
        with pytest.raises(ArgumentError, match=message):
            convert(word)
    assert converter_for(Weekday)[0].convert("Tue") == 1


def test_the_ritual_words_said_are_the_rules_words() -> None:
    """The catalogue's framings and default voices (bots/ghostchair/render.py) are exactly the
    English the rules rotate through, in the same order; English is said as before."""
    from protocols.ghostchair import NO_VOICE, Reminder

    assert [render.framed(i, "x").msgid for i in range(len(FRAMINGS))] == list(FRAMINGS)
    assert [v.msgid for v in render.DEFAULT_VOICES_SAID] == list(DEFAULT_ABSENT_VOICES)
    assert render.NO_VOICE_SAID.msgid == NO_VOICE
    for framing in FRAMINGS:
        chosen = Reminder(framing, DEFAULT_ABSENT_VOICES[0])
        assert render.reminder(chosen).plain == chosen.text
    spec = parse_gathering("every tue 19:00 draw remind 2h care 90m", PARIS, NOW)
    assert (
        str(render.options_said(spec.options))
        == describe_options(spec.options)
        == "draw remind 2h care 1h30m"
    )
