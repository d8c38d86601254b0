"""The operator's view of a running bot on a real Synapse: /healthz, /metrics, the sweeper; the
secrets at rest (sealed under the pickle key) and `affinity wipe --revoke`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bots.config import require_pickle_key
from bots.devserver import Homeserver, free_port
from bots.runtime.sealed_files import read_sealed
from bots.runtime.session import SESSION_PURPOSE
from bots.sweeper import SWEEP_JOB_ID, Sweeper
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
    ]


async def test_health_metrics_and_sweep_of_a_running_bot(synapse: Homeserver, tmp_path: Path) -> None:
    port = free_port()
    bot = BotHarness(
        synapse, tmp_path / "bot", features=[], extra={"metrics": {"enabled": True, "port": port}}
    )
    await bot.start(timeout=30)
    alice = await person(synapse, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        room = await alice.create_room("ops", [bot.user_id])
        await alice.wait_joined(room, bot.user_id, timeout=20)
        ping = await alice.send_text(room, "!ping")
        assert (await alice.wait_reply(room, ping, timeout=20))["content"]["body"] == "pong"

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200, await resp.text()
                assert await resp.json() == {"status": "ok", "problems": {}}
            async with http.get(f"{base}/metrics") as resp:
                assert resp.status == 200
                text = await resp.text()
        found = samples(text)
        mine = {"bot": bot.user_id}
        assert any(
            name == "affinity_commands_total"
            and labels == {"command": "ping", "outcome": "ok"}
            and value >= 1
            for name, labels, value in found
        )
        assert any(n == "affinity_send_latency_seconds_count" and lb == mine and v >= 1 for n, lb, v in found)
        assert any(n == "affinity_scheduled_jobs" and lb == mine and v >= 1 for n, lb, v in found)
        assert any(n == "affinity_outbox_pending" and lb == mine for n, lb, v in found)
        (age,) = [v for n, lb, v in found if n == "affinity_last_successful_sync_age_seconds" and lb == mine]
        assert 0 <= age < 60
        assert "pong" not in text and room not in text  # no bodies, no room ids

        # The sweeper is scheduled on the bot's scheduler; once the ping's records expire, it
        # deletes them and keeps what is still young.
        runtime = bot.runtime
        assert runtime.scheduler.has(SWEEP_JOB_ID)
        sweeper = Sweeper(runtime, bot.config.retention)
        assert await sweeper.sweep(datetime.now(UTC)) == {"handled_events": 0, "outbox": 0}
        later = datetime.now(UTC) + timedelta(days=3)
        counts = await sweeper.sweep(later)
        assert counts["handled_events"] >= 1 and counts["outbox"] >= 1
        left = await runtime.db.fetchone("SELECT count(*) FROM handled_event WHERE bot = ?", (bot.user_id,))
        assert left[0] == 0
    finally:
        await alice.close()
        await bot.stop()
    with pytest.raises(aiohttp.ClientConnectionError):  # the listener stops with the app
        async with aiohttp.ClientSession() as http:
            await http.get(f"{base}/healthz")


def file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def all_bytes(directory: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink()
    )


async def test_secrets_rest_sealed_and_wipe_revoke_logs_the_device_out(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=[])
    await bot.start(timeout=60)
    token, device = bot.runtime.client.access_token, bot.runtime.client.device_id
    directory: Path = bot.runtime.directory
    key = require_pickle_key(bot.config)
    await bot.stop()

    # At rest the token and the cross-signing keys are sealed; no plain file is left.
    assert file_names(directory) == ["cross_signing.sealed", "session.sealed"]
    assert token.encode() not in all_bytes(directory)

    # A data dir from before (plain JSON files) is sealed on the next start, same device.
    saved = read_sealed(directory / "session.sealed", key, SESSION_PURPOSE, bot.user_id)
    (directory / "session.json").write_text(json.dumps(saved))
    (directory / "session.sealed").unlink()
    await bot.start(timeout=60)
    assert bot.runtime.client.device_id == device
    await bot.stop()
    assert not (directory / "session.json").exists() and (directory / "session.sealed").exists()
    assert token.encode() not in all_bytes(directory)

    status, _ = synapse._request("GET", "/_matrix/client/v3/account/whoami", token=token)
    assert status == 200
    env = {k: v for k, v in os.environ.items() if k != "AFFINITY_PICKLE_KEY"}  # the key is in the file
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "bots.cli",
            "wipe",
            "--config",
            str(bot.config_path),
            "--yes-destroy-everything",
            "--revoke",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{bot.user_id}: logged out device {device}" in done.stdout
    status, body = synapse._request("GET", "/_matrix/client/v3/account/whoami", token=token)
    assert status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN"
    assert not (tmp_path / "bot" / "data" / "bots").exists()
    assert not (tmp_path / "bot" / "data" / "affinity.db").exists()
