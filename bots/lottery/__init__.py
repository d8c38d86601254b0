"""Role lotteries on Matrix: verifiable draws, mandates that end on their own, chance groupings.

Importing this package registers :class:`~bots.lottery.feature.LotteryFeature` (``features:
[lottery]``); its settings are :class:`~bots.lottery.config.LotteryConfig` under
``features.lottery``. One module per concern: :mod:`~bots.lottery.base`,
:mod:`~bots.lottery.mandates`, :mod:`~bots.lottery.draws`, :mod:`~bots.lottery.groupings`,
:mod:`~bots.lottery.cells`, assembled in :mod:`~bots.lottery.feature`; the messages in
:mod:`~bots.lottery.render`.

Other features call :meth:`LotteryFeature.opening_draw` and :meth:`LotteryFeature.speaking_order`
(the ghost chair, at a gathering's start). The rules live in :mod:`protocols.lottery`,
:mod:`protocols.mandates` and :mod:`protocols.groups`; the state in the ``storage.lottery*``
modules. How anyone can recompute a draw offline is in ``docs/lottery-algorithm.md``.
"""

from __future__ import annotations

from bots.lottery.feature import LotteryFeature

__all__ = ["LotteryFeature"]
