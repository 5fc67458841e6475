"""The benchmarks' worker, in its own process (`python -m benchmarks.worker …`): Pacte's own
`build_worker`, and/or the bare baselines of `benchmarks.bare_workflows`, so that its memory
is its own and its CPU is not the driver's. `BenchmarkWorker` starts it over a run's servers
(`devkit.stack.WorkerProcess`) and reads the counts it reports."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    Worker,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from devkit.stack import Servers, WorkerProcess
from infra.database import create_pool
from infra.log_config import configure_logging
from infra.settings import PROJECT_ROOT, DeliverySettings, load_max_concurrent_workflow_tasks

PACTE_QUEUE = "bench-pacte"
BARE_QUEUE = "bench-bare"
SDK_DEFAULT_MAX_CACHED_WORKFLOWS: int = (
    inspect.signature(Worker).parameters["max_cached_workflows"].default
)


class BenchmarkWorker(WorkerProcess):
    """`python -m benchmarks.worker` over a run's servers; `rss()` is its resident memory,
    `activities` what it counted (with count_activities)."""

    def __init__(
        self,
        servers: Servers,
        *,
        pacte: bool = False,
        bare: bool = False,
        max_cached_workflows: int | None = None,
        count_activities: bool = False,
        passthrough_all: bool = False,
        sdk_context_lookup: bool = False,
        name: str = "worker",
    ) -> None:
        command = [
            "-m",
            "benchmarks.worker",
            "--address",
            servers.temporal_address,
            "--database-url",
            servers.database_url,
        ]
        if pacte:
            command += ["--pacte-queue", PACTE_QUEUE]
        if bare:
            command += ["--bare-queue", BARE_QUEUE]
        if max_cached_workflows is not None:
            command += ["--max-cached-workflows", str(max_cached_workflows)]
        if count_activities:
            command.append("--count-activities")
        if passthrough_all:
            command.append("--passthrough-all")
        if sdk_context_lookup:
            command.append("--sdk-context-lookup")
        environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        for variable in list(environment):
            if variable.startswith(("PACTE_SMTP_", "PACTE_WEBHOOK_SECRET_")):
                del environment[variable]
        super().__init__(
            environment,
            servers.directory / f"{name}.log",
            command=command,
            announces_ready=True,
        )
        self.log_path = self.log
        self.activities = 0
        self.activities_by_type: dict[str, int] = {}

    def on_line(self, line: str) -> None:
        """`stats {…}`: the counts so far; anything else goes to the log."""
        if not line.startswith("stats "):
            super().on_line(line)
            return
        try:
            stats, _ = json.JSONDecoder().raw_decode(line[len("stats ") :])
            self.activities = stats["activities"]
            self.activities_by_type = stats["by_type"]
        except (ValueError, KeyError, TypeError):
            super().on_line(line)


class _ActivityCounter(Interceptor):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivity(next, self.counts)


class _CountingActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, counts: Counter[str]) -> None:
        super().__init__(next)
        self._counts = counts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        self._counts[activity.info().activity_type] += 1
        return result


async def _serve(args: argparse.Namespace) -> None:
    import worker as pacte_worker
    from benchmarks.bare_workflows import BARE_WORKFLOWS, bare_activities

    configure_logging()  # as worker.py does: JSON lines on stderr (the worker's log file)
    client = await Client.connect(args.address, data_converter=_pydantic())
    counter = _ActivityCounter()
    # Both workers run as many workflow tasks at once as the product's worker does.
    options: dict[str, Any] = {
        "max_concurrent_workflow_tasks": load_max_concurrent_workflow_tasks()
    }
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    if args.count_activities:
        options["interceptors"] = [counter]
    if args.passthrough_all:
        # An experiment, not the product: every module passed through the sandbox.
        options["workflow_runner"] = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        )
    workers: list[Worker] = []
    pool = await create_pool(args.database_url)
    if args.pacte_queue:
        # build_worker is the product's own; only the cache size and the counter are added,
        # through the Worker it constructs.
        original = vars(pacte_worker)["Worker"]
        pacte_options = dict(options)
        if args.sdk_context_lookup and not args.passthrough_all:
            # An experiment: the SDK's own sandbox runner, with its per-payload context
            # lookup (infra/workflow_runner.py skips it), to measure what skipping buys.
            pacte_options["workflow_runner"] = SandboxedWorkflowRunner(
                restrictions=pacte_worker.workflow_sandbox()
            )
        setattr(pacte_worker, "Worker", _with_options(original, pacte_options))  # noqa: B010
        try:
            workers.append(
                pacte_worker.build_worker(
                    client, pool, args.pacte_queue, delivery=DeliverySettings()
                )
            )
        finally:
            setattr(pacte_worker, "Worker", original)  # noqa: B010
    if args.bare_queue:
        workers.append(
            Worker(
                client,
                task_queue=args.bare_queue,
                workflows=BARE_WORKFLOWS,
                activities=bare_activities(pool),
                **options,
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for running in workers:
                await stack.enter_async_context(running)
            print("ready", flush=True)
            while not stop.is_set():
                if args.count_activities:
                    stats = {"activities": counter.counts.total(), "by_type": dict(counter.counts)}
                    print("stats " + json.dumps(stats), flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=0.5)
    finally:
        await pool.close()


def _with_options(original: Any, options: dict[str, Any]) -> Callable[..., Worker]:
    def make(*args: Any, **kwargs: Any) -> Worker:
        worker: Worker = original(*args, **{**kwargs, **options})
        return worker

    return make


def _pydantic() -> Any:
    from temporalio.contrib.pydantic import pydantic_data_converter

    return pydantic_data_converter


def _worker_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pacte-queue")
    parser.add_argument("--bare-queue")
    parser.add_argument("--max-cached-workflows", type=int)
    parser.add_argument("--count-activities", action="store_true")
    parser.add_argument("--passthrough-all", action="store_true")
    parser.add_argument("--sdk-context-lookup", action="store_true")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    code = _worker_main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
