"""The main job: the five seed scenarios, end to end, on the embedded stack.

Starts what is not configured (Temporal dev server with its Web UI, PostgreSQL, a worker) and
the partner desk (portal.py), starts every convention under examples/, plays the partners'
scripted answers through the desk's REST API, each party with its own API key (the office's
own tasks through the officers' path, as `starter.py act` does), prints each convention's
timeline, then stops what it started.

On the embedded stack it also prepares a newcomer's first hour: a mail catcher that shows the
mails sent (development only: started here and nowhere else, and only when no SMTP server is
configured), one convention left waiting on its partners, whose contact's link it prints, and
an officer's account for the office desk. Ctrl-C, SIGTERM and SIGHUP all stop everything it
started.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import socket
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import asyncpg
from temporalio.client import Client

from application.conventions import (
    ConventionAlreadyStarted,
    ConventionNotFound,
    ConventionUnreadable,
    convention_status,
    start_convention,
)
from application.directory.editors import Editor, EditorRole
from application.directory.import_proposal import import_files, parties_imported
from application.office.accounts import create_user, list_users, new_password
from application.office.roles import Role
from application.partner import create_key
from application.rendering import render_timeline
from application.scenarios import (
    PartnerAnswer,
    PartnerDeskApi,
    follow_ups_of,
    play_scenario,
    scenario_files,
)
from devkit.mail_catcher import MailCatcher
from infra.database import apply_migrations, create_pool
from infra.embedded import (
    TEMPORAL_PORT,
    TEMPORAL_UI_PORT,
    RunningStack,
    embedded_stack,
    port_open,
    wait_for_temporal,
)
from infra.portal_settings import contact_link_token, link_secret
from infra.processes import start_program, stop_on_signals, stop_process, wait_for_portal
from infra.settings import PROJECT_ROOT, Environment, Settings, load_settings, whole_number
from infra.temporal_client import connect
from schemas.convention import Convention
from schemas.convention_file import load_answer_script, load_convention
from schemas.status import ConventionState, ConventionStatus
from storage.partner_links import link_to_show

EXAMPLES_DIR = PROJECT_ROOT / "examples"
PORTAL_PORT = 8300
MAIL_PAGE_PORT = 8025
# The first hour's convention: Tanger's framework convention under ids of its own, waiting on
# its reviewers, every contact given an address the mail catcher receives.
FIRST_HOUR_TEMPLATE = EXAMPLES_DIR / "tanger-four-conventions.yaml"
FIRST_HOUR_PREFIX = "first-hour-"
FIRST_HOUR_OFFICER = ("demo.officer@ofppt.example", "Officier de démonstration")
LINK_WAIT_SECONDS = 60.0
DEMO_EDITOR = Editor("demo.py", EditorRole.ADMIN)


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


async def import_seed_parties(pool: asyncpg.Pool, directory: Path) -> None:
    """The seed files' parties into the partner directory, once, as the demo's admin (the
    seeds name the office's staff differently from file to file: accepted here)."""
    conventions = [load_convention(file) for file, _ in scenario_files(directory)]
    created = await import_files(pool, DEMO_EDITOR, conventions, accept=True)
    if created:
        print(f"Directory: imported the seed parties ({', '.join(sorted(created))}), once.")
    else:
        print("Directory: the seed parties were imported before; nothing to change.")


def start_portal(stack: RunningStack, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The partner desk beside the worker, on the same stack; its log under the state dir."""
    return start_program(
        "portal.py", "--port", str(port), env=stack.environment(), log=_portal_log(settings)
    )


def _portal_log(settings: Settings) -> Path:
    return settings.state_dir / "portal.log"


async def one_contact_link(
    pool: asyncpg.Pool,
    settings: Settings,
    base_url: str,
    convention_id: str | None = None,
    *,
    within: float = 0.0,
) -> str | None:
    """A contact's link to show: one to a task still open if any, else the latest (receipt);
    of one convention's open tasks only, waiting up to `within` s for the worker to mint it."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        row = await link_to_show(pool, convention_id)
        if row is not None or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    if row is None:
        return None
    secret = link_secret(state_dir=settings.state_dir)
    token = contact_link_token(secret, row.notification_id, row.contact_name)
    return f"{base_url}/t/{token}  ({row.contact_name}, {row.party})"


def _address(name: str, party: str) -> str:
    """`Rémi Cabon` of `psa` → `remi.cabon@psa.example` (a domain no mail server serves)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    local = re.sub(r"[^a-z0-9]+", ".", ascii_name.lower()).strip(".") or "contact"
    return f"{local}@{party}.example"


def first_hour_convention(number: int) -> Convention:
    """The convention a newcomer answers: the template under `first-hour-<number>`, its
    contacts with addresses, its first stage (the reviews) due from today."""
    data = load_convention(FIRST_HOUR_TEMPLATE).model_dump(mode="json", exclude_none=True)
    data["id"] = f"{FIRST_HOUR_PREFIX}{number}"
    for party in data["parties"]:
        for contact in party.get("contacts", []):
            contact.setdefault("email", _address(contact["name"], party["id"]))
    return Convention.model_validate(data)


async def _waits_on_a_partner(client: Client, convention: Convention) -> bool:
    try:
        status = await convention_status(client, convention.id)
    except (ConventionNotFound, ConventionUnreadable):
        return False
    return status.state is ConventionState.ACTIVE and any(
        task.assignee != convention.office.id for task in status.open_tasks
    )


async def waiting_convention(client: Client, pool: asyncpg.Pool, task_queue: str) -> str:
    """A first-hour convention waiting on a partner: the earliest one still waiting, else a
    new one (a convention id is used once, ever). Its contacts' addresses are the
    directory's (the demo's admin accepts them), as `start` would require: the directory
    alone says who acts for the seed parties it imported."""
    for number in itertools.count(1):
        convention = first_hour_convention(number)
        try:
            async with parties_imported(pool, DEMO_EDITOR, convention, accept=True):
                await start_convention(client, convention, task_queue, milestones=pool)
            return convention.id
        except ConventionAlreadyStarted:
            if await _waits_on_a_partner(client, convention):
                return convention.id
    raise AssertionError("unreachable")


async def demo_officer(pool: asyncpg.Pool, settings: Settings) -> tuple[str, str | None]:
    """The demo's officer account: its e-mail and password (kept beside the embedded stack's
    data, as its link secret is; None when that file was removed)."""
    email, name = FIRST_HOUR_OFFICER
    kept = settings.state_dir / "first-hour-officer.password"
    if any(user.email == email for user in await list_users(pool)):
        return email, kept.read_text().strip() if kept.exists() else None
    password = new_password()
    await create_user(pool, email, name, Role.OFFICER.value, password)
    kept.write_text(password + "\n")
    kept.chmod(0o600)
    return email, password


async def first_hour(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    base_url: str,
    mail: MailCatcher | None,
    local_authority: str | None = None,
) -> None:
    """Leave a convention waiting on a partner; print its contact's link, the mails, the
    local timestamp authority and an officer's account."""
    convention_id = await waiting_convention(client, pool, settings.task_queue)
    link = await one_contact_link(pool, settings, base_url, convention_id, within=LINK_WAIT_SECONDS)
    email, password = await demo_officer(pool, settings)
    print("\nYour first hour (embedded stack; development only):")
    if mail is not None:
        print(f"  Mails sent (mail catcher, development only): {mail.url}")
    if local_authority is not None:
        print(
            "  Signed originals are sealed and the records anchored with a local timestamp"
            f" authority and a development certificate: {local_authority}"
        )
    if link:
        print(f"  {convention_id} waits on its reviewers. A contact's link (personal): {link}")
    print(
        f"  Office desk: {base_url}/office/signin  officer {email}, password "
        + (password or f"unknown (its file under {settings.state_dir} was removed)")
        + f"\n  (the first sign-in sets up the second factor: {base_url}/office/enrol)"
    )


