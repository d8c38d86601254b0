"""Blind mirrors on Matrix: anonymous reflections collected by encrypted DM, released at once.

- :mod:`bots.mirror.feature`: the feature class (registered as ``mirror``), its life cycle and
  forgetting a room; assembled from :mod:`bots.mirror.base`, :mod:`bots.mirror.commands`
  (``!mirror open|accept|decline|status``) and :mod:`bots.mirror.jobs` (close, release, expire);
- :mod:`bots.mirror.conversation`: the DM conversation (``reflect <code>``, prompts, ``submit``);
- :mod:`bots.mirror.render`: what rooms and DMs are told; :mod:`bots.mirror.config`: its settings.

The rules live in :mod:`protocols.mirror`, the sealed storage in :mod:`storage.mirror`; what the
suite protects against, and what it cannot, is in ``docs/mirror-threat-model.md``.
"""

from __future__ import annotations

from bots.mirror.feature import MirrorFeature

__all__ = ["MirrorFeature"]
