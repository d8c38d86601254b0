"""The shape of an incoming event, checked once before anything reads it.

Synapse stores and federates events whose fields have the wrong type (an ``m.relates_to`` that
is a string, a list or ``true``, a reaction key that is a number, a non-integer timestamp), and
nio hands them over as ``BadEvent``/``UnknownEvent`` objects with the raw ``source`` dict. Code
that reads ``content.get("m.relates_to").get(...)`` then raises far from any handler. Here every
field the runtime and the features read is checked for its type, and lone UTF-16 surrogates
(valid in JSON escapes, impossible to encode as UTF-8 when we store or send text) are replaced,
so that what the dispatcher gets is either a well-formed :class:`Envelope` or a
:class:`MalformedEvent` naming what was wrong (never quoting the content).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bots.runtime.ids import EventID, UserID

# Identifiers are at most 255 bytes (Matrix spec, "Identifier grammar").
MAX_ID_LENGTH = 255
# Deeper nesting than this is no event a client sends; walking it is work an attacker chooses.
MAX_DEPTH = 32
# JSON integers the spec allows (canonical JSON): [-(2**53)+1, (2**53)-1].
MAX_TS = 2**53 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")
_USER_ID = re.compile(r"^@[^:\s]+:[^\s]+$")


class MalformedEvent(ValueError):
    """The event does not have the shape the spec gives it; ``str(exc)`` names the field only."""


@dataclass(frozen=True)
class Relation:
    """``content["m.relates_to"]`` with each field checked (None when absent)."""

    rel_type: str | None
    event_id: str | None
    key: str | None
    in_reply_to: str | None


@dataclass(frozen=True)
class Envelope:
    """A checked event: identity, type, time and a sanitised copy of its source."""

    event_id: EventID
    sender: UserID
    type: str
    ts: int
    state_key: str | None
    content: dict[str, Any]
    relation: Relation | None
    source: dict[str, Any]

    @property
    def membership(self) -> str | None:
        value = self.content.get("membership")
        return value if isinstance(value, str) else None

    @property
    def prev_membership(self) -> str | None:
        prev = (self.source.get("unsigned") or {}).get("prev_content") or {}
        value = prev.get("membership")
        return value if isinstance(value, str) else None


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (it cannot be UTF-8 encoded)."""
    return _SURROGATE.sub("\ufffd", text)


def _sanitise(value: Any) -> Any:
    """A copy of a JSON value with clean strings; MalformedEvent if nested too deep."""

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise MalformedEvent("nested too deeply")
        if isinstance(node, str):
            return clean_text(node)
        if isinstance(node, dict):
            return {(clean_text(k) if isinstance(k, str) else k): walk(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, depth + 1) for v in node]
        return node

    return walk(value, 0)


def usable_event_id(raw: Any) -> str | None:
    """The event id to name in a log line, if the event has a sane one."""
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    if isinstance(event_id, str) and 1 < len(event_id) <= MAX_ID_LENGTH and event_id.startswith("$"):
        if event_id.isprintable() and not _SURROGATE.search(event_id):
            return event_id
    return None


def _optional_str(mapping: dict[str, Any], key: str, where: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}.{key} is not a string")
    return value


def _relation(content: dict[str, Any]) -> Relation | None:
    if "m.relates_to" not in content:
        return None
    rel = content["m.relates_to"]
    if not isinstance(rel, dict):
        raise MalformedEvent("content.m.relates_to is not an object")
    in_reply_to = None
    if "m.in_reply_to" in rel:
        reply = rel["m.in_reply_to"]
        if not isinstance(reply, dict):
            raise MalformedEvent("m.relates_to.m.in_reply_to is not an object")
        in_reply_to = _optional_str(reply, "event_id", "m.in_reply_to")
    return Relation(
        rel_type=_optional_str(rel, "rel_type", "m.relates_to"),
        event_id=_optional_str(rel, "event_id", "m.relates_to"),
        key=_optional_str(rel, "key", "m.relates_to"),
        in_reply_to=in_reply_to,
    )


