"""The skill-swap board: asks and offers that meet by consent, and skills that open roles.

Importing this package registers :class:`~bots.skills.feature.SkillsFeature` (``features:
[skills]``); its settings are :class:`~bots.skills.config.SkillsConfig` under
``features.skills``. The rules live in :mod:`protocols.skills`; see ``docs/skills-and-gains.md``.
"""

from __future__ import annotations

from bots.skills.feature import SkillsFeature

__all__ = ["SkillsFeature"]
