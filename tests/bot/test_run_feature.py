"""The base of the features whose records live and die with a run (bots/dayofaction/run_feature.py):
a feature that forgets to say its store or its records fails when it is made, not later."""

from __future__ import annotations

from typing import cast

import pytest

from bots.dayofaction.run_feature import RunFeature
from bots.intake.feature import IntakeFeature
from bots.rides.feature import RidesFeature
from bots.runtime.host import Host
from bots.slots.feature import SlotsConfig, SlotsFeature
from bots.slots.store import SlotStore
from storage.db import Database


def test_slots_intake_and_rides_share_the_run_feature_base() -> None:
    for cls in (SlotsFeature, IntakeFeature, RidesFeature):
        assert issubclass(cls, RunFeature) and not cls.__abstractmethods__, cls


def test_a_run_feature_without_its_store_or_records_cannot_be_made() -> None:
    class NoStore(RunFeature[SlotsConfig, SlotStore]):
        name = "nostore"
        records = "nothing"

    class NoRecords(RunFeature[SlotsConfig, SlotStore]):
        name = "norecords"

        def open_store(self, db: Database) -> SlotStore:
            return SlotStore(db)

    host = cast(Host, None)
    with pytest.raises(TypeError, match="open_store"):
        NoStore(host, SlotsConfig())  # type: ignore[abstract]
    with pytest.raises(TypeError, match="records"):
        NoRecords(host, SlotsConfig())  # type: ignore[abstract]
