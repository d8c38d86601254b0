"""The contract's one way out, against the real Synapse: a post whose event id is learnt by
waiting, an edit, an encrypted file upload and a redaction, all through the outbox."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from nio.crypto.attachments import decrypt_attachment

from bots.devserver import Homeserver
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message, bold
from bots.runtime.runtime_host import RuntimeHost
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


def content_of(event: dict[str, Any]) -> dict[str, Any]:
    content = event.get("content")
    return content if isinstance(content, dict) else {}


async def test_post_edit_upload_and_redact_through_the_outbox(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    runtime = core_bot.runtime
    # The runtime's own outbox, as BotRuntime builds it: it sends by kind (KindedSender) and
    # prepares each encrypted room first (its state once, then its devices' trust).
    host = RuntimeHost(runtime, "e2e")
    alice = await person(synapse, tmp_path)
    try:
        room = RoomID(await alice.create_room("contract", [core_bot.user_id], encrypted=True))
        await alice.wait_joined(room, core_bot.user_id)

        sent = await host.post(
            room, Message.of("Kept ", bold("<b>x</b> & @room")), key("e2e", "post"), wait=True
        )
        assert sent is not None
        got = await alice.wait_readable(room, lambda e: e.get("event_id") == sent)
        assert content_of(got)["body"] == "Kept <b>x</b> & @room"
        assert "<strong>&lt;b&gt;x&lt;/b&gt; &amp; @room</strong>" in content_of(got)["formatted_body"]
        assert content_of(got)["m.mentions"] == {}

        await host.edit(room, EventID(sent), Message.of("Kept, and edited"), key("e2e", "edit"))
        edit = await alice.wait_readable(
            room, lambda e: (content_of(e).get("m.relates_to") or {}).get("rel_type") == "m.replace"
        )
        assert content_of(edit)["m.relates_to"]["event_id"] == sent
        assert content_of(edit)["m.new_content"]["body"] == "Kept, and edited"

        await host.upload(
            room, ICS, "calendar.ics", "text/calendar", key("e2e", "ics"), reply_to=EventID(sent)
        )
        file_event = await alice.wait_readable(room, lambda e: content_of(e).get("msgtype") == "m.file")
        content = content_of(file_event)
        assert "url" not in content  # an encrypted room gets an encrypted file
        sealed = content["file"]
        server, media_id = sealed["url"].removeprefix("mxc://").split("/", 1)
        resp = await alice.client.send(
            "GET",
            f"/_matrix/client/v1/media/download/{server}/{media_id}",
            None,
            {"Authorization": f"Bearer {alice.client.access_token}"},
        )
        ciphertext = await resp.read()
        assert ciphertext != ICS
        assert (
            decrypt_attachment(ciphertext, sealed["key"]["k"], sealed["hashes"]["sha256"], sealed["iv"])
            == ICS
        )

        await host.redact(room, EventID(sent), key("e2e", "redact"), reason="expired")
        deadline = time.monotonic() + 30
        while True:
            event = await alice.api("GET", f"/_matrix/client/v3/rooms/{room}/event/{sent}")
            if event.get("content") == {} and "redacted_because" in event.get("unsigned", {}):
                break
            assert time.monotonic() < deadline, "the redaction never landed"
            await asyncio.sleep(0.2)  # polling with a deadline
        done = await runtime.outbox.delivery(key("e2e", "redact"))
        assert done is not None and done.state == "sent"
    finally:
        await alice.close()
