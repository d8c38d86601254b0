"""Benchmark: the !ping round trip of the suite vs a minimal nio echo client; memory and
start-to-ready time with 500 joined rooms. One run, a local Synapse, rate limits lifted.

    .venv/bin/python bench/ping_roundtrip.py [--pings 300] [--rooms 500]

Prints p50/p95 in milliseconds for plain and encrypted rooms, the ratio suite/baseline
(target: within 1.1x), the bot's resident memory and its start-to-ready time.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bots.devclient import UserClient  # noqa: E402
from bots.devserver import Homeserver  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_trip(user: UserClient, room: str) -> float:
    start = time.perf_counter()
    event_id = await user.send_text(room, "!ping")
    await user.wait_reply(room, event_id, timeout=60)
    return (time.perf_counter() - start) * 1000


async def round_trips(user: UserClient, rooms: dict[str, str], count: int) -> dict[str, list[float]]:
    """Alternate between the bots ping by ping, so load on the machine hits both alike."""
    for room in rooms.values():  # warm-up: sessions shared, caches filled
        for _ in range(5):
            await one_trip(user, room)
    times: dict[str, list[float]] = {name: [] for name in rooms}
    for _ in range(count):
        for name, room in rooms.items():
            times[name].append(await one_trip(user, room))
    return times


def start_suite(
    server: Homeserver, work: Path, localpart: str, password: str
) -> tuple[subprocess.Popen[str], float]:
    config = work / "config.yaml"
    work.mkdir(parents=True, exist_ok=True)
    if not config.exists():
        config.write_text(
            yaml.safe_dump(
                {
                    "homeserver": server.url,
                    "data_dir": str(work / "data"),
                    "encryption": {"pickle_key": "bench"},
                    "bots": [{"user_id": server.user_id(localpart), "password": password, "features": []}],
                }
            )
        )
    # Logs go to a file: a pipe nobody reads would fill up and stall the bot.
    log = work / f"bot-{time.time():.0f}.log"
    started = time.monotonic()
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bots.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stderr=sink,
            text=True,
        )
    while "is ready" not in log.read_text():
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        time.sleep(0.02)
    return proc, time.monotonic() - started


async def main(pings: int, rooms: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="affinity-bench-"))
    server = Homeserver(work / "synapse")
    server.start()
    try:
        password = secrets.token_hex(8)
        server.register("suite", password)
        server.register("echo", password)
        server.register("alice", password)
        alice = UserClient(server.url, server.user_id("alice"), password, work / "alice")
        await alice.login()

        suite, _ = start_suite(server, work / "suite", "suite", password)
        echo = subprocess.Popen(  # noqa: ASYNC220 - starting it does not wait
            [
                sys.executable,
                str(ROOT / "bench" / "echo_client.py"),
                server.url,
                server.user_id("echo"),
                password,
                str(work / "echo"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(ROOT)},
        )
        assert echo.stdout is not None
        echo.stdout.readline()
        bots = {"suite": server.user_id("suite"), "baseline": server.user_id("echo")}
        results = {name: {} for name in bots}
        for encrypted in (False, True):
            label = "encrypted" if encrypted else "plain"
            ping_rooms: dict[str, str] = {}
            for name, bot in bots.items():
                ping_rooms[name] = await alice.create_room(f"{name}-{label}", [bot], encrypted=encrypted)
                await alice.wait_joined(ping_rooms[name], bot, timeout=60)
            for name, times in (await round_trips(alice, ping_rooms, pings)).items():
                results[name][label] = times
        echo.terminate()

        print(f"\n!ping round trip over {pings} pings (ms)")
        print(f"{'':10}{'':11}{'p50':>8}{'p95':>8}")
        for label in ("plain", "encrypted"):
            for name in ("suite", "baseline"):
                t = results[name][label]
                print(f"{label:10}{name:11}{statistics.median(t):8.1f}{pct(t, 95):8.1f}")
            ratio = statistics.median(results["suite"][label]) / statistics.median(results["baseline"][label])
            print(f"{label:10}{'ratio p50':11}{ratio:8.2f}x (target <= 1.10x)")

        # 500 rooms: join them all, then measure a restart.
        start = time.monotonic()
        made = []
        for i in range(rooms):
            made.append(await alice.create_room(f"many-{i}", [server.user_id("suite")]))
        await alice.wait_joined(made[-1], server.user_id("suite"), timeout=300)
        print(f"\ncreated {rooms} rooms with the bot in {time.monotonic() - start:.0f}s")
        for room in made[-20:]:
            await alice.wait_joined(room, server.user_id("suite"), timeout=120)
        suite.terminate()
        suite.wait(30)
        suite, ready_s = start_suite(server, work / "suite", "suite", password)
        await asyncio.sleep(2)  # let the first sync settle before reading its memory
        print(
            f"start-to-ready with {rooms} rooms: {ready_s:.2f}s; resident memory: {rss_mb(suite.pid):.0f} MB"
        )
        suite.terminate()
        suite.wait(30)
        await alice.close()
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pings", type=int, default=300)
    parser.add_argument("--rooms", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.pings, args.rooms))
