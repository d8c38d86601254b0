"""Element's own SDK, not nio, talks to the bot: in an unencrypted room, an encrypted room and an
encrypted direct chat.

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
import re
import secrets
import shutil
import time
from dataclasses import dataclass
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
            node,
            str(SCRIPT),
            *args,
            "--timeout",
            str(SCRIPT_TIMEOUT),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=JS_DIR,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), SCRIPT_TIMEOUT + 30)
        except TimeoutError:
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


@dataclass
class ElementRun:
    """What element_client.mjs reported: its steps by name, and per command the sent event's id
    and the bot's reply to it."""

    lines: list[dict[str, Any]]
    elapsed: float

    @property
    def steps(self) -> dict[str, dict[str, Any]]:
        return {line["step"]: line for line in self.lines}

    @property
    def sent(self) -> dict[str, str]:
        return {line["command"]: line["event_id"] for line in self.lines if line["step"] == "sent"}

    @property
    def replies(self) -> dict[str, dict[str, Any]]:
        return {line["command"]: line for line in self.lines if line["step"] == "reply"}

    @property
    def notices(self) -> dict[str, dict[str, Any]]:
        return {line["text"]: line for line in self.lines if line["step"] == "notice"}

    @property
    def report(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines)

    def timings(self) -> str:
        return f"{self.elapsed:.1f} s in all; steps at " + ", ".join(
            f"{line['step']}={line['ms']} ms" for line in self.lines
        )


async def _talk(
    synapse: Homeserver, bot: BotHarness, tmp_path: Path, *options: str, encrypted: bool = True
) -> ElementRun:
    """A fresh Element-side user talks to ``bot``; the run must succeed, and Rust crypto must
    see both our own device and the bot's as cross-signed (MSC4153's condition for keys).

    Rust crypto judges the devices only of users who share an encrypted room with us: after a
    run in a plain room (``encrypted=False``) only the bot's identity can be checked."""
    password = secrets.token_hex(8)
    user_id = synapse.register(f"elem{secrets.token_hex(3)}", password)
    bot_device = bot.runtime.matrix.client.device_id
    stderr_path = tmp_path / "element_client.stderr"
    started = time.monotonic()
    code, lines = await _run_element_client(
        [
            "--homeserver",
            synapse.url,
            "--user",
            user_id,
            "--bot",
            bot.user_id,
            "--bot-device",
            bot_device,
            *options,
        ],
        password,
        stderr_path,
    )
    run = ElementRun(lines, time.monotonic() - started)
    report = run.report
    assert code == 0, (
        f"element_client.mjs exited {code}:\n{report}\nwarnings on stderr:\n{_warnings(stderr_path)}"
    )
    # Our Element-side user is itself an MSC4153 device, or the bot would rightly withhold its keys.
    assert run.steps["cross_signed_self"]["signed_by_owner"] is True, report
    identity = run.steps["bot_identity"]
    assert identity["device_id"] == bot_device
    assert identity["has_cross_signing_identity"] is True, report
    assert identity["tracked"] is encrypted, report
    assert identity["signed_by_owner"] is (True if encrypted else None), report
    # Nobody verified the bot interactively, and its identity never changed.
    assert identity["user_verified"] is False and identity["user_needs_approval"] is False, report
    # The script matched replies by m.in_reply_to; make sure each answers its own command.
    for command, reply in run.replies.items():
        assert reply["in_reply_to"] == run.sent[command], report
    return run


def _readable(notice: dict[str, Any], encrypted: bool, report: str) -> None:
    """Decrypted (or plain, as the room is) with no warning shield beside it, as for any
    cross-signed device of an unverified user."""
    assert notice["encrypted"] is encrypted, report
    # Rust crypto has no encryption info, so no shield, for an unencrypted event.
    assert notice["shield"] == ("NONE" if encrypted else None), report


@pytest.mark.parametrize("kind", ["encrypted", "plain", "dm"])
async def test_element_sdk_under_msc4153_gets_replies_to_ping_and_help(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path, kind: str
) -> None:
    run = await _talk(synapse, core_bot, tmp_path, "--room-kind", kind, encrypted=kind != "plain")
    report = run.report
    assert run.steps["room_created"]["kind"] == kind, report
    ping, help_ = run.replies["!ping"], run.replies["!help"]
    for reply in (ping, help_):
        _readable(reply, kind != "plain", report)
    assert ping["body"] == "pong", report
    assert "!ping" in help_["body"], report
    assert "<code>!help [&lt;command&gt;]</code>" in (help_["formatted_body"] or ""), report
    print(f"\nElement SDK round trip ({kind}): {run.timings()}")


async def test_element_sdk_decrypts_a_lottery_draw_and_its_reveal(
    synapse: Homeserver, tmp_path: Path
) -> None:
    """A real feature through Element: the lottery's roles, its commitment and its reveal.

    The bot counts a room with only one person and itself as a direct chat, where !roles and
    !draw are refused; so a second person is invited who never joins. The room is a group room,
    and the pool is our Element user alone: one member draws every vacant role.
    """
    bot = BotHarness(
        synapse,
        tmp_path / "bot",
        ["lottery"],
        extra={"features": {"lottery": {"commit_window": "3s"}}},
    )
    await bot.start()
    try:
        invitee = synapse.register(f"guest{secrets.token_hex(3)}", secrets.token_hex(8))
        run = await _talk(
            synapse,
            bot,
            tmp_path,
            "--commands",
            "!roles,!draw",
            "--invite",
            invitee,
            "--await-notice",
            " result:",
        )
    finally:
        await bot.stop()
    report = run.report
    user_id = run.steps["logged_in"]["user_id"]
    roles, commit = run.replies["!roles"], run.replies["!draw"]
    result = run.notices[" result:"]
    for notice in (roles, commit, result):
        _readable(notice, True, report)
    assert "facilitator: vacant" in roles["body"] and "window for chance is 3s" in roles["body"], report
    # The roles read as a list Element X can show (it renders no tables), built as HTML.
    html = roles["formatted_body"] or ""
    assert "<li><strong>facilitator</strong>: vacant</li>" in html and "<table" not in html, report

    drawn = re.search(r"^Draw (\w+): ([\w, ]+), among 1 \((\S+)\)\.$", commit["body"], re.MULTILINE)
    assert drawn and drawn.group(3) == user_id, report
    draw_id, drawn_roles = drawn.group(1), drawn.group(2).split(", ")
    assert re.search(r"^Commitment: [0-9a-f]{64}$", commit["body"], re.MULTILINE), report
    assert bot.user_id not in commit["body"], report
    assert f"<strong>Draw {draw_id}</strong>" in (commit["formatted_body"] or ""), report

    # The reveal is no reply to a command of ours but to the commitment, and gives us every role.
    assert result["in_reply_to"] == commit["event_id"], report
    assert result["body"].startswith(f"Draw {draw_id} result:"), report
    holders = dict(re.findall(r"^• (\w+) → (\S+) \(until", result["body"], re.MULTILINE))
    assert holders == dict.fromkeys(drawn_roles, user_id), report
    assert "0 contributions from members" in result["body"], report
    print(f"\nElement SDK lottery: {run.timings()}")
