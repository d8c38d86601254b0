"""The names and topics of the rooms the bot creates, in the language of the room or person
they are for (a cell room: its parent room's; a direct chat: the room it is opened from).

A room's name and topic are state, written once when the room is created, so they are
rendered then, in that language; English keeps the words the suite always used.
"""

from __future__ import annotations

from collections.abc import Iterable
from zoneinfo import ZoneInfo

from bots.runtime.i18n import DEFAULT, UTC, Translatable, _, rendering
from bots.runtime.i18n_rooms import FOLLOW_KEY, room_language
from bots.runtime.message import Span
from storage.room_settings import RoomSettings

Text = str | Span

# The direct chats' names and topics, one pair per kind of conversation.
COALITION_ALERTS = _("Coalition alerts")
ALERTS_TOPIC = _("Reminders about day-of-action acknowledgements")
ESCALATIONS_TOPIC = _("Day-of-action escalations")
SKILL_SWAP = _("Skill swap")
SKILL_SWAP_TOPIC = _("Asks that meet offers: you decide whether to be put in touch")
RIDES = _("Rides")
RIDES_TOPIC = _("Rides to a day of action")
COALITION = _("Coalition")
LIAISON_TOPIC = _("Liaison work")
SURVEY = _("Survey")
SURVEY_TOPIC = _("A short survey for a day of action")
CARE_REMINDERS = _("Care reminders")
CARE_TOPIC = _("Reminders of your care turns, and handover notes")


def drawn_cell(parent: str, number: int, count: int) -> Translatable:
    """A lottery cell room's name: ``Warsaw · cell 2 of 5``."""
    return _("{parent} · cell {number} of {count}", parent=parent, number=str(number), count=str(count))


def reshuffled_cell(parent: str, number: int, count: int, generation: int) -> Translatable:
    """A care cell room's name: ``Warsaw · cell 2 of 5 (generation 3)``."""
    return _(
        "{parent} · cell {number} of {count} (generation {generation})",
        parent=parent,
        number=str(number),
        count=str(count),
        generation=str(generation),
    )


def spoken(text: Text, language: str, zone: ZoneInfo = UTC) -> str:
    """``text`` as a room in ``language`` reads it (a plain string stays as it is)."""
    if isinstance(text, str):
        return text
    with rendering(language, zone):
        return text.plain()


async def spoken_for(settings: RoomSettings, room_id: str | None, text: Text) -> str:
    """``text`` in the language and zone of ``room_id`` (English without one)."""
    if room_id is None:
        return spoken(text, "en")
    return spoken(text, await room_language(settings, room_id), await settings.zone(room_id))


async def opened_from(settings: RoomSettings, dm: str, language_room: str | None) -> None:
    """A direct chat just opened from ``language_room`` speaks its language from its first
    message (it follows its member's rooms from then on, bots/runtime/i18n_rooms.py)."""
    if language_room is None:
        return
    language = await room_language(settings, language_room)
    if language != DEFAULT:
        await settings.put(dm, FOLLOW_KEY, language)


async def language_room(settings: RoomSettings, rooms: Iterable[str | None]) -> str | None:
    """Where a direct chat opened for something a member did takes its language from: the first
    of ``rooms`` (the member's own room first, then the coalition's) whose language is known (a
    room that set one, a direct chat that follows or chose one), else the first of them."""
    candidates = [room for room in rooms if room]
    for room in candidates:
        if await settings.get(room, FOLLOW_KEY) or await settings.language_set(room):
            return room
    return candidates[0] if candidates else None
