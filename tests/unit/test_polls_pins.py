"""The pure parts of the native affordances: a poll's content and tally by the spec's rules,
a pinned list after a pin or an unpin."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bots.runtime.pins import MAX_PINS, with_pin
from bots.runtime.polls import Response, end_content, parse_response, start_content, tally

ANSWERS = ("coming", "maybe", "not")


def test_a_poll_is_disclosed_with_its_answers_and_a_text_fallback() -> None:
    content = start_content("Who?", [("coming", "Coming"), ("not", "Not")], "Who?\n1. Coming\n2. Not")
    assert content["m.poll"]["kind"] == "m.disclosed" and content["m.poll"]["max_selections"] == 1
    assert content["m.poll"]["answers"][1] == {"m.id": "not", "m.text": [{"body": "Not"}]}
    assert content["m.text"] == [{"body": "Who?\n1. Coming\n2. Not"}]
    with pytest.raises(ValueError):
        start_content("Who?", [("a", "A")], "")
    with pytest.raises(ValueError):
        start_content("Who?", [("a", "A"), ("a", "B")], "")


def test_the_latest_response_before_the_end_counts_and_a_spoiled_one_is_nothing() -> None:
    responses = [
        Response("@ann:x", 1, ("maybe",)),
        Response("@ann:x", 5, ("coming",)),  # changed her mind
        Response("@bob:x", 2, ("coming",)),
        Response("@cy:x", 3, ("elsewhere",)),  # not an answer: spoiled
        Response("@dee:x", 4, ()),  # no selection: spoiled
        Response("@eve:x", 9, ("not",)),  # after the end
        Response("@bot:x", 1, ("coming",)),  # the bot's own
    ]
    result = tally(ANSWERS, responses, ended_at=8, bot="@bot:x")
    assert result.chosen == {"coming": ("@ann:x", "@bob:x"), "maybe": (), "not": ()}
    assert result.voters == 2
    assert end_content("$poll", result, "2 coming")["m.poll.results"] == {"coming": 2, "maybe": 0, "not": 0}


def test_only_well_formed_responses_to_this_poll_are_read() -> None:
    good = {
        "type": "m.poll.response",
        "sender": "@ann:x",
        "origin_server_ts": 7,
        "content": {
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$p"},
            "m.selections": ["coming", 3],
        },
    }
    assert parse_response(good, "$p") == Response("@ann:x", 7, ("coming",))
    assert parse_response(good, "$other") is None
    assert parse_response({**good, "type": "m.room.message"}, "$p") is None
    assert parse_response({**good, "content": {"m.selections": "coming"}}, "$p") is None


@given(
    st.lists(st.sampled_from(["$a", "$b", "$c", "$d"]), unique=True),
    st.sampled_from(["$a", "$x"]),
    st.booleans(),
)
def test_pinning_keeps_the_other_pins_and_is_idempotent(pinned: list[str], event: str, on: bool) -> None:
    after = with_pin(pinned, event, on)
    assert (event in after) is on
    assert [e for e in after if e != event] == [e for e in pinned if e != event]
    assert with_pin(after, event, on) == after
    if on:
        assert after[0] == event  # newest first


def test_a_room_keeps_at_most_so_many_pins() -> None:
    many = [f"$e{n}" for n in range(MAX_PINS)]
    assert with_pin(many, "$new", True) == ["$new", *many[:-1]]
