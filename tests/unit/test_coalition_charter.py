"""The coalition's private name and the copies delivered before the upgrade: believed only from
registered heralds, in the right shape; the earliest charter wins whatever the arrival order."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.coalition.charter import (
    CHARTER,
    COPIES,
    charter_event,
    coalition_name,
    copies_event,
    parse_copies,
)
from protocols.coalition.delivery import DeliveryKey, SeenCopy
from protocols.coalition.reveal import RevealError

A, B, MALLORY = "@herald:a.example", "@herald:b.example", "@mallory:c.example"
DIGEST = "ab" * 32


def event(kind: str, sender: str, content: dict[str, Any], ts: int, eid: str) -> dict[str, Any]:
    return {"type": kind, "sender": sender, "event_id": eid, "origin_server_ts": ts, "content": content}


def test_the_earliest_charter_of_a_herald_names_the_coalition_in_any_order() -> None:
    first = event(CHARTER, A, {"name": "spring-action"}, 10, "$1")
    later = event(CHARTER, B, {"name": "other"}, 20, "$2")
    assert coalition_name([first, later], [A, B]) == "spring-action"
    assert coalition_name([later, first], [A, B]) == "spring-action"


def test_a_charter_from_someone_who_is_no_herald_or_of_bad_shape_names_nothing() -> None:
    forged = event(CHARTER, MALLORY, {"name": "taken-over"}, 1, "$0")
    bad = event(CHARTER, A, {"name": "NOT A NAME!"}, 2, "$1")
    as_state = {**event(CHARTER, A, {"name": "x"}, 3, "$2"), "state_key": ""}
    assert coalition_name([forged, bad, as_state], [A]) is None


def test_a_charter_refuses_a_malformed_name() -> None:
    with pytest.raises(RevealError):
        charter_event("Not a name")
    assert charter_event("Spring-Action").content == {"name": "spring-action"}


def test_copies_round_trip_from_a_herald_and_are_ignored_from_anyone_else() -> None:
    copy = SeenCopy(DeliveryKey("r1", "call", "!room:a.example"), A, "$sent", 1234, DIGEST)
    other_run = SeenCopy(DeliveryKey("r2", "call", "!room:a.example"), A, "$x", 1, DIGEST)
    written = copies_event("r1", [copy, other_run])
    received = event(COPIES, A, written.content, 99, "$ev")
    assert parse_copies(received, [A]) == [copy]
    assert parse_copies(event(COPIES, MALLORY, written.content, 99, "$ev"), [A]) == []
    broken = {"run": "r1", "copies": [["!room:a.example", "call", "$sent", -1, DIGEST]]}
    assert parse_copies(event(COPIES, A, broken, 99, "$ev"), [A]) == []
