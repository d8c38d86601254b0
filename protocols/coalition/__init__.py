"""Coalitions without a center (issue 12): the pure core of the leaderless herald.

- ``registry``: the control room's registry folded from its events, a CRDT;
- ``reveal``: the only way to build control-room state, an allow-list of ids, hashes and flags.
"""

from __future__ import annotations
