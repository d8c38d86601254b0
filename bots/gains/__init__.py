"""The ledger of gains in self-rule: counted by category, shared with a coalition by consent.

Importing this package registers :class:`~bots.gains.feature.GainsFeature` (``features:
[gains]``); settings under ``features.gains``. The rules are :mod:`protocols.gains`; see
``docs/skills-and-gains.md``.
"""

from __future__ import annotations

from bots.gains.feature import GainsFeature

__all__ = ["GainsFeature"]
