"""Whether the homeserver rate-limits the bot's messages, checked at start, with the fix.

Synapse's default (``rc_message``: a burst of 10, then one message every 5 s) turns a phase to a
thousand rooms into more than an hour. The override is per account, through the admin API; the
check reads it with the bot's own token, which works when the bot's account is a server admin
(otherwise the homeserver refuses and we say that we could not tell). The outbox also warns, once,
the first time a send is actually rate-limited (bots/runtime/outbox.py).
"""

from __future__ import annotations

import logging
from typing import Any

from bots.runtime.errors import MatrixError, TransportError
from bots.runtime.matrix import Matrix, q

log = logging.getLogger(__name__)

# Said with every warning: what the operator runs to lift the limit, and where it is explained.
FIX = (
    "lift it for the bot with Synapse's admin API (an admin's token): "
    "POST /_synapse/admin/v1/users/<bot user id>/override_ratelimit "
    '{"messages_per_second": 0, "burst_count": 0}; see docs/operators.md, "A thousand rooms"'
)

LIFTED, LIMITED, UNKNOWN = "lifted", "limited", "unknown"


def verdict(override: dict[str, Any]) -> str:
    """``lifted`` when the account's override removes the limit, else ``limited`` (no override,
    or one that still limits)."""
    rate, burst = override.get("messages_per_second"), override.get("burst_count")
    return LIFTED if rate == 0 and burst == 0 else LIMITED


async def check_rate_limit(matrix: Matrix, user_id: str) -> str:
    """Log what is known of the bot's rate limit; returns ``lifted``, ``limited`` or ``unknown``."""
    path = f"/_synapse/admin/v1/users/{q(user_id)}/override_ratelimit"
    try:
        override = await matrix.api("GET", path)
    except (MatrixError, TransportError) as exc:
        log.info(
            "could not read %s's rate limit (%s: the bot is no server admin, or the homeserver "
            "is no Synapse); if it is limited, the outbox warns at the first refusal",
            user_id,
            exc.errcode or type(exc).__name__,
        )
        return UNKNOWN
    result = verdict(override)
    if result == LIFTED:
        log.info("%s is not rate-limited by its homeserver", user_id)
    else:
        log.warning(
            "%s is rate-limited by its homeserver: a phase to many rooms will crawl; %s", user_id, FIX
        )
    return result
