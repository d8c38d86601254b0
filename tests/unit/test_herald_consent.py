"""Pure rules of joining a coalition: names, invitation tokens."""

from __future__ import annotations

import random

import pytest

from protocols.herald.consent import (
    TOKEN_BYTES,
    ConsentError,
    check_coalition_name,
    check_invite_token,
    make_invite_token,
)


def test_a_token_carries_160_random_bits_and_reads_back() -> None:
    rng = random.Random(7)
    tokens = {make_invite_token(rng.randbytes(TOKEN_BYTES)) for _ in range(200)}
    assert len(tokens) == 200 and TOKEN_BYTES * 8 >= 128
    for token in tokens:
        assert check_invite_token(f"  {token.upper()} ") == token
    with pytest.raises(ValueError):
        make_invite_token(b"short")


@pytest.mark.parametrize(
    "typed, says",
    [
        ("spring", "not by name"),
        ("spring-action", "not by name"),
        ("cj-0000", "not an invitation token"),
        ("cj-" + "a" * 31, "not an invitation token"),
        ("<b>x</b>", "not an invitation token"),
        ("", "not an invitation token"),
    ],
)
def test_anything_but_a_token_is_refused_with_the_way_in(typed: str, says: str) -> None:
    with pytest.raises(ConsentError, match=says):
        check_invite_token(typed)


def test_coalition_names() -> None:
    assert check_coalition_name(" Spring-2026 ") == "spring-2026"
    for bad in ("", "-x", "a b", "x" * 49, "émeute", "a_b"):
        with pytest.raises(ConsentError, match="not a coalition name"):
            check_coalition_name(bad)
