"""What the runtime runs: features on the contract (:mod:`bots.runtime.contract`), held as
themselves. The runtime names no feature; features register (:mod:`bots.runtime.registry`)."""

from __future__ import annotations

from typing import Any

from bots.runtime.contract import ContractFeature

Feature = ContractFeature[Any]
