"""Element's own SDK, not nio, talks to the bot in an encrypted room.

A suite where nio only talks to nio cannot catch what Element's crypto rejects. Here
matrix-js-sdk with its Rust crypto (tests/js/element_client.mjs) runs as a second, independent
client under MSC4153 rules: it shares room keys only with devices their owners cross-signed and
decrypts only from such devices. So the bot's replies decrypting there proves that Element accepts
the bot's self-made cross-signing identity and the signature on its device.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness

pytestmark = pytest.mark.e2e

JS_DIR = Path(__file__).resolve().parents[1] / "js"
SCRIPT = JS_DIR / "element_client.mjs"
# The script gives up after this many seconds with its own message; we allow a margin beyond.
SCRIPT_TIMEOUT = 60


async def _run_element_client(
    args: list[str], password: str, stderr_path: Path
) -> tuple[int, list[dict[str, Any]]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (v20+) is not on PATH; the Element SDK test needs it (install nodejs)")
    if not (JS_DIR / "node_modules" / "matrix-js-sdk").is_dir():
        pytest.fail("matrix-js-sdk is not installed; run `make test` or `npm ci --prefix tests/js`")
    env = {**os.environ, "ELEMENT_PASSWORD": password}
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            node, str(SCRIPT), *args, "--timeout", str(SCRIPT_TIMEOUT),
            stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env, cwd=JS_DIR,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT + 30)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"element_client.mjs hung; warnings on stderr:\n{_warnings(stderr_path)}")
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return proc.returncode if proc.returncode is not None else -1, lines


def _warnings(path: Path, keep: int = 40) -> str:
    """The warnings and errors in the script's stderr (the SDK's debug chatter left out).

    Rust crypto says here why it refused something, e.g. a key it could not decode.
    """
    picked: list[str] = []
    inside = False
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("WARN", "ERROR")) or " WARN " in line[:40] or " ERROR " in line[:40]:
            inside = True
        elif not line.startswith(" ") or line.lstrip().startswith("at "):
            inside = False
        if inside:
            picked.append(line)
    return "\n".join(picked[-keep:]) or "(no warnings)"


async def test_element_sdk_under_msc4153_gets_decryptable_replies(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    localpart = f"elem{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    user_id = synapse.register(localpart, password)
    bot_device = core_bot.runtime.matrix.client.device_id
    stderr_path = tmp_path / "element_client.stderr"

    started = time.monotonic()
    code, lines = await _run_element_client(
        ["--homeserver", synapse.url, "--user", user_id,
         "--bot", core_bot.user_id, "--bot-device", bot_device],
        password,
        stderr_path,
    )
    elapsed = time.monotonic() - started
    steps = {line["step"]: line for line in lines}
    sent = {line["command"]: line["event_id"] for line in lines if line["step"] == "sent"}
    replies = {line["command"]: line for line in lines if line["step"] == "reply"}
    report = "\n".join(json.dumps(line) for line in lines)
    warnings = _warnings(stderr_path)
    assert code == 0, f"element_client.mjs exited {code}:\n{report}\nwarnings on stderr:\n{warnings}"

    # Our Element-side user is itself an MSC4153 device, or the bot would rightly withhold its keys.
    assert steps["cross_signed_self"]["signed_by_owner"] is True, report
    identity = steps["bot_identity"]
    assert identity["device_id"] == bot_device
    assert identity["has_cross_signing_identity"] is True, report
    assert identity["signed_by_owner"] is True, report
    # Nobody verified the bot interactively, and its identity never changed.
    assert identity["user_verified"] is False and identity["user_needs_approval"] is False, report

    ping, help_ = replies["!ping"], replies["!help"]
    # No warning shield beside either reply, as for any cross-signed device of an unverified user.
    assert ping["shield"] == help_["shield"] == "NONE", report
    assert ping["encrypted"] is True and ping["body"] == "pong", report
    assert help_["encrypted"] is True and "!ping" in help_["body"], report
    assert "<code>!help [&lt;command&gt;]</code>" in (help_["formatted_body"] or ""), report
    # The script matched replies by m.in_reply_to; make sure each answers its own command.
    assert ping["in_reply_to"] == sent["!ping"] and help_["in_reply_to"] == sent["!help"], report
    print(f"\nElement SDK round trip: {elapsed:.1f} s in all; steps at "
          + ", ".join(f"{line['step']}={line['ms']} ms" for line in lines))
