"""The pure parts of the herald's pins and spaces: who may send a state event under a room's
power levels, which rooms a space's hierarchy lists, and the join rule that opens a space to the
members of its rooms."""

from __future__ import annotations

from typing import Any

import pytest

from bots.herald.pinning import may_send_state
from bots.herald.space import listed_children, restricted_to

PINNED = "m.room.pinned_events"


@pytest.mark.parametrize(
    ("levels", "power", "allowed"),
    [
        ({}, 50, True),  # state_default is 50 when the levels do not say
        ({}, 49, False),
        ({"state_default": 100}, 50, False),
        ({"state_default": 100, "events": {PINNED: 50}}, 50, True),  # the event's own level wins
        ({"events": {PINNED: 0}}, 0, True),
        ({"events": {PINNED: "fifty"}}, 100, False),  # a broken level refuses, never guesses
        ({"events": None, "state_default": 25}, 25, True),
    ],
)
def test_may_send_state_follows_the_rooms_levels(levels: dict[str, Any], power: int, allowed: bool) -> None:
    assert may_send_state(levels, power, PINNED) is allowed


def test_a_spaces_listed_rooms_are_its_own_child_links_with_a_via() -> None:
    space = "!space:a.example"

    def child(room: str, content: Any) -> dict[str, Any]:
        return {"type": "m.space.child", "state_key": room, "content": content}

    hierarchy = {
        "rooms": [
            {
                "room_id": space,
                "children_state": [
                    child("!a:a.example", {"via": ["a.example"]}),
                    child("!gone:a.example", {}),  # a removed link
                    child("!novia:a.example", {"order": "1"}),
                    {
                        "type": "m.space.parent",
                        "state_key": "!p:a.example",
                        "content": {"via": ["a.example"]},
                    },
                    "not an event",
                ],
            },
            {"room_id": "!a:a.example", "children_state": [child("!deeper:a.example", {"via": ["x"]})]},
        ]
    }
    assert listed_children(hierarchy, space) == {"!a:a.example"}
    assert listed_children({}, space) == set() and listed_children({"rooms": None}, space) == set()


def test_the_space_is_open_to_the_members_of_its_rooms_in_a_stable_order() -> None:
    rule = restricted_to(["!b:x", "!a:x"])
    assert rule == {
        "join_rule": "restricted",
        "allow": [
            {"type": "m.room_membership", "room_id": "!a:x"},
            {"type": "m.room_membership", "room_id": "!b:x"},
        ],
    }
    assert restricted_to([])["allow"] == []
