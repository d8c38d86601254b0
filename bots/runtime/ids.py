"""Typed Matrix identifiers: a room id is never passed where a user id belongs."""

from __future__ import annotations

import re
from typing import NewType

RoomID = NewType("RoomID", str)
UserID = NewType("UserID", str)
EventID = NewType("EventID", str)

USER_ID_RE = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d{1,5})?$")


def server_of(mxid: str) -> str:
    """The server name part of a user or room id (``@a:localhost:8448`` -> ``localhost:8448``)."""
    _, _, server = mxid.partition(":")
    return server


def is_user_id(text: str) -> bool:
    return bool(USER_ID_RE.match(text))
