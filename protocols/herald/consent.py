"""Who may join a coalition, and how much one coalition may ask of the bot (pure rules).

A coalition is joined by invitation only: its coordination room issues a one-time token, and a
moderator of the joining room hands it back. A name alone never joins anything (whoever claimed
a name first would coordinate, and could send false orders through a trusted bot, to every room
that typed it later). Tokens are random (160 bits), expire, work once; storage keeps only their
hash. The limits keep one coalition from flooding the bot: each refusal says which limit.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from protocols.errors import RuleError

# A coalition name: what people type and read; unique per bot, and never enough to join.
COALITION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")

TOKEN_PREFIX = "cj-"
TOKEN_BYTES = 20  # 160 bits: guessing one is out of reach
INVITE_TTL = timedelta(hours=48)
_TOKEN = re.compile(r"^cj-[a-z2-7]{32}$")

MAX_MEMBERS = 1000  # member rooms per coalition by default, the coordination room included
# (No Kings counted hundreds of local groups; an operator may allow more, features.herald.max_member_rooms)
MAX_OPEN_INVITES = 10  # unexpired invitations per coalition
MAX_LIVE_RUNS = 10  # planned or confirmed runs per coalition
MAX_AMENDMENTS_PER_HOUR = 5  # per run: each one goes to every member room at once
MAX_EVENTS_PER_ROOM = 30  # upcoming calendar events one room lists
MAX_EVENTS_PER_COALITION = 300  # upcoming calendar events in one coalition's calendar


class ConsentError(RuleError):
    """A coalition set-up step was refused; the message says what to do instead."""


def check_coalition_name(name: str) -> str:
    """The normalised name, or a refusal saying how names are written."""
    wanted = name.strip().lower()
    if not COALITION_NAME.match(wanted):
        raise ConsentError(
            "That is not a coalition name: use lower-case letters, digits and - "
            "(e.g. spring-action), at most 48 characters."
        )
    return wanted


def make_invite_token(random_bytes: bytes) -> str:
    """A token from ``TOKEN_BYTES`` random bytes: easy to copy, unambiguous (base32)."""
    if len(random_bytes) != TOKEN_BYTES:
        raise ValueError(f"an invitation token needs {TOKEN_BYTES} random bytes")
    return TOKEN_PREFIX + base64.b32encode(random_bytes).decode("ascii").lower()


def check_invite_token(text: str) -> str:
    """The token as typed, normalised; a bare coalition name is refused with the way in."""
    token = text.strip().lower()
    if _TOKEN.match(token):
        return token
    if COALITION_NAME.match(token) and not token.startswith(TOKEN_PREFIX):
        raise ConsentError(
            "A coalition is joined by invitation, not by name: ask its coordination room for "
            "an invitation (a coordinator types !coalition invite there), then type "
            "!coalition join <token> here."
        )
    raise ConsentError(
        "That is not an invitation token (it looks like cj- followed by 32 letters and digits); "
        "ask the coordination room for one with !coalition invite."
    )
