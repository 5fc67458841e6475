"""`starter.py parties …`: the partner directory from the command line, for scripts.

    parties list [--search TEXT]                 organisations (id, kind, country, name)
    parties show ID                              people, capacities, channel, latest changes
    parties add ID --kind K --country CC [--name-fr|--name-ar|--name-en NAME] [--parent ID]
    parties archive ID [--restore]
    parties contacts add ID --name N [--email E] [--language fr|ar|en] [--title T]
                         [--time-zone ZONE]      (IANA name; none: the country's)
                         --capacity C [--capacity C …] [--from DATE] [--until DATE]
    parties contacts change PERSON [--time-zone ZONE] [--language fr|ar|en]
                                                 (ZONE "": back to the country's)
    parties contacts grant PERSON ID CAPACITY [--from DATE] [--until DATE]
    parties contacts revoke PERSON ID [CAPACITY]
    parties contacts remove PERSON [--reason TEXT]
    parties contacts silent [ID]                 addresses that never answered
    parties rotate-secret ID [--overlap-days N]  a new webhook signing secret, shown once
    parties allow-hosts ID [HOST ...]            the only hosts its webhooks may reach (none: any)
    parties migrate [--convention ID …]          import the parties of running conventions

The command line is the operators' tool: its changes are an admin's, recorded under
`--officer` (by default the login name). Refusals print one line each, exit 1 (4: not found).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from application.directory.channels import channel_key, rotate_secret, set_webhook_hosts
from application.directory.cli_arguments import register as register
from application.directory.editors import Editor, EditorRole
from application.directory.migration import import_running_conventions
from application.directory.organisations import (
    NewOrganisation,
    add_organisation,
    archive_organisation,
    find_organisations,
    show_organisation,
)
from application.directory.people import (
    NewPerson,
    add_person,
    change_reading,
    grant_capacity,
    remove_person,
    revoke_capacity,
)
from application.errors import NotFound, PacteError
from infra.portal_settings import link_secret
from rendering.zones import zone_for
from storage import directory as store

EXIT_OK, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 4


async def run(
    args: argparse.Namespace,
    open_store: Callable[[], Awaitable[asyncpg.Pool]],
    login_name: str,
    state_dir: Any = None,
    secrets_file: Any = None,
) -> int:
    """Run one `parties` verb; a refusal is one line (and one per field) on stderr."""
    editor = Editor(args.officer or login_name, EditorRole.ADMIN)
    pool = await open_store()
    try:
        await _verb(args, pool, editor, state_dir, secrets_file)
    except PacteError as error:
        print(f"refused: {error.detail}", file=sys.stderr)
        for problem in error.errors:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_NOT_FOUND if isinstance(error, NotFound) else EXIT_REFUSED
    finally:
        await pool.close()
    return EXIT_OK


async def _verb(
    args: argparse.Namespace, pool: asyncpg.Pool, editor: Editor, state_dir: Any, secrets_file: Any
) -> None:
    verb = args.parties_command
    if verb == "list":
        for found in await find_organisations(pool, args.search):
            print(f"{found.id:<24} {found.kind:<22} {found.country}  {found.name()}")
    elif verb == "show":
        _print_page(await show_organisation(pool, args.organisation))
    elif verb == "add":
        created = await add_organisation(
            pool,
            editor,
            NewOrganisation(
                id=args.organisation,
                kind=args.kind,
                country=args.country,
                name_fr=args.name_fr,
                name_ar=args.name_ar,
                name_en=args.name_en,
                parent_id=args.parent,
            ),
        )
        print(f"added: {created.id} ({created.name()})")
    elif verb == "archive":
        changed = await archive_organisation(
            pool, editor, args.organisation, archived=not args.restore
        )
        print(f"{'restored' if args.restore else 'archived'}: {changed.id}")
    elif verb == "rotate-secret":
        key = channel_key(link_secret(secrets_file, state_dir))
        made = await rotate_secret(
            pool, editor, key, args.organisation, timedelta(days=args.overlap_days)
        )
        print(
            f"secret {made.id} for {args.organisation}; shown once, store it now "
            f"(the previous ones verify until {made.others_end_at:%Y-%m-%d %H:%M} UTC):"
        )
        print(made.secret)
    elif verb == "allow-hosts":
        allowed = await set_webhook_hosts(pool, editor, args.organisation, args.hosts or None)
        shown = ", ".join(allowed) if allowed else "any host (no allow-list)"
        print(f"webhooks of {args.organisation} may reach: {shown}")
    elif verb == "migrate":
        report = await import_running_conventions(pool, editor, args.convention)
        print(
            f"imported from {report.conventions} running convention(s): "
            f"{len(report.organisations)} organisation(s), {report.people} person(s)"
        )
        for conflict in report.conflicts:
            print(f"conflict: {conflict}")
        for convention_id in report.unreadable:
            print(f"unreadable file: {convention_id}")
    else:
        await _contacts(args, pool, editor)


async def _contacts(args: argparse.Namespace, pool: asyncpg.Pool, editor: Editor) -> None:
    verb = args.contacts_command
    if verb == "add":
        added = await add_person(
            pool,
            editor,
            args.organisation,
            NewPerson(args.name, args.email, args.language, args.title, args.time_zone),
            args.capacity,
            valid_from=args.valid_from,
            valid_until=args.valid_until,
        )
        print(
            f"added: {added.id} {added.name} for {args.organisation} ({', '.join(args.capacity)})"
        )
    elif verb == "change":
        changed = await change_reading(
            pool, editor, args.person, time_zone=args.time_zone, language=args.language
        )
        zone = changed.time_zone or "the organisation's country's"
        print(f"changed: {changed.id} {changed.name} reads in {changed.language}, {zone}")
    elif verb == "grant":
        granted = await grant_capacity(
            pool,
            editor,
            args.person,
            args.organisation,
            args.capacity,
            valid_from=args.valid_from,
            valid_until=args.valid_until,
        )
        print(f"granted: {granted.capacity} for {granted.organisation_id} to {granted.person_id}")
    elif verb == "revoke":
        revoked = await revoke_capacity(pool, editor, args.person, args.organisation, args.capacity)
        print(f"revoked: {', '.join(r.capacity for r in revoked)} of {args.person}")
    elif verb == "remove":
        removed = await remove_person(pool, editor, args.person, args.reason)
        print(f"removed: {removed.id} {removed.name}; their sessions and codes ended")
    else:
        for person in await store.never_answered(pool, args.organisation):
            print(f"{person.id}  {person.name}  {person.email or '(no address)'}  never answered")


def _print_page(page: Any) -> None:
    found = page.organisation
    state = f"archived {found.archived_at:%Y-%m-%d}" if found.archived_at else "active"
    print(f"{found.id}  {found.kind}  {found.country}  {state}")
    for language, name in (("fr", found.name_fr), ("ar", found.name_ar), ("en", found.name_en)):
        if name:
            print(f"  name ({language}): {name}")
    if found.parent_id:
        print(f"  parent: {found.parent_id}")
    print(f"  webhook: {page.webhook_url or 'none'}")
    for person, capacities in page.people:
        removed = " (removed)" if person.removed_at else ""
        confirmed = "confirmed" if person.confirmed_at else "never answered"
        # Their zone, or the country's they fall back to (said, not silent).
        zone, fallback = zone_for(person.time_zone, found.country)
        zone_said = f"{zone} (the country's)" if fallback else zone
        print(
            f"  {person.id}  {person.name}{removed}  {person.email or '(no address)'}  {confirmed}"
            f"  {zone_said}"
        )
        for capacity in capacities:
            dates = f"{capacity.valid_from or '…'} to {capacity.valid_until or '…'}"
            revoked = f" revoked {capacity.revoked_at:%Y-%m-%d}" if capacity.revoked_at else ""
            print(f"    {capacity.capacity:<15} {dates}{revoked}  granted by {capacity.granted_by}")
    for change in page.changes[:10]:
        print(
            f"  change v{change.version} {change.at:%Y-%m-%d %H:%M} {change.actor} {change.action}"
        )
