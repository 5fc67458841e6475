"""Metering a run: the client's queries and updates, and each process's CPU seconds."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psutil  # type: ignore[import-untyped]
import temporalio.client as client_module
from temporalio.client import Client

from benchmarks.worker import BenchmarkWorker
from devkit.stack import Servers


class ClientCalls(client_module.Interceptor):
    """Counts the queries and updates a client sends, and times the queries."""

    def __init__(self) -> None:
        self.queries = 0
        self.query_seconds = 0.0
        self.updates = 0

    def intercept_client(
        self, next: client_module.OutboundInterceptor
    ) -> client_module.OutboundInterceptor:
        return _CountingOutbound(next, self)


class _CountingOutbound(client_module.OutboundInterceptor):
    def __init__(self, next: client_module.OutboundInterceptor, calls: ClientCalls) -> None:
        super().__init__(next)
        self._calls = calls

    async def query_workflow(self, input: client_module.QueryWorkflowInput) -> Any:
        began = time.perf_counter()
        try:
            return await super().query_workflow(input)
        finally:
            self._calls.queries += 1
            self._calls.query_seconds += time.perf_counter() - began

    async def start_workflow_update(
        self, input: client_module.StartWorkflowUpdateInput
    ) -> client_module.WorkflowUpdateHandle[Any]:
        self._calls.updates += 1
        return await super().start_workflow_update(input)


def counting_client(client: Client, calls: ClientCalls) -> Client:
    """The same connection, its queries and updates counted."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], calls]
    return Client(**config)


def _cpu_seconds(pid: int | None, *, with_children: bool = False) -> float:
    if pid is None:
        return 0.0
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = float(times.user + times.system)
        if with_children:
            # Reaped children (short-lived backends) and the live ones (pooled connections).
            total += float(times.children_user + times.children_system)
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child_times = child.cpu_times()
                    total += float(child_times.user + child_times.system)
        return total
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds spent by each process of a run: driver, worker, Temporal, PostgreSQL."""

    def __init__(self, servers: Servers, worker: BenchmarkWorker) -> None:
        self._servers = servers
        self._worker = worker
        self._start = self._sample()

    def _sample(self) -> dict[str, float]:
        temporal = self._servers.temporal.pid if self._servers.temporal else None
        return {
            "driver (this process)": _cpu_seconds(os.getpid()),
            "worker": _cpu_seconds(self._worker.pid),
            "Temporal dev server": _cpu_seconds(temporal),
            "PostgreSQL": _cpu_seconds(self._servers.postgres_pid(), with_children=True),
        }

    def spent(self) -> dict[str, float]:
        """CPU seconds per process since the meter was made."""
        now = self._sample()
        return {name: now[name] - self._start[name] for name in now}
