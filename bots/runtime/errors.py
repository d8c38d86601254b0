"""Typed errors. Bad input and refusals are exceptions caught in one place (the router).

``UsageError`` and ``UserError`` are shown to the person who typed the command. The
``MatrixError`` family is what the adapter raises instead of nio's error values, so feature code
never inspects nio response types.
"""

from __future__ import annotations


class UserError(Exception):
    """A refusal the user should read (``str(exc)`` is the reply)."""


class UsageError(UserError):
    """The command was called with arguments that do not fit its declaration."""


class PermissionDenied(UserError):
    """The sender lacks the power level (or access) the command needs."""


class MatrixError(Exception):
    """The homeserver answered with an error."""

    def __init__(self, message: str, errcode: str | None = None, status: int | None = None):
        super().__init__(message)
        self.errcode = errcode
        self.status = status


class RateLimited(MatrixError):
    def __init__(self, retry_after_ms: int, message: str = "rate limited") -> None:
        super().__init__(message, "M_LIMIT_EXCEEDED", 429)
        self.retry_after_ms = retry_after_ms


class Forbidden(MatrixError):
    """Permanent for this request: not in the room, not allowed, banned."""


class NotFound(MatrixError):
    """The room, event or user does not exist (or is not visible to us)."""


class TransportError(MatrixError):
    """The homeserver could not be reached; try again later."""


# Errors after which sending the same request again cannot succeed.
PERMANENT = (Forbidden, NotFound)