def parse_envelope(raw: Any) -> Envelope:
    """Check ``raw`` (an event's source dict) and return its envelope, or raise MalformedEvent."""
    if not isinstance(raw, dict):
        raise MalformedEvent("the event is not an object")
    event_id = usable_event_id(raw)
    if event_id is None:
        raise MalformedEvent("event_id is missing or not an event id")
    etype = raw.get("type")
    if not isinstance(etype, str) or not etype:
        raise MalformedEvent("type is not a string")
    sender = raw.get("sender")
    if not isinstance(sender, str) or len(sender) > MAX_ID_LENGTH or not _USER_ID.match(sender):
        raise MalformedEvent("sender is not a user id")
    if _SURROGATE.search(sender):
        raise MalformedEvent("sender is not a user id")
    ts = raw.get("origin_server_ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts <= MAX_TS:
        raise MalformedEvent("origin_server_ts is not a timestamp")
    if not isinstance(raw.get("content"), dict):
        raise MalformedEvent("content is not an object")
    source = _sanitise(raw)
    content: dict[str, Any] = source["content"]
    state_key = _optional_str(source, "state_key", "event")
    unsigned = source.get("unsigned")
    if unsigned is not None:
        if not isinstance(unsigned, dict):
            raise MalformedEvent("unsigned is not an object")
        if unsigned.get("prev_content") is not None and not isinstance(unsigned["prev_content"], dict):
            raise MalformedEvent("unsigned.prev_content is not an object")
    relation = _relation(content)
    if etype == "m.room.message":
        _optional_str(content, "msgtype", "content")
        _optional_str(content, "body", "content")
    elif etype == "m.reaction":
        if relation is None or relation.rel_type != "m.annotation":
            raise MalformedEvent("a reaction without an annotation")
        if relation.event_id is None or relation.key is None:
            raise MalformedEvent("a reaction without a target or a key")
    elif etype == "m.room.member":
        _optional_str(content, "membership", "content")
    return Envelope(
        event_id=EventID(event_id),
        sender=UserID(sender),
        type=etype,
        ts=ts,
        state_key=state_key,
        content=content,
        relation=relation,
        source=source,
    )


def _breaks_nio(event: Any) -> bool:
    """Shapes on which nio's own sync parsing raises (instead of giving a BadEvent), so that
    one such event would fail every sync of the bot, for good."""
    if not isinstance(event, dict):
        return True
    ts = event.get("origin_server_ts")
    if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
        return True
    unsigned = event.get("unsigned")
    if unsigned is not None:
        if not isinstance(unsigned, dict):
            return True
        prev = unsigned.get("prev_content")
        if prev is not None and not isinstance(prev, dict):
            return True
    return False


def _event_lists(body: dict[str, Any]) -> list[list[Any]]:
    """Every list of events in a /sync body that nio parses event by event."""
    lists: list[list[Any]] = []

    def events_of(section: Any) -> None:
        if isinstance(section, dict) and isinstance(section.get("events"), list):
            lists.append(section["events"])

    rooms = body.get("rooms")
    if isinstance(rooms, dict):
        for kind, keys in (
            ("join", ("timeline", "state", "account_data")),
            ("leave", ("timeline", "state")),
            ("invite", ("invite_state",)),
        ):
            by_room = rooms.get(kind)
            if not isinstance(by_room, dict):
                continue
            for room in by_room.values():
                if isinstance(room, dict):
                    for key in keys:
                        events_of(room.get(key))
    events_of(body.get("account_data"))
    return lists


def clean_sync_body(body: Any) -> list[str | None]:
    """Remove, in place, the events of a /sync (or /messages) body that nio's parser would
    raise on; returns
    their ids (None where an event has no usable id) for the log."""
    dropped: list[str | None] = []
    if not isinstance(body, dict):
        return dropped
    if "next_batch" in body:
        lists = _event_lists(body)
    elif isinstance(body.get("chunk"), list) and "start" in body:  # /messages, filling a gap
        lists = [body["chunk"]] + ([body["state"]] if isinstance(body.get("state"), list) else [])
    else:
        return dropped
    for events in lists:
        keep = [e for e in events if not _breaks_nio(e)]
        if len(keep) != len(events):
            dropped += [usable_event_id(e) for e in events if _breaks_nio(e)]
            events[:] = keep
    return dropped


def guard_sync_parsing(client: Any, log: Any) -> None:
    """Make ``client`` (an nio AsyncClient) drop the events its parser would raise on before it
    parses a /sync answer. Without this, one federated event with a string timestamp makes
    every sync fail and the bot deaf until the event leaves the sync window."""
    parse_body = client.parse_body

    async def parse_and_clean(transport_response: Any) -> Any:
        body = await parse_body(transport_response)
        for event_id in clean_sync_body(body):
            log.warning("dropped an event nio cannot parse from a sync: %s", event_id or "(no usable id)")
        return body

    client.parse_body = parse_and_clean
