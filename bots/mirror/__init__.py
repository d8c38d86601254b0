"""Blind mirrors on Matrix: anonymous reflections collected by encrypted DM, released at once.

- :mod:`bots.mirror.feature`: the feature, its jobs (close, release, expire) and forgetting;
- :mod:`bots.mirror.commands`: ``!mirror open`` and ``!mirror status`` in group rooms;
- :mod:`bots.mirror.conversation`: the DM conversation (``reflect <code>``, prompts, ``submit``).

The rules live in :mod:`protocols.mirror`, the sealed storage in :mod:`storage.mirror`; what the
suite protects against, and what it cannot, is in ``docs/mirror-threat-model.md``.
"""

from __future__ import annotations

from bots.mirror.feature import MirrorFeature

__all__ = ["MirrorFeature"]
