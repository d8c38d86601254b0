"""What counts as a direct chat with the bot."""

from __future__ import annotations

import pytest

from bots.runtime.bot import is_direct_chat


@pytest.mark.parametrize(
    ("members", "invited_direct", "expected"),
    [
        (2, True, True),  # Element's "start chat": the invite says is_direct
        (2, None, True),  # the invite was never seen (joined before the bot kept it): by size
        (2, False, False),  # a group's room with one member so far is still a group's
        (1, False, False),
        (3, True, False),  # a DM that grew a third member is not private any more
        (3, None, False),
        (12, False, False),
    ],
)
def test_is_direct_chat(members: int, invited_direct: bool | None, expected: bool) -> None:
    assert is_direct_chat(members, invited_direct) is expected
