"""The main job: the five seed scenarios, end to end, on the embedded stack.

Starts what is not configured (Temporal dev server with its Web UI, PostgreSQL, a worker) and
the partner desk (portal.py), starts every convention under examples/, plays the partners'
scripted answers through the desk's REST API, each party with its own API key (the office's
own tasks through the officers' path, as `starter.py act` does), prints each convention's
timeline, then stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from application.conventions import (
    ConventionAlreadyStarted,
    ConventionNotFound,
    answer_open_task,
    convention_status,
    find_task,
    start_convention,
)
from application.partner_desk import create_key
from application.rendering import render_timeline
from infra.database import apply_migrations, create_pool
from infra.embedded import RunningStack, embedded_stack, port_open, wait_for_temporal
from infra.portal_settings import contact_link_token, link_secret
from infra.settings import PROJECT_ROOT, Settings, load_settings
from infra.temporal_client import connect
from schemas.convention import Convention, DiagnosticStage
from schemas.convention_file import (
    AnswerScript,
    ScriptedAnswer,
    load_answer_script,
    load_convention,
)
from schemas.milestones import MilestoneKind
from schemas.status import ConventionState, ConventionStatus
from workflows.convention import ConventionWorkflow, workflow_id_for

EXAMPLES_DIR = PROJECT_ROOT / "examples"
TASK_WAIT_SECONDS = 60.0
PORTAL_PORT = 8300
# A partner's answer, given some other way than the officers' update (the desk's API).
PartnerAnswer = Callable[[str, ScriptedAnswer], Awaitable[None]]


def scenario_files(directory: Path) -> list[tuple[Path, Path]]:
    """Each convention file with its answers file."""
    pairs = []
    for convention_file in sorted(directory.glob("*.yaml")):
        if convention_file.name.endswith(".answers.yaml"):
            continue
        pairs.append((convention_file, convention_file.with_suffix(".answers.yaml")))
    return pairs


async def play_scenario(
    client: Client,
    task_queue: str,
    convention: Convention,
    script: AnswerScript,
    partner_answer: PartnerAnswer | None = None,
) -> ConventionStatus:
    """Start one convention (or resume it) and give every scripted answer not yet given.

    With `partner_answer`, the partners' answers go that way (the demo: the desk's API); the
    office's own, and every answer without it, go through the officers' update.
    """
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
        if partner_answer is not None and step.acting_party != convention.office.id:
            await find_task(client, target, step.task, wait_seconds=TASK_WAIT_SECONDS)
            await partner_answer(target, step)
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


async def run_scenarios(
    client: Client,
    task_queue: str,
    directory: Path,
    partner_answer: PartnerAnswer | None = None,
) -> list[ConventionStatus]:
    """Every scenario at once, as partners would answer in real life."""
    return list(
        await asyncio.gather(
            *(
                play_scenario(
                    client,
                    task_queue,
                    load_convention(convention_file),
                    load_answer_script(answers_file),
                    partner_answer,
                )
                for convention_file, answers_file in scenario_files(directory)
            )
        )
    )


class PartnerDeskApi:
    """The partners' systems: each party answers through the desk's API with its own key."""

    def __init__(self, base_url: str, keys: dict[str, str]) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=60)
        self._keys = keys

    async def answer(self, convention_id: str, step: ScriptedAnswer) -> None:
        """POST the scripted answer, idempotently (a resumed demo sends the same key)."""
        response = await self._http.post(
            f"/api/v1/tasks/{convention_id}/{step.task}/answer",
            json={"answer": step.answer, "actor": step.actor},
            headers={
                "authorization": f"Bearer {self._keys[step.acting_party]}",
                "idempotency-key": f"demo/{convention_id}/{step.task}",
            },
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"the desk refused {step.acting_party}'s answer to {convention_id} {step.task}: "
                f"{response.status_code} {response.text}"
            )

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()


async def partner_keys(pool: asyncpg.Pool, directory: Path) -> dict[str, str]:
    """A fresh API key for every partner of every scenario (printed nowhere)."""
    parties: set[str] = set()
    for convention_file, _ in scenario_files(directory):
        convention = load_convention(convention_file)
        for each in [convention, *_follow_ups(convention)]:
            parties |= {p.id for p in each.parties if p.id != each.office.id}
    return {party: (await create_key(pool, party, "demo partner system"))[0] for party in parties}


def _follow_ups(convention: Convention) -> list[Convention]:
    return [
        follow_up
        for spec in convention.stages
        if isinstance(spec, DiagnosticStage)
        for follow_up in spec.follow_ups
    ]


def start_portal(stack: RunningStack, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The partner desk beside the worker, on the same stack; its log under the state dir."""
    log = (settings.state_dir / "portal.log").open("ab")
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "portal.py"), "--port", str(port)],
        env=stack.environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_for_portal(base_url: str, portal: subprocess.Popen[bytes]) -> None:
    """Until the desk answers (it applies the migrations and connects to Temporal first)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        for _ in range(300):
            if portal.poll() is not None:
                raise RuntimeError(f"portal.py exited with {portal.returncode}: see portal.log")
            try:
                if (await http.get("/api/openapi.json")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the partner desk did not answer within a minute")


async def one_contact_link(pool: asyncpg.Pool, settings: Settings, base_url: str) -> str | None:
    """A contact's link to show: one to a task still open if any, else the latest (receipt)."""
    row = await pool.fetchrow(
        "SELECT l.notification_id, l.contact_name FROM partner_links l"
        " LEFT JOIN tasks t ON t.convention_id = l.convention_id AND t.task_id = l.task_id"
        " WHERE l.revoked_at IS NULL AND l.expires_at > now()"
        " ORDER BY (t.status = 'open') DESC NULLS LAST, l.created_at DESC LIMIT 1"
    )
    if row is None:
        return None
    secret = link_secret(state_dir=settings.state_dir)
    token = contact_link_token(secret, row["notification_id"], row["contact_name"])
    return f"{base_url}/t/{token}  ({row['contact_name']})"


