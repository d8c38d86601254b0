"""What the day-of-action features (slots, intake, rides) share: the narrow port through which
they learn runs from the herald, a run chosen for a room, and the bot's direct chats."""

from bots.dayofaction.feature import DayOfActionFeature

__all__ = ["DayOfActionFeature"]
