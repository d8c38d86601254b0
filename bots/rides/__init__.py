"""Rides to a day of action: offers and needs matched by area and time, approved by the driver."""

from bots.rides.feature import RidesFeature

__all__ = ["RidesFeature"]
