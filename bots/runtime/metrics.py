"""Prometheus metrics of the runtime. One registry per process, served by bots/runtime/health.py."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

COMMANDS = Counter(
    "affinity_commands_total",
    "Commands handled, by command and outcome",
    ["command", "outcome"],
    registry=REGISTRY,
)
OUTBOX_PENDING = Gauge(
    "affinity_outbox_pending", "Messages waiting in the outbox", ["bot"], registry=REGISTRY
)
SEND_LATENCY = Histogram(
    "affinity_send_latency_seconds",
    "Time to send one event",
    ["bot"],
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SEND_RETRIES = Counter(
    "affinity_send_retries_total", "Send attempts that will be retried", ["bot"], registry=REGISTRY
)
RATE_LIMIT_WAITS = Counter(
    "affinity_rate_limit_waits_total",
    "Times the homeserver asked us to slow down",
    ["bot"],
    registry=REGISTRY,
)
SCHEDULED_JOBS = Gauge("affinity_scheduled_jobs", "Jobs in the scheduler", ["bot"], registry=REGISTRY)
LAST_SYNC = Gauge(
    "affinity_last_successful_sync_timestamp_seconds",
    "Unix time of the last successful sync",
    ["bot"],
    registry=REGISTRY,
)
