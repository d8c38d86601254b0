"""Herald: day-of-action protocols broadcast across coalition rooms on federated homeservers.

``commands`` is the chat surface, ``feature`` the engine (delivery, acknowledgement, escalation),
``render`` the answers' text and tables. The rules themselves live in ``protocols.herald``.
"""

from __future__ import annotations

from bots.herald.feature import HeraldFeature

__all__ = ["HeraldFeature"]
