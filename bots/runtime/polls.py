"""Polls, the stable ones of Matrix 1.7 (``m.poll.start``, ``m.poll.response``, ``m.poll.end``):
a tap beats typing when the answer is one of a few (who is coming to a gathering).

    poll = await start_poll(host, room, _("Who is coming?"), [("yes", _("Coming")), ("no", _("Not this time"))], key)
    tally = await read_poll(host, room, poll)        # who chose what, by the spec's rules
    await end_poll(host, room, poll, tally, key)      # clients show it as closed, with the result

A poll is never anonymous: every response names its sender in the room's history. So a poll is
only for what a person would say aloud in the room anyway, never for anything meant to be
anonymous (a blind-mirror reflection, a care check-in); :func:`start_poll` takes no "anonymous"
option (``m.undisclosed`` hides only the running count, not who answered).

The question and answers are rendered in the room's language (bots/runtime/i18n.py) when the
poll is posted. The tally follows the spec: each person's latest response before the poll ended
counts; a response naming an unknown answer, or none, is spoiled (that person answered nothing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bots.runtime.host import Host
from bots.runtime.i18n_rooms import render
from bots.runtime.ids import EventID, RoomID
from bots.runtime.message import Inline, Message

START = "m.poll.start"
RESPONSE = "m.poll.response"
END = "m.poll.end"
MAX_ANSWERS = 20  # the spec's limit


@dataclass(frozen=True)
class Response:
    sender: str
    ts: int  # origin_server_ts, milliseconds
    selections: tuple[str, ...]


@dataclass(frozen=True)
class Tally:
    """Who chose what: answer id -> the people whose latest response chose it."""

    answers: tuple[str, ...]
    chosen: Mapping[str, tuple[str, ...]]

    def count(self, answer: str) -> int:
        return len(self.chosen.get(answer, ()))

    @property
    def voters(self) -> int:
        return len({person for people in self.chosen.values() for person in people})


def _text(value: str) -> list[dict[str, str]]:
    return [{"body": value}]


def start_content(question: str, answers: Sequence[tuple[str, str]], fallback: str) -> dict[str, Any]:
    """The content of an ``m.poll.start`` (disclosed: everyone sees the running count)."""
    if not 2 <= len(answers) <= MAX_ANSWERS:
        raise ValueError(f"a poll has 2 to {MAX_ANSWERS} answers")
    if len({a for a, _ in answers}) != len(answers):
        raise ValueError("a poll's answer ids are distinct")
    return {
        "m.poll": {
            "kind": "m.disclosed",
            "max_selections": 1,
            "question": {"m.text": _text(question)},
            "answers": [{"m.id": answer, "m.text": _text(label)} for answer, label in answers],
        },
        "m.text": _text(fallback),
    }


def parse_response(event: Mapping[str, Any], poll_id: str) -> Response | None:
    """A response to ``poll_id`` from an event's JSON, or None if it is not a usable one."""
    content = event.get("content")
    if event.get("type") != RESPONSE or not isinstance(content, dict):
        return None
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict) or relates.get("event_id") != poll_id:
        return None
    sender, ts, selections = event.get("sender"), event.get("origin_server_ts"), content.get("m.selections")
    if not isinstance(sender, str) or not isinstance(ts, int) or not isinstance(selections, list):
        return None
    return Response(sender, ts, tuple(s for s in selections if isinstance(s, str)))


def tally(
    answers: Sequence[str], responses: Sequence[Response], ended_at: int | None = None, bot: str = ""
) -> Tally:
    """Each person's latest response before ``ended_at`` (ms) counts, with at most one selection;
    one naming no known answer is spoiled. The bot's own responses never count."""
    latest: dict[str, Response] = {}
    for response in sorted(responses, key=lambda r: r.ts):
        if response.sender == bot or (ended_at is not None and response.ts > ended_at):
            continue
        latest[response.sender] = response
    chosen: dict[str, list[str]] = {a: [] for a in answers}
    for person, response in sorted(latest.items()):
        picked = response.selections[:1]
        if picked and picked[0] in chosen:
            chosen[picked[0]].append(person)
    return Tally(tuple(answers), {a: tuple(people) for a, people in chosen.items()})


def end_content(poll_id: str, result: Tally, summary: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_id},
        "m.text": _text(summary),
        "m.poll.results": {a: result.count(a) for a in result.answers},
    }


# -- through the host ------------------------------------------------------------------------


async def start_poll(
    host: Host, room_id: RoomID, question: Inline, answers: Sequence[tuple[str, Inline]], key: str
) -> EventID | None:
    """Post a poll (waits for its event id; None if the room refused it)."""
    rendered_question, _ = await render(host.settings, room_id, Message.of(question))
    labels = [(a, (await render(host.settings, room_id, Message.of(label)))[0]) for a, label in answers]
    fallback = "\n".join([rendered_question, *(f"{n}. {label}" for n, (_, label) in enumerate(labels, 1))])
    content = start_content(rendered_question, labels, fallback)
    return await host.send_event(room_id, START, content, key, wait=True)


async def read_poll(host: Host, room_id: RoomID, poll_id: EventID, answers: Sequence[str]) -> Tally:
    """The poll's tally now, from its responses (decrypted where the room is encrypted)."""
    events = await host.relations(room_id, poll_id, "m.reference")
    responses = [r for r in (parse_response(e, poll_id) for e in events) if r is not None]
    return tally(answers, responses, bot=str(host.user_id))


async def end_poll(
    host: Host, room_id: RoomID, poll_id: EventID, result: Tally, summary: Inline, key: str
) -> None:
    """Close the poll: clients show it ended, with ``summary`` as the text fallback."""
    text, _ = await render(host.settings, room_id, Message.of(summary))
    await host.send_event(room_id, END, end_content(poll_id, result, text), key)