async def _main(
    settings: Settings, stack: RunningStack, keep_stack: bool, scenarios: bool, port: int
) -> int:
    running = Settings(
        temporal_address=stack.temporal_address,
        temporal_namespace=settings.temporal_namespace,
        task_queue=settings.task_queue,
        database_url=stack.database_url,
        state_dir=settings.state_dir,
    )
    await wait_for_temporal(running)
    client = await connect(running)
    base_url = f"http://127.0.0.1:{port}"
    portal = start_portal(stack, settings, port)
    pool = await create_pool(stack.database_url, max_size=2)
    try:
        await apply_migrations(pool)
        await wait_for_portal(base_url, portal)
        statuses: list[ConventionStatus] = []
        if scenarios:
            desk = PartnerDeskApi(base_url, await partner_keys(pool, EXAMPLES_DIR))
            try:
                statuses = await run_scenarios(
                    client, settings.task_queue, EXAMPLES_DIR, desk.answer
                )
            finally:
                await desk.close()
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
        print(f"Partner desk: {base_url} (API: {base_url}/api/openapi.json)")
        if keep_stack:
            link = await one_contact_link(pool, settings, base_url)
            if link:
                print(f"A contact's link (personal: do not share): {link}")
            print(
                "The stack stays up (Ctrl-C stops it). In another shell:\n"
                f"  export TEMPORAL_ADDRESS={stack.temporal_address}"
                f" DATABASE_URL='{stack.database_url}'"
            )
            await asyncio.Event().wait()
        return 0 if completed == len(statuses) else 1
    finally:
        await pool.close()
        if portal.poll() is None:
            portal.send_signal(signal.SIGTERM)
            try:
                portal.wait(timeout=20)
            except subprocess.TimeoutExpired:
                portal.kill()


def _portal_port() -> int:
    """PACTE_PORTAL_PORT, else 8300, else (taken) any free port."""
    wanted = int(os.environ.get("PACTE_PORTAL_PORT") or PORTAL_PORT)
    if not port_open(wanted):
        return wanted
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python demo.py [--keep-stack]`."""
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    parser.add_argument(
        "--stack-only", action="store_true", help="run no scenario, keep the stack up"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    port = _portal_port()
    # The worker writes the links into the mails: they must point at this desk.
    os.environ.setdefault("PACTE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    with embedded_stack(settings) as stack:
        try:
            return asyncio.run(
                _main(
                    settings,
                    stack,
                    keep_stack=args.keep_stack or args.stack_only,
                    scenarios=not args.stack_only,
                    port=port,
                )
            )
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
