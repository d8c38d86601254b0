"""Benchmark: the public calendar's listener serving a coalition of 1,000 events.

    .venv/bin/python bench/calendar_serve.py [--events 1000] [--requests 10000] [--clients 8]

The listener (bots/calendar/public_http.py, the code the bot runs) serves in its own process;
this process is the clients: ``--clients`` concurrent connections fetching the page and the
feed in turn (one in ten a conditional request answered 304). Prints the body sizes and the
time to build them, p50/p95/p99 latency, requests per second, and the listener's resident
memory after a warm-up and after every request, each with its target:
p95 < 20 ms, >= 500 requests/s, memory flat (grows < 5 MB over the run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bots.calendar.page import render_page  # noqa: E402
from bots.calendar.public_http import Bodies, PublicServer  # noqa: E402
from protocols.calendar_feed import FeedCache, FeedEvent, build_feed  # noqa: E402
from protocols.calendar_page import page_days  # noqa: E402

TOKEN = "bench-token-0123456789abcdefghij"
ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "UTC", "Asia/Tokyo"]


def events(count: int, now: datetime) -> list[FeedEvent]:
    return [
        FeedEvent(
            uid=f"{i:08x}@affinity",
            title=f"Action {i}: march for the commons",
            starts_at=now + timedelta(hours=3 + i * 7),
            ends_at=now + timedelta(hours=5 + i * 7) if i % 3 else None,
            zone=ZONES[i % len(ZONES)],
            place=f"Square {i}, by the fountain",
            private=i % 4 == 0,
            sequence=i % 5,
            created_at=now,
            modified_at=now,
            cancelled=i % 17 == 0,
            holder=f"Local group {i % 40}",
        )
        for i in range(count)
    ]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def serve(count: int, port_file: Path) -> None:
    """The listener's process: one published calendar of ``count`` events."""
    now = datetime.now(UTC)
    data = events(count, now)
    started = time.perf_counter()
    cache = FeedCache()
    bodies = Bodies(
        page=render_page("bench", page_days(data, now), None), feed=build_feed("bench", data, cache=cache)
    )
    built = time.perf_counter() - started
    # One event edited: the feed is rebuilt from the cache (one VEVENT serialised again).
    data[500] = replace(data[500], title="Action 500: moved", sequence=data[500].sequence + 1)
    started = time.perf_counter()
    build_feed("bench", data, cache=cache)
    render_page("bench", page_days(data, now), None)
    rebuilt = time.perf_counter() - started

    async def lookup(token: str) -> tuple[str, object] | None:
        return ("bench", 1) if token == TOKEN else None

    async def build(coalition: str) -> Bodies:
        return bodies

    server = PublicServer(
        lookup,
        build,
        lambda: datetime.now(UTC),
        rebuild_after=timedelta(minutes=1),
        max_age=timedelta(minutes=5),
    )
    port = await server.start("127.0.0.1", 0)
    line = f"{port} {built:.4f} {len(bodies.page)} {len(bodies.feed)} {rebuilt:.4f}"
    await asyncio.to_thread(port_file.write_text, line)
    await asyncio.Event().wait()


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, etag: str | None
) -> tuple[int, str]:
    """One request on a kept-alive connection, read by hand (a light client: the listener is
    what is measured, not a client library)."""
    condition = f"If-None-Match: {etag}\r\n" if etag else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept-Encoding: gzip\r\n{condition}\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    await reader.readexactly(int(fields.get("content-length", "0")))
    return status, fields["etag"]


async def clients(port: int, total: int, concurrency: int, pid: int) -> None:
    paths = [f"/c/{TOKEN}/", f"/c/{TOKEN}/events.ics"]
    latencies: list[float] = []
    etags: dict[str, str] = {}
    issued = 0
    warm_rss = 0.0

    async def worker() -> None:
        nonlocal issued, warm_rss
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while issued < total:
            n = issued
            issued += 1
            path = paths[n % 2]
            t0 = time.perf_counter()
            status, etag = await _get(reader, writer, path, etags.get(path) if n % 10 == 9 else None)
            latencies.append(time.perf_counter() - t0)
            assert status in (200, 304), status
            etags[path] = etag
            if n == 1_000:
                warm_rss = rss_mb(pid)
        writer.close()

    started, cpu_before = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    end_rss = rss_mb(pid)
    p50, p95, p99 = (pct(latencies, p) * 1000 for p in (50, 95, 99))
    rate = len(latencies) / elapsed
    grown = end_rss - warm_rss
    print(f"requests: {len(latencies)} from {concurrency} concurrent clients in {elapsed:.2f} s")
    print(
        f"latency ms: p50 {p50:.2f}  p95 {p95:.2f}  p99 {p99:.2f}"
        f"   (target p95 < 20 ms: {'ok' if p95 < 20 else 'MISSED'})"
    )
    print(f"throughput: {rate:.0f} requests/s   (target >= 500: {'ok' if rate >= 500 else 'MISSED'})")
    print(
        f"listener memory: {warm_rss:.1f} MB after 1,000 requests, {end_rss:.1f} MB after {len(latencies):,}"
        f" (+{grown:.1f} MB; target flat, < 5 MB: {'ok' if grown < 5 else 'MISSED'})"
    )
    per = cpu / len(latencies) * 1000
    print(
        f"listener CPU: {per:.3f} ms per request, so one free core serves {1000 / per:.0f} requests/s"
        " (independent of the machine's other load)"
    )
    load = os.getloadavg()[0]
    print(
        f"machine load while measured: {load:.1f} on {os.cpu_count()} cores (others' work counts against us)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.events, args.serve))
        return
    port_file = Path(f"/tmp/calendar-bench-{os.getpid()}.port")
    port_file.unlink(missing_ok=True)
    server = subprocess.Popen(
        [sys.executable, __file__, "--events", str(args.events), "--serve", str(port_file)]
    )
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the listener did not start")
            time.sleep(0.05)
        port, built, page, feed, rebuilt = port_file.read_text().split()
        print(
            f"calendar of {args.events} events: page {int(page) / 1024:.0f} KiB, feed {int(feed) / 1024:.0f} KiB"
            " (served gzipped to clients that accept it)"
        )
        print(
            f"built in {float(built) * 1000:.0f} ms; after one edit rebuilt in {float(rebuilt) * 1000:.0f} ms"
            " (in a thread, off the bot's loop; then served from memory until it changes)"
        )
        asyncio.run(clients(int(port), args.requests, args.clients, server.pid))
    finally:
        server.terminate()
        server.wait()
        port_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
