"""Care: rotas that keep a care duty turning among volunteers (``!rota ...``), and handovers
from one mandate holder to the next (``!handover``)."""

from __future__ import annotations

from bots.care.feature import CareFeature

__all__ = ["CareFeature"]
