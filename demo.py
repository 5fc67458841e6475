"""The main job: the five seed scenarios, end to end, on the embedded stack.

Starts what is not configured (Temporal dev server with its Web UI, PostgreSQL, a worker),
starts every convention under examples/, plays the partners' scripted answers through the
same update the CLI sends, prints each convention's timeline, then stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from temporalio.client import Client

from application.conventions import (
    ConventionAlreadyStarted,
    ConventionNotFound,
    answer_open_task,
    convention_status,
    start_convention,
)
from application.rendering import render_timeline
from infra.embedded import RunningStack, embedded_stack, wait_for_temporal
from infra.settings import PROJECT_ROOT, Settings, load_settings
from infra.temporal_client import connect
from schemas.convention import Convention, DiagnosticStage
from schemas.convention_file import AnswerScript, load_answer_script, load_convention
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from workflows.convention import ConventionWorkflow, workflow_id_for

EXAMPLES_DIR = PROJECT_ROOT / "examples"
TASK_WAIT_SECONDS = 60.0


def scenario_files(directory: Path) -> list[tuple[Path, Path]]:
    """Each convention file with its answers file."""
    pairs = []
    for convention_file in sorted(directory.glob("*.yaml")):
        if convention_file.name.endswith(".answers.yaml"):
            continue
        pairs.append((convention_file, convention_file.with_suffix(".answers.yaml")))
    return pairs


async def play_scenario(
    client: Client, task_queue: str, convention: Convention, script: AnswerScript
) -> ConventionStatus:
    """Start one convention (or resume it) and give every scripted answer not yet given."""
    try:
        await start_convention(client, convention, task_queue)
    except ConventionAlreadyStarted:
        print(f"{convention.id}: started by an earlier run, resuming it", flush=True)
    follow_ups = [
        follow_up.id
        for spec in convention.stages
        if isinstance(spec, DiagnosticStage)
        for follow_up in spec.follow_ups
    ]
    answered: dict[str, set[str | None]] = {}
    for step in script.answers:
        target = convention.id if step.follow_up is None else follow_ups[step.follow_up]
        if target not in answered:
            answered[target] = await _answered_tasks(client, target, wait=target != convention.id)
        if step.task in answered[target]:
            continue
        await answer_open_task(
            client,
            target,
            step.task,
            step.acting_party,
            step.answer,
            actor=step.actor,
            wait_seconds=TASK_WAIT_SECONDS,
        )
    for convention_id in [convention.id, *follow_ups]:
        handle = client.get_workflow_handle_for(
            ConventionWorkflow.run, workflow_id_for(convention_id)
        )
        await handle.result()
    return await convention_status(client, convention.id)


async def _answered_tasks(client: Client, convention_id: str, *, wait: bool) -> set[str | None]:
    """Tasks already closed (a resumed demo skips them); waits for a follow-up to start.

    A task is closed once assigned and no longer open: its answer may have been accepted a
    moment before the stage records its `task_answered` milestone.
    """
    deadline = asyncio.get_running_loop().time() + (TASK_WAIT_SECONDS if wait else 0)
    while True:
        try:
            status = await convention_status(client, convention_id)
        except ConventionNotFound:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        still_open = {task.id for task in status.open_tasks}
        return {
            m.task_id
            for m in status.milestones
            if m.kind in (MilestoneKind.TASK_ASSIGNED, MilestoneKind.TASK_ANSWERED)
            and m.task_id not in still_open
        }


async def run_scenarios(client: Client, task_queue: str, directory: Path) -> list[ConventionStatus]:
    """Every scenario at once, as partners would answer in real life."""
    return list(
        await asyncio.gather(
            *(
                play_scenario(
                    client,
                    task_queue,
                    load_convention(convention_file),
                    load_answer_script(answers_file),
                )
                for convention_file, answers_file in scenario_files(directory)
            )
        )
    )


async def _main(settings: Settings, stack: RunningStack, keep_stack: bool, scenarios: bool) -> int:
    running = Settings(
        temporal_address=stack.temporal_address,
        temporal_namespace=settings.temporal_namespace,
        task_queue=settings.task_queue,
        database_url=stack.database_url,
        state_dir=settings.state_dir,
    )
    await wait_for_temporal(running)
    client = await connect(running)
    statuses = await run_scenarios(client, settings.task_queue, EXAMPLES_DIR) if scenarios else []
    # Conventions that a diagnostic started are conventions too: show them after their origin.
    statuses = [
        shown
        for status in statuses
        for shown in [
            status,
            *[await convention_status(client, link.convention_id) for link in status.links],
        ]
    ]
    for status in statuses:
        print(f"\n== {status.convention_id}: {status.title}")
        print(
            f"   {status.state.value}, {len(status.milestones)} milestones"
            + (f", follows up {status.origin}" if status.origin else "")
        )
        for line in render_timeline(status.milestones):
            print(f"   {line}")
    completed = sum(status.state is ConventionState.COMPLETED for status in statuses)
    if statuses:
        print(f"\n{completed} of {len(statuses)} conventions completed.")
    if stack.temporal_ui:
        print(f"Temporal Web UI: {stack.temporal_ui}/namespaces/{settings.temporal_namespace}")
    if keep_stack:
        print(
            "The stack stays up (Ctrl-C stops it). In another shell:\n"
            f"  export TEMPORAL_ADDRESS={stack.temporal_address}"
            f" DATABASE_URL='{stack.database_url}'"
        )
        await asyncio.Event().wait()
    return 0 if completed == len(statuses) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python demo.py [--keep-stack]`."""
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    parser.add_argument(
        "--stack-only", action="store_true", help="run no scenario, keep the stack up"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    with embedded_stack(settings) as stack:
        try:
            return asyncio.run(
                _main(
                    settings,
                    stack,
                    keep_stack=args.keep_stack or args.stack_only,
                    scenarios=not args.stack_only,
                )
            )
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
