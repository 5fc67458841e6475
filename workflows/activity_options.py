"""Timeouts and retry policies the workflows give their activities, defined once."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Our own PostgreSQL (milestones, notifications, the inbox, the delivery log): a write there
# must never be lost, so retry until PostgreSQL answers again, backing off to a minute.
PERSISTENCE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
PERSISTENCE_TIMEOUT = timedelta(seconds=30)
