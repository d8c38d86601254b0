"""What the outbox sends, by kind: a message (or an edit: a message that replaces another), a
redaction, or a file upload. One send function for the outbox, so every way out of the bot
shares its retries, its order within a room and its exactly-once transaction ids.

The outbox row's ``kind`` says which: a ``message`` or an ``edit`` is sent as the event type the
row names; a ``redaction`` and an ``upload`` are ours (their rows' ``event_type`` is
:data:`REDACTION` or :data:`UPLOAD`, for the operator reading the table).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from bots.runtime.ids import EventID, RoomID

REDACTION = "m.room.redaction"
# Not a Matrix type: a file to upload, then post as an ``m.file`` message.
UPLOAD = "org.affinity.upload"


class Sends(Protocol):
    """The part of the Matrix adapter (bots/runtime/matrix.py) that delivery needs."""

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID: ...

    async def redact(
        self, room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None
    ) -> None: ...

    async def upload(self, data: bytes, content_type: str, filename: str) -> str: ...

    async def is_encrypted(self, room_id: RoomID) -> bool: ...


def upload_content(
    data: bytes, filename: str, mimetype: str, relates_to: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The outbox row of an upload: the file (base64) and the ``m.file`` message around it.
    The outbox blanks a row's content once it is sent, so the file does not outlive its sending."""
    message: dict[str, Any] = {
        "msgtype": "m.file",
        "body": filename,
        "filename": filename,
        "info": {"mimetype": mimetype, "size": len(data)},
        "m.mentions": {},
    }
    if relates_to:
        message["m.relates_to"] = relates_to
    return {"data": base64.b64encode(data).decode(), "mimetype": mimetype, "message": message}


class KindedSender:
    """The outbox's send function over the Matrix adapter: ``Outbox(db, bot, KindedSender(m).send)``."""

    def __init__(self, matrix: Sends) -> None:
        self.matrix = matrix

    async def send(
        self, room_id: RoomID, kind: str, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID:
        if kind == "redaction":
            target = EventID(str(content["redacts"]))
            await self.matrix.redact(room_id, target, txn_id, content.get("reason"))
            return target  # the redaction's own id is not returned by the API we use
        if kind == "upload":
            return await self._upload(room_id, content, txn_id)
        return await self.matrix.send_event(room_id, event_type, content, txn_id)

    async def _upload(self, room_id: RoomID, content: dict[str, Any], txn_id: str) -> EventID:
        data = base64.b64decode(content["data"])
        mimetype = str(content["mimetype"])
        message = dict(content["message"])
        if await self.matrix.is_encrypted(room_id):
            # In an encrypted room the file is encrypted too: the server keeps only ciphertext.
            from nio.crypto.attachments import encrypt_attachment

            ciphertext, keys = encrypt_attachment(data)
            url = await self.matrix.upload(ciphertext, "application/octet-stream", message["filename"])
            message["file"] = {"url": url, "mimetype": mimetype, **keys}
        else:
            message["url"] = await self.matrix.upload(data, mimetype, message["filename"])
        # A retry after a crash may upload the file again (media has no transaction id); the
        # message itself still lands once.
        return await self.matrix.send_event(room_id, "m.room.message", message, txn_id)