async def _main(
    settings: Settings,
    stack: RunningStack,
    keep_stack: bool,
    scenarios: bool,
    port: int,
    mail: MailCatcher | None,
    local_authority: str | None = None,
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
    portal: subprocess.Popen[bytes] | None = None
    pool: asyncpg.Pool | None = None
    try:
        portal = start_portal(stack, settings, port)
        pool = await create_pool(stack.database_url, max_size=2)
        await apply_migrations(pool)
        await wait_for_portal(base_url, portal, _portal_log(settings), within=60)
        statuses: list[ConventionStatus] = []
        if scenarios:
            await import_seed_parties(pool, EXAMPLES_DIR)
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
        if embedded(settings):  # a newcomer's first hour, never on a configured server
            await first_hour(client, pool, settings, base_url, mail, local_authority)
            if not keep_stack:
                print("  (they work while the stack is up: python3 dev.py up)")
        if keep_stack:
            print(
                "The stack stays up (Ctrl-C, SIGTERM or SIGHUP stops it). In another shell:\n"
                f"  export TEMPORAL_ADDRESS={stack.temporal_address}"
                f" DATABASE_URL='{stack.database_url}'"
            )
            await asyncio.Event().wait()
        return 0 if completed == len(statuses) else 1
    finally:
        if pool is not None:
            await pool.close()
        stop_process(portal)


def embedded(settings: Settings) -> bool:
    """Whether this run is the embedded stack alone: no Temporal or PostgreSQL configured."""
    return settings.temporal_address is None and settings.database_url is None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _port(wanted: int) -> int:
    """`wanted`, else (taken) any free port."""
    return wanted if not port_open(wanted) else _free_port()


def _portal_port(option: int | None, env: Environment) -> int:
    """--portal-port, else PACTE_PORTAL_PORT, else 8300, else (taken) any free port."""
    return option or _port(whole_number("PACTE_PORTAL_PORT", env.portal_port, PORTAL_PORT))


def start_mail_catcher(settings: Settings, web_port: int | None) -> MailCatcher | None:
    """The mail catcher, on the embedded stack only, when no SMTP server is configured; the
    worker and the desks are pointed at it through the environment they inherit."""
    if not embedded(settings) or settings.environment.smtp_host:
        return None
    catcher = MailCatcher(
        settings.state_dir / "mail",
        smtp_port=_free_port(),
        web_port=web_port or _port(MAIL_PAGE_PORT),
    ).start()
    os.environ["PACTE_SMTP_HOST"] = "127.0.0.1"
    os.environ["PACTE_SMTP_PORT"] = str(catcher.smtp_port)
    for tls in ("PACTE_SMTP_STARTTLS", "PACTE_SMTP_TLS"):
        os.environ.pop(tls, None)
    return catcher


def start_timestamp_authority(
    settings: Settings,
) -> tuple[subprocess.Popen[bytes], str] | None:
    """The local RFC 3161 authority (development PKI under the state directory), on the
    embedded stack only, when no PACTE_TSA_URL is configured: the portal then seals signed
    originals and anchors the chains' heads as a deployment with a real authority does."""
    if not embedded(settings) or settings.environment.tsa_url:
        return None
    port = _free_port()
    authority = start_program(
        *("-m", "documents.timestamps", "--port", str(port)),
        env=os.environ,
        log=settings.state_dir / "timestamps.log",
    )
    for _ in range(100):  # its PKI is made on the first run: a few seconds at most
        if port_open(port) or authority.poll() is not None:
            break
        time.sleep(0.1)
    if not port_open(port):
        stop_process(authority)
        print(f"(no local timestamp authority: see {settings.state_dir / 'timestamps.log'})")
        return None
    url = f"http://127.0.0.1:{port}/"
    os.environ["PACTE_TSA_URL"] = url  # the portal and the worker inherit it
    return authority, url


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python demo.py [--keep-stack | --stack-only] [ports]`."""
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack running")
    parser.add_argument(
        "--stack-only", action="store_true", help="run no scenario, keep the stack up"
    )
    parser.add_argument("--portal-port", type=int, help="the desks' port (default 8300)")
    parser.add_argument(
        "--temporal-port", type=int, default=TEMPORAL_PORT, help="the embedded dev server's"
    )
    parser.add_argument(
        "--temporal-ui-port", type=int, default=TEMPORAL_UI_PORT, help="its Web UI's"
    )
    parser.add_argument("--mail-port", type=int, help="the mail catcher's page (default 8025)")
    args = parser.parse_args(argv)
    # Ctrl-C, SIGTERM and SIGHUP alike: a KeyboardInterrupt, so every `finally` below runs.
    stop_on_signals()
    settings = load_settings()
    port = _portal_port(args.portal_port, settings.environment)
    # The worker writes the links into the mails: they must point at this desk.
    os.environ.setdefault("PACTE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    mail: MailCatcher | None = None
    authority: tuple[subprocess.Popen[bytes], str] | None = None
    try:
        mail = start_mail_catcher(settings, args.mail_port)
        authority = start_timestamp_authority(settings)
        with embedded_stack(
            settings, temporal_port=args.temporal_port, temporal_ui_port=args.temporal_ui_port
        ) as stack:
            return asyncio.run(
                _main(
                    settings,
                    stack,
                    keep_stack=args.keep_stack or args.stack_only,
                    scenarios=not args.stack_only,
                    port=port,
                    mail=mail,
                    local_authority=authority[1] if authority else None,
                )
            )
    except KeyboardInterrupt:
        return 0
    finally:
        if mail is not None:
            mail.stop()
        if authority is not None:
            stop_process(authority[0])


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
