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
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
from temporalio.client import Client

from application.conventions import convention_status
from application.partner_desk import create_key
from application.rendering import render_timeline
from application.scenarios import (
    PartnerAnswer,
    PartnerDeskApi,
    follow_ups_of,
    play_scenario,
    scenario_files,
)
from infra.database import apply_migrations, create_pool
from infra.embedded import RunningStack, embedded_stack, port_open, wait_for_temporal
from infra.portal_settings import contact_link_token, link_secret
from infra.processes import start_program, stop_process, wait_for_portal
from infra.settings import PROJECT_ROOT, Environment, Settings, load_settings, whole_number
from infra.temporal_client import connect
from schemas.convention_file import load_answer_script, load_convention
from schemas.status import ConventionState, ConventionStatus

EXAMPLES_DIR = PROJECT_ROOT / "examples"
PORTAL_PORT = 8300


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


async def partner_keys(pool: asyncpg.Pool, directory: Path) -> dict[str, str]:
    """A fresh API key for every partner of every scenario (printed nowhere)."""
    parties: set[str] = set()
    for convention_file, _ in scenario_files(directory):
        convention = load_convention(convention_file)
        for each in [convention, *follow_ups_of(convention)]:
            parties |= {p.id for p in each.parties if p.id != each.office.id}
    return {party: (await create_key(pool, party, "demo partner system"))[0] for party in parties}


def start_portal(stack: RunningStack, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The partner desk beside the worker, on the same stack; its log under the state dir."""
    return start_program(
        "portal.py", "--port", str(port), env=stack.environment(), log=_portal_log(settings)
    )


def _portal_log(settings: Settings) -> Path:
    return settings.state_dir / "portal.log"


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
        await wait_for_portal(base_url, portal, _portal_log(settings), within=60)
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
        stop_process(portal)


def _portal_port(env: Environment) -> int:
    """PACTE_PORTAL_PORT, else 8300, else (taken) any free port."""
    wanted = whole_number("PACTE_PORTAL_PORT", env.portal_port, PORTAL_PORT)
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
    port = _portal_port(settings.environment)
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
