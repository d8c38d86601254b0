"""Herald plans: phases x rooms, time zones, amend and cancel, the board, escalation."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.herald.render import ack_board
from bots.herald.render_phases import say
from protocols.errors import RuleError
from protocols.herald.board import (
    Cell,
    DeliveryView,
    cell_status,
    escalations_due,
    next_escalation_at,
)
from protocols.herald.plan import (
    MemberRoom,
    PlanError,
    PlannedMessage,
    RunState,
    check_can_confirm,
    make_amendment,
    make_cancellation,
    make_plan,
    new_run_id,
    run_is_done,
    txn_id_for,
)
from protocols.herald.templates import load_library, shipped_library

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
LIBRARY = load_library([shipped_library()])
NATIONAL = LIBRARY["national-day-of-action"]
RAPID = LIBRARY["rapid-response"]
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTION = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # 14:00 in Paris, 08:00 in New York
ROOMS = [
    MemberRoom("!paris:a.org", PARIS, {"meeting_point": "Place de la République"}),
    MemberRoom("!nyc:b.org", NEW_YORK, {"meeting_point": "Union Square", "language": "English"}),
]
TXN = re.compile(r"^aff-[A-Za-z0-9_]+-[a-z0-9_-]+-[0-9a-f]{12}$")


def plan(now: datetime = NOW, action: datetime = ACTION) -> list[PlannedMessage]:
    return make_plan("run1", NATIONAL, action, ROOMS, now, coalition="No Kings", render=say)


# --- the plan -----------------------------------------------------------------------------


def test_one_message_per_phase_and_room_with_stable_ids() -> None:
    messages = plan()
    assert len(messages) == len(NATIONAL.phases) * len(ROOMS)
    assert {(m.phase_key, m.room_id) for m in messages} == {
        (p.key, r.room_id) for p in NATIONAL.phases for r in ROOMS
    }
    ids = [m.txn_id for m in messages]
    assert len(set(ids)) == len(ids)
    assert all(TXN.match(i) for i in ids)
    # Planning again (after a crash, a minute later) gives the very same ids.
    assert [m.txn_id for m in plan(now=NOW + timedelta(minutes=1))] == ids
    assert txn_id_for("run1", "go", "!paris:a.org") in ids
    assert "!paris" not in ids[0]  # the room id itself is not spelled out
    assert [m.due_at for m in messages] == sorted(m.due_at for m in messages)


def test_rooms_in_different_zones_get_the_same_instants_and_their_own_local_times() -> None:
    messages = plan()
    by = {(m.phase_key, m.room_id): m for m in messages}
    for phase in NATIONAL.phases:
        paris, nyc = by[(phase.key, "!paris:a.org")], by[(phase.key, "!nyc:b.org")]
        assert paris.due_at == nyc.due_at == ACTION + phase.offset
        assert paris.ack_by == nyc.ack_by
        assert not paris.immediate
    go_paris, go_nyc = by[("go", "!paris:a.org")], by[("go", "!nyc:b.org")]
    assert "14:00 (CEST)" in go_paris.body and "Place de la République" in go_paris.body
    assert "08:00 (EDT)" in go_nyc.body and "Union Square" in go_nyc.body
    assert "Friday 2026-05-01" in by[("announce", "!nyc:b.org")].body
    # The deadline is shown in the room's own zone too.
    assert "2026-05-01 13:00 CEST" in go_paris.body
    assert "2026-05-01 07:00 EDT" in go_nyc.body


def test_ack_deadlines_follow_the_template() -> None:
    for m in plan():
        phase = NATIONAL.phase(m.phase_key)
        assert phase is not None
        if phase.ack.needed:
            assert m.ack_by == m.due_at + phase.ack.within  # type: ignore[operator]
            assert "!ack run1" in m.body
        else:
            assert m.ack_by is None and "!ack" not in m.body


def test_checklists_and_missing_details_are_rendered() -> None:
    checklist = next(m for m in plan() if m.phase_key == "checklist" and m.room_id == "!paris:a.org")
    assert "☐ Marshals named and briefed" in checklist.body
    assert "<li>☐ Marshals named and briefed</li>" in checklist.html
    assert "!local set language" in checklist.body  # Paris has not set its language
    nyc = next(m for m in plan() if m.phase_key == "checklist" and m.room_id == "!nyc:b.org")
    assert "(in English)" in nyc.body


def test_local_details_are_escaped_in_html() -> None:
    rooms = [MemberRoom("!x:a.org", PARIS, {"meeting_point": "<script>alert(1)</script> & co"})]
    messages = make_plan("run1", NATIONAL, ACTION, rooms, NOW, render=say)
    announce = next(m for m in messages if m.phase_key == "announce")
    assert "<script>" not in announce.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in announce.html
    assert "<script>alert(1)</script> & co" in announce.body


def test_an_action_in_the_past_is_refused() -> None:
    with pytest.raises(PlanError, match="in the past") as info:
        plan(action=NOW - timedelta(hours=1))
    assert isinstance(info.value, RuleError)


def test_no_rooms_is_refused() -> None:
    with pytest.raises(PlanError, match="!coalition invite"):
        make_plan("run1", NATIONAL, ACTION, [], NOW, render=say)


def test_phases_already_due_go_out_at_once_and_are_flagged() -> None:
    now = ACTION - timedelta(hours=3)  # announce and checklist are past; go is still ahead
    messages = plan(now=now)
    for m in messages:
        phase = NATIONAL.phase(m.phase_key)
        assert phase is not None
        late = ACTION + phase.offset <= now
        assert m.immediate == late
        assert m.due_at == (now if late else ACTION + phase.offset)
        if late:
            assert m.ack_by == now + phase.ack.within  # type: ignore[operator]
            assert "sent now" in m.body
        else:
            assert "sent now" not in m.body


def test_a_rapid_response_started_just_now_sends_its_call_at_once() -> None:
    action = NOW - timedelta(minutes=2)  # typed at minute precision, confirmed a bit later
    messages = make_plan("rr", RAPID, action, ROOMS, NOW, render=say)
    calls = [m for m in messages if m.phase_key == "call"]
    assert all(m.immediate and m.due_at == NOW for m in calls)
    assert all(m.ack_by == NOW + timedelta(minutes=15) for m in calls)
    check = [m for m in messages if m.phase_key == "check"]
    assert all(m.due_at == action + timedelta(minutes=30) and not m.immediate for m in check)


@settings(max_examples=60, deadline=None)
@given(
    ahead=st.integers(min_value=-15, max_value=60 * 24 * 30),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
)
def test_due_times_never_before_now_and_windows_kept(ahead: int, zone: str) -> None:
    action = NOW + timedelta(minutes=ahead)
    rooms = [MemberRoom("!r:a.org", ZoneInfo(zone), {})]
    for m in make_plan("p", NATIONAL, action, rooms, NOW, render=say):
        phase = NATIONAL.phase(m.phase_key)
        assert phase is not None
        assert m.due_at == max(NOW, action + phase.offset)
        assert m.due_at >= NOW and m.due_at.tzinfo is not None
        if m.ack_by is not None:
            assert m.ack_by - m.due_at == phase.ack.within


def test_new_run_ids_are_deterministic_and_short() -> None:
    assert new_run_id(b"seed") == new_run_id(b"seed")
    assert new_run_id(b"seed") != new_run_id(b"other")
    assert re.fullmatch(r"[0-9a-z]{8}", new_run_id(b"seed"))


# --- amend and cancel ---------------------------------------------------------------------


def test_amendment_goes_to_every_room_now_and_asks_for_a_fresh_ack() -> None:
    first = make_amendment(
        "run1", "confirmed", 1, "Meet at the north gate", NATIONAL, ACTION, ROOMS, NOW, render=say
    )
    second = make_amendment(
        "run1", "confirmed", 2, "Start 30 min later", NATIONAL, ACTION, ROOMS, NOW, render=say
    )
    assert {m.room_id for m in first} == {r.room_id for r in ROOMS}
    assert all(m.phase_key == "amend-1" and m.due_at == NOW and m.immediate for m in first)
    assert all(m.ack_by == NOW + timedelta(hours=1) for m in first)
    assert all("AMENDED (#1)" in m.body and "north gate" in m.body for m in first)
    assert all("!ack run1" in m.body for m in first)
    ids1, ids2 = {m.txn_id for m in first}, {m.txn_id for m in second}
    assert not ids1 & ids2
    assert ids1 == {
        m.txn_id
        for m in make_amendment("run1", "confirmed", 1, "x", NATIONAL, ACTION, ROOMS, NOW, render=say)
    }
    assert not ids1 & {m.txn_id for m in plan()}
    paris = next(m for m in first if m.room_id == "!paris:a.org")
    assert "2026-05-01 14:00 CEST" in paris.body


@pytest.mark.parametrize(
    ("state", "text", "words"),
    [
        ("planned", "x", "not confirmed"),
        ("cancelled", "x", "no longer"),
        ("done", "x", "no longer"),
        ("confirmed", "   ", "say what changed"),
        ("confirmed", "x" * 2001, "too long"),
    ],
)
def test_amendments_that_are_refused(state: RunState, text: str, words: str) -> None:
    with pytest.raises(PlanError, match=words):
        make_amendment("run1", state, 1, text, NATIONAL, ACTION, ROOMS, NOW, render=say)


def test_amendment_text_is_escaped() -> None:
    (m,) = make_amendment("r", "confirmed", 1, "<b>new</b>", NATIONAL, ACTION, ROOMS[:1], NOW, render=say)
    assert "&lt;b&gt;new&lt;/b&gt;" in m.html and "<b>new</b>" in m.body


def test_cancel_stands_down_every_room_and_skips_pending_phases() -> None:
    messages = plan()
    sent = {messages[0].txn_id, messages[1].txn_id}
    deliveries = [(m.txn_id, "sent" if m.txn_id in sent else "pending") for m in messages]
    result = make_cancellation(
        "run1", "confirmed", "Storm warning", NATIONAL, ACTION, ROOMS, deliveries, NOW, render=say
    )
    assert result.state == "cancelled"
    assert set(result.skip_txn_ids) == {m.txn_id for m in messages} - sent
    assert {m.room_id for m in result.messages} == {r.room_id for r in ROOMS}
    assert all("STAND DOWN" in m.body and "Storm warning" in m.body for m in result.messages)
    assert all(m.phase_key == "cancel" and m.due_at == NOW and m.ack_by for m in result.messages)
    assert not {m.txn_id for m in result.messages} & {m.txn_id for m in messages}


def test_cancel_without_reason_still_says_what_to_do() -> None:
    result = make_cancellation("run1", "confirmed", "", NATIONAL, ACTION, ROOMS, [], NOW, render=say)
    assert all("Do not go" in m.body for m in result.messages)


def test_cancelling_an_unconfirmed_run_reaches_no_room() -> None:
    result = make_cancellation("run1", "planned", "", NATIONAL, ACTION, ROOMS, [], NOW, render=say)
    assert result.state == "cancelled" and result.messages == [] and result.skip_txn_ids == []


@pytest.mark.parametrize("state", ["cancelled", "done"])
def test_cancel_twice_is_refused(state: RunState) -> None:
    with pytest.raises(PlanError, match="already"):
        make_cancellation("run1", state, "", NATIONAL, ACTION, ROOMS, [], NOW, render=say)


def test_confirm_and_done_rules() -> None:
    check_can_confirm("r", "planned")
    with pytest.raises(PlanError, match="only a planned run"):
        check_can_confirm("r", "confirmed")
    assert run_is_done(["sent", "failed", "cancelled"])
    assert not run_is_done(["sent", "pending"])


# --- the board ----------------------------------------------------------------------------


def view(m: PlannedMessage, state: str = "sent", **changes: Any) -> DeliveryView:
    base = DeliveryView(m.txn_id, m.room_id, m.phase_key, state, m.due_at, m.ack_by)
    return replace(base, **changes)


def test_cell_status() -> None:
    go = next(m for m in plan() if m.phase_key == "go")
    start = next(m for m in plan() if m.phase_key == "start")
    assert go.ack_by is not None
    before, after = go.ack_by - timedelta(minutes=1), go.ack_by + timedelta(minutes=1)
    assert cell_status(view(go), before) is Cell.PENDING
    assert cell_status(view(go), after) is Cell.MISSED
    assert cell_status(view(go, acked_at=before), after) is Cell.ACKED
    assert cell_status(view(go, "pending"), after) is Cell.NOT_SENT
    assert cell_status(view(go, "cancelled"), after) is Cell.NOT_SENT
    assert cell_status(view(go, "failed"), after) is Cell.FAILED
    assert cell_status(view(start), after) is Cell.SENT


def test_ack_board_is_a_line_of_phases_per_room() -> None:
    messages = plan()
    now = ACTION - timedelta(minutes=30)
    states = {"announce": "sent", "checklist": "sent", "go": "sent"}
    views = [
        view(
            m,
            states.get(m.phase_key, "pending"),
            acked_at=NOW if (m.room_id, m.phase_key) != ("!nyc:b.org", "checklist") else None,
        )
        for m in messages
    ]
    views.append(
        view(
            make_amendment("run1", "confirmed", 1, "x", NATIONAL, ACTION, ROOMS[:1], now, render=say)[0],
            "failed",
        )
    )
    rooms = [("!paris:a.org", "Paris <a.org>"), ("!nyc:b.org", "NYC (b.org)")]
    board = ack_board(NATIONAL, "run1", rooms, views, now)
    plain, rich = board.plain, board.html
    assert "<table" not in rich and rich.count("<li>") == 2  # one line per room, no table
    assert "Paris &lt;a.org&gt;" in rich and "Paris <a.org>" not in rich
    lines = plain.splitlines()
    paris = next(line for line in lines if line.startswith("Paris"))
    nyc = next(line for line in lines if line.startswith("NYC"))
    assert "announce ✅" in paris and "start ✉️" in paris and "amend-1 ❌" in paris
    assert paris.index("debrief") < paris.index("amend-1")
    assert "checklist ⚠️" in nyc and "amend-1 ·" in nyc
    assert "✅ acked" in plain and "⚠️ ack missed" in plain


# --- escalation ---------------------------------------------------------------------------


def go_view(**changes: Any) -> DeliveryView:
    go = next(m for m in plan() if m.phase_key == "go" and m.room_id == "!nyc:b.org")
    return view(go, **changes)


def test_escalation_ladder_times_and_never_twice() -> None:
    d = go_view()
    assert d.ack_by is not None
    window = d.ack_by - d.due_at  # 1h: step 2 half an hour after the deadline
    assert escalations_due(NATIONAL, [d], d.ack_by - timedelta(seconds=1)) == []
    (one,) = escalations_due(NATIONAL, [d], d.ack_by)
    assert (one.step, one.action, one.room_id, one.phase_key) == (1, "liaison", "!nyc:b.org", "go")
    step2_at = d.ack_by + window / 2
    assert [e.step for e in escalations_due(NATIONAL, [d], step2_at - timedelta(seconds=1))] == [1]
    # The bot was down through both: both steps come, once each, in order.
    assert [(e.step, e.action) for e in escalations_due(NATIONAL, [d], step2_at)] == [
        (1, "liaison"),
        (2, "coordination"),
    ]
    taken = replace(d, escalation_step=1)
    assert [e.step for e in escalations_due(NATIONAL, [taken], step2_at)] == [2]
    assert escalations_due(NATIONAL, [replace(d, escalation_step=2)], step2_at + window) == []
    assert next_escalation_at(NATIONAL, [d]) == d.ack_by
    assert next_escalation_at(NATIONAL, [taken]) == step2_at
    assert next_escalation_at(NATIONAL, [replace(d, escalation_step=2)]) is None


@pytest.mark.parametrize(
    "changes",
    [{"acked_at": NOW}, {"state": "failed"}, {"state": "pending"}, {"state": "cancelled"}],
)
def test_no_escalation_when_acked_or_not_delivered(changes: dict[str, object]) -> None:
    d = go_view(**changes)
    assert escalations_due(NATIONAL, [d], ACTION + timedelta(days=1)) == []


def test_template_can_stop_at_the_liaison() -> None:
    debrief = next(m for m in plan() if m.phase_key == "debrief")
    d = view(debrief)
    late = ACTION + timedelta(days=30)
    assert [(e.step, e.action) for e in escalations_due(NATIONAL, [d], late)] == [(1, "liaison")]


def test_after_cancel_only_the_stand_down_escalates() -> None:
    stand_down = make_cancellation("run1", "confirmed", "", NATIONAL, ACTION, ROOMS[:1], [], NOW, render=say)
    views = [go_view(), view(stand_down.messages[0])]
    late = ACTION + timedelta(days=1)
    found = escalations_due(NATIONAL, views, late, run_cancelled=True)
    assert {e.phase_key for e in found} == {"cancel"}
    assert [e.action for e in found] == ["liaison", "coordination"]
    assert next_escalation_at(NATIONAL, views, run_cancelled=True) == stand_down.messages[0].ack_by
