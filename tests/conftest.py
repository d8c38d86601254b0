"""Property tests are derandomized by default, so a CI run is repeatable: the same examples on
every machine, and a red run is red again on a laptop. ``HYPOTHESIS_PROFILE=explore`` lets
hypothesis search afresh (run it before a release, and keep what it finds as an example)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
