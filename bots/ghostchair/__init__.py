"""The ghost chair on Matrix: a room's absent voices, its gatherings on a schedule, and the
rituals that open them (the reminder, and optionally the lottery's draw and speaking order).

- :mod:`bots.ghostchair.feature`: the registered feature class and its life cycle;
- :mod:`bots.ghostchair.commands`: ``!ghost ...`` and ``!gathering ...`` (grammar in
  :mod:`bots.ghostchair.grammar`, messages in :mod:`bots.ghostchair.render`);
- :mod:`bots.ghostchair.steps`: a gathering's job, catching up after downtime, sunsets;
- :mod:`bots.ghostchair.lottery_link`: the way to the lottery for a gathering's opening draw.

The rules live in :mod:`protocols.ghostchair`, :mod:`protocols.gathering` and
:mod:`protocols.schedule`, the tables in
:mod:`storage.ghostchair`, the settings in :mod:`bots.ghostchair.config`.
"""

from __future__ import annotations

from bots.ghostchair.feature import GhostChairFeature

__all__ = ["GhostChairFeature"]
