"""Intake surveys of a day of action: opt in, answer by encrypted DM, counts only from 3."""

from bots.intake.feature import IntakeFeature

__all__ = ["IntakeFeature"]
