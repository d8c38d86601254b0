"""Tier 1: declined apart from silent on the board; escalation liaison -> backup -> coordination;
liaison hand-off at mandate end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.dayofaction import autonomy as a
from protocols.dayofaction import liaisons as li

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_board_tells_declined_from_silent_and_pending() -> None:
    due = NOW - timedelta(minutes=1)
    assert a.room_state(declined=True, acked_at=None, ack_due=due, now=NOW) is a.RoomState.DECLINED
    assert a.room_state(declined=False, acked_at=None, ack_due=due, now=NOW) is a.RoomState.SILENT
    assert (
        a.room_state(declined=False, acked_at=None, ack_due=NOW + timedelta(hours=1), now=NOW)
        is a.RoomState.PENDING
    )
    assert a.room_state(declined=False, acked_at=NOW, ack_due=due, now=NOW) is a.RoomState.ACKED
    tally = a.tally([a.RoomState.DECLINED, a.RoomState.SILENT, a.RoomState.SILENT])
    assert (
        tally[a.RoomState.DECLINED] == 1 and tally[a.RoomState.SILENT] == 2 and tally[a.RoomState.ACKED] == 0
    )


def test_a_declined_room_gets_no_phase_and_no_escalation() -> None:
    assert a.recipients(["!a", "!b", "!c"], ["!b"]) == ["!a", "!c"]
    chain = a.escalation_chain(
        room="!b", declined=["!b"], liaison="@l", backup="@k", coordination_rooms=["!co"]
    )
    assert chain == []


def test_escalation_goes_liaison_then_backup_then_coordination_nobody_twice_never_the_bot() -> None:
    chain = a.escalation_chain(
        room="!a", declined=[], liaison="@l", backup="@k", coordination_rooms=["!co", "!co2", "!co"]
    )
    assert [(t.kind, t.id) for t in chain] == [
        ("liaison", "@l"),
        ("backup", "@k"),
        ("coordination", "!co"),
        ("coordination", "!co2"),
    ]
    same = a.escalation_chain(room="!a", declined=[], liaison="@l", backup="@l", coordination_rooms=["!co"])
    assert [t.kind for t in same] == ["liaison", "coordination"]
    bot = a.escalation_chain(
        room="!a", declined=[], liaison="@bot", backup=None, coordination_rooms=["!co"], exclude=["@bot"]
    )
    assert [t.kind for t in bot] == ["coordination"]
    assert a.step_due(chain, 1) == a.Target("backup", "@k") and a.step_due(chain, 9) is None


def test_only_the_rooms_liaison_or_a_moderator_declines_and_only_for_its_own_room() -> None:
    a.check_decline(
        command_room="!a", target_room="!a", sender="@l", liaison="@l", sender_power=0, moderator_power=50
    )
    a.check_decline(
        command_room="!a", target_room="!a", sender="@m", liaison="@l", sender_power=50, moderator_power=50
    )
    with pytest.raises(a.AutonomyError, match="only for itself"):
        a.check_decline(
            command_room="!a",
            target_room="!b",
            sender="@l",
            liaison="@l",
            sender_power=100,
            moderator_power=50,
        )
    with pytest.raises(a.AutonomyError, match="liaison or a moderator"):
        a.check_decline(
            command_room="!a", target_room="!a", sender="@x", liaison="@l", sender_power=0, moderator_power=50
        )


def test_notes_and_reasons_are_bounded_and_a_coalition_is_named_when_ambiguous() -> None:
    with pytest.raises(a.AutonomyError):
        a.check_note("  ")
    with pytest.raises(a.AutonomyError):
        a.check_note("x" * 501)
    assert a.check_reason("  we  march   elsewhere ") == "we march elsewhere"
    assert a.pick_coalition(["north"], None) == "north"
    with pytest.raises(a.AutonomyError, match="several coalitions"):
        a.pick_coalition(["north", "south"], None)
    assert a.pick_coalition(["north", "south"], "south") == "south"
    with pytest.raises(a.AutonomyError, match="not in a coalition 'east'"):
        a.pick_coalition(["north"], "east")


@given(
    declined=st.sets(st.sampled_from(["!a", "!b", "!c", "!d"])),
    room=st.sampled_from(["!a", "!b", "!c", "!d"]),
    liaison=st.one_of(st.none(), st.sampled_from(["@l", "@k", "@bot"])),
    backup=st.one_of(st.none(), st.sampled_from(["@l", "@k", "@bot"])),
)
def test_a_chain_never_repeats_never_names_the_bot_and_is_empty_only_when_declined(
    declined: set[str], room: str, liaison: str | None, backup: str | None
) -> None:
    chain = a.escalation_chain(
        room=room,
        declined=declined,
        liaison=liaison,
        backup=backup,
        coordination_rooms=["!co"],
        exclude=["@bot"],
    )
    ids = [t.id for t in chain]
    assert len(ids) == len(set(ids)) and "@bot" not in ids
    assert (chain == []) == (room in declined)
    if chain:
        assert chain[-1] == a.Target("coordination", "!co")


def test_a_drawn_liaison_hands_off_to_the_backup_at_mandate_end_or_asks_for_a_redraw() -> None:
    end = NOW + timedelta(days=7)
    term = li.drawn(None, "!a", "liaison", "@l", end)
    assert term == li.Liaison("!a", "@l", None, end)
    assert li.drawn(term, "!a", "facilitator", "@x", end) == term
    term = li.name_backup(term, "!a", "@k", bot="@bot")
    same, nothing = li.hand_off(term, end - timedelta(seconds=1))
    assert same == term and nothing is None
    after, hand = li.hand_off(term, end)
    assert hand == li.HandOff("!a", "@l", "@k", redraw_needed=False)
    assert after == li.Liaison("!a", "@k", None, None)
    alone = li.drawn(None, "!a", "liaison", "@l", end)
    assert alone is not None
    _, hand = li.hand_off(alone, end)
    assert hand is not None and hand.acting is None and hand.redraw_needed


def test_a_backup_is_never_the_liaison_or_the_bot_and_a_drawn_backup_stops_being_backup() -> None:
    term = li.drawn(None, "!a", "liaison", "@l", NOW)
    with pytest.raises(li.LiaisonError):
        li.name_backup(term, "!a", "@l", bot="@bot")
    with pytest.raises(li.LiaisonError):
        li.name_backup(term, "!a", "@bot", bot="@bot")
    term = li.name_backup(term, "!a", "@k", bot="@bot")
    assert li.drawn(term, "!a", "liaison", "@k", NOW) == li.Liaison("!a", "@k", None, NOW)


def test_answers_in_the_last_30_days_are_counted_and_the_overloaded_are_named() -> None:
    answers = [("@l", NOW - timedelta(days=d)) for d in range(6)] + [("@k", NOW - timedelta(days=40))]
    counts = li.answered_recently(answers, NOW)
    assert counts == {"@l": 6}
    assert li.overloaded(counts) == ["@l"]
