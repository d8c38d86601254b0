"""Who holds a room version 12 creator's unlisted, infinite power (MSC4289)."""

from __future__ import annotations

from typing import Any

import pytest

from bots.runtime.matrix import creators_of


def create(version: str | None, sender: str = "@a:x", **content: Any) -> dict[str, Any]:
    body = dict(content)
    if version is not None:
        body["room_version"] = version
    return {"type": "m.room.create", "sender": sender, "content": body}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (create("12"), {"@a:x"}),
        (create("13"), {"@a:x"}),
        (create("org.matrix.hydra.11"), {"@a:x"}),
        (create("12", additional_creators=["@b:y", "@c:z"]), {"@a:x", "@b:y", "@c:z"}),
        (create("12", additional_creators=["@b:y", 7]), {"@a:x", "@b:y"}),  # junk is ignored
        (create("11", additional_creators=["@b:y"]), set()),  # power levels list them there
        (create("10"), set()),
        (create(None), set()),  # no version: version 1
        (create("org.example.custom"), set()),
        ({"content": {"room_version": "12"}}, set()),  # no sender: nobody is privileged
    ],
)
def test_creators_of(event: dict[str, Any], expected: set[str]) -> None:
    assert creators_of(event) == expected


def test_a_room_version_of_odd_digits_names_no_creator() -> None:
    # "¹²" is digits to isdigit() but not to int(): a hostile create event must not crash power_of.
    event = {"sender": "@a:x", "content": {"room_version": "¹²"}}
    assert creators_of(event) == frozenset()
