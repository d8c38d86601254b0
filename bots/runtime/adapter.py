"""The Matrix adapter's interface: what the runtime, the hosts and delivery call on the
homeserver. :class:`~bots.runtime.matrix.Matrix` implements it over nio; the tier-2 fake
(tests/bot/fakes.py ``FakeMatrix``) implements it in memory. Both are checked against it by mypy,
so a method added to or changed in one and not the other fails the lint, not a test run.

Encryption internals (``Matrix.client``, ``Matrix.api``, used by device trust and
cross-signing) are not part of it: the fake has no crypto.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bots.runtime.ids import EventID, RoomID, UserID

if TYPE_CHECKING:
    from bots.runtime.matrix import Matrix


class MatrixAdapter(Protocol):
    """A logged-in bot's view of its homeserver; every method raises the typed errors of
    bots/runtime/errors.py, never returns nio error values."""

    @property
    def user_id(self) -> UserID: ...

    # -- sending ------------------------------------------------------------------------------

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID: ...

    async def redact(
        self, room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None
    ) -> None: ...

    async def upload(self, data: bytes, content_type: str, filename: str) -> str: ...

    # -- reading rooms ------------------------------------------------------------------------

    async def joined_members(self, room_id: RoomID) -> list[UserID]: ...

    async def state_event(self, room_id: RoomID, event_type: str, state_key: str = "") -> dict[str, Any]: ...

    async def power_levels(self, room_id: RoomID) -> dict[str, Any]: ...

    async def creators(self, room_id: RoomID) -> frozenset[UserID]: ...

    async def room_name(self, room_id: RoomID) -> str: ...

    async def is_encrypted(self, room_id: RoomID) -> bool: ...

    async def resolve_room(self, ref: str) -> RoomID: ...

    async def messages(
        self, room_id: RoomID, start: str, end: str | None = None, limit: int = 100
    ) -> tuple[list[Any], str | None]: ...

    # -- membership ---------------------------------------------------------------------------

    async def join(self, room_id: str, reason: str | None = None) -> RoomID: ...

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None: ...

    async def invite(self, room_id: RoomID, user_id: UserID) -> None: ...

    async def create_room(
        self,
        name: str,
        invite: list[UserID],
        *,
        encrypted: bool = True,
        is_direct: bool = False,
        topic: str | None = None,
    ) -> RoomID: ...


if TYPE_CHECKING:

    def _matrix_is_an_adapter(matrix: Matrix) -> MatrixAdapter:
        return matrix  # mypy: the nio adapter implements the whole interface
