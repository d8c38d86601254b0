"""Sign-up slots of a day of action: ``!slot``, ``!slot claim``, ``!slot release``, reactions."""

from bots.slots.feature import SlotsFeature

__all__ = ["SlotsFeature"]
