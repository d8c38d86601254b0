"""The operator's commands as real processes: `affinity run` stops cleanly; `affinity demo` works."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bots.devserver import Homeserver, free_port
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def test_run_answers_and_stops_on_sigterm(synapse: Homeserver, tmp_path: Path) -> None:
    harness = BotHarness(synapse, tmp_path / "bot", features=[])  # writes the config, registers the bot
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not wait for it
        [sys.executable, "-m", "bots.cli", "run", "--config", str(harness.config_path), "--json"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        umask=0o022,
    )
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("cli", [harness.user_id])
        await alice.wait_joined(room, harness.user_id, timeout=60)
        ping = await alice.send_text(room, "!ping")
        assert (await alice.wait_reply(room, ping, timeout=60))["content"]["body"] == "pong"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        logs = proc.stderr.read() if proc.stderr else ""
        assert '"msg": "stopped"' in logs
        assert "!ping" not in logs and "pong" not in logs  # never message bodies
        # The session was kept, not logged out: the device still exists.
        session = (tmp_path / "bot" / "data" / "bots").glob("*/session.sealed")
        assert list(session)
        # Started with a loose umask (below), `affinity run` still kept everything private.
        data = tmp_path / "bot" / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "affinity.db").stat().st_mode) == 0o600
        opened = [p for p in data.rglob("*") if stat.S_IMODE(p.lstat().st_mode) & 0o077]
        assert opened == []
    finally:
        if proc.poll() is None:
            proc.kill()
        await alice.close()


def test_demo_plays_its_script_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "bots.cli", "demo", "--dir", str(tmp_path / "demo"), "--port", str(port)]
    for _run in range(2):  # the second run reuses what the first made
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        out = []
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(out)
        assert "Press Ctrl-C" in text, text
        assert f"homeserver: http://localhost:{port}" in text and "password:" in text
        assert text.count("bot:  pong") == 2  # plain and encrypted rooms
        assert "!ping — Check that the bot is alive" in text
        assert "[plain room] demo: !roles" in text and "facilitator" in text.split("demo: !roles")[1]
        assert "[plain room] bot:  🪑" in text  # the ghost chair's reminder
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, proc.stdout.read()
    server = Homeserver(tmp_path / "demo" / "synapse")
    with pytest.raises(OSError):  # the homeserver is stopped too
        import urllib.request

        urllib.request.urlopen(f"{server.url}/_matrix/client/versions", timeout=2)
