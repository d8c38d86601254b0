"""The operator's view of a running bot on a real Synapse: /healthz, /metrics, the sweeper."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bots.devserver import Homeserver, free_port
from bots.sweeper import SWEEP_JOB_ID, Sweeper
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]


async def test_health_metrics_and_sweep_of_a_running_bot(synapse: Homeserver, tmp_path: Path) -> None:
    port = free_port()
    bot = BotHarness(synapse, tmp_path / "bot", features=[], extra={"metrics": {"enabled": True, "port": port}})
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
            name == "affinity_commands_total" and labels == {"command": "ping", "outcome": "ok"} and value >= 1
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
        assert await sweeper.sweep(datetime.now(timezone.utc)) == {"handled_events": 0, "outbox": 0}
        later = datetime.now(timezone.utc) + timedelta(days=3)
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
