"""The ghost chair on Matrix: a room's absent voices, its gatherings on a schedule, and the
rituals that open them (the reminder, and optionally the lottery's draw and speaking order).

- :mod:`bots.ghostchair.feature`: the feature, its jobs, catching up after downtime, sunsets;
- :mod:`bots.ghostchair.commands`: ``!ghost ...`` and ``!gathering ...``.

The rules live in :mod:`protocols.ghostchair` and :mod:`protocols.schedule`, the tables in
:mod:`storage.ghostchair`.
"""

from __future__ import annotations

from bots.ghostchair.feature import GhostChairFeature

__all__ = ["GhostChairFeature"]
