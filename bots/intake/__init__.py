"""Intake surveys of a day of action: opt in, answer by encrypted DM, counts only from 3."""
