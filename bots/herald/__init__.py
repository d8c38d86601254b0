"""Herald: day-of-action protocols broadcast across coalition rooms on federated homeservers.

``feature`` is the feature class (registered under ``herald``), assembled from one module per
concern (see its docstring); ``render`` the answers' text. The rules live in ``protocols.herald``.
"""

from __future__ import annotations

from bots.herald.feature import HeraldFeature

__all__ = ["HeraldFeature"]
