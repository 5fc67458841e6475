"""The arguments of `starter.py parties …` (application/directory/cli.py runs them): a module
of their own, light, so that `starter.py` builds its parser without loading the directory's
use cases, PostgreSQL's driver or the channels' secrets."""

from __future__ import annotations

from datetime import date
from typing import Any

from application.directory.capacities import DirectoryCapacity

CAPACITIES = [capacity.value for capacity in DirectoryCapacity]


def register(commands: Any) -> None:
    """Add `parties` and its verbs to starter.py's sub-commands."""
    parties = commands.add_parser("parties", help="the partner directory: organisations, people")
    parties.add_argument("--officer", help="who makes the change, for the directory's record")
    verbs = parties.add_subparsers(dest="parties_command", required=True)
    listing = verbs.add_parser("list", help="organisations, all or matching --search")
    listing.add_argument("--search")
    show = verbs.add_parser("show", help="an organisation: people, capacities, channel, changes")
    show.add_argument("organisation")
    add = verbs.add_parser("add", help="a new organisation")
    add.add_argument("organisation")
    add.add_argument("--kind", required=True)
    add.add_argument("--country", required=True)
    add.add_argument("--name-fr")
    add.add_argument("--name-ar")
    add.add_argument("--name-en")
    add.add_argument("--parent")
    archive = verbs.add_parser("archive", help="no one acts for it any more (or --restore)")
    archive.add_argument("organisation")
    archive.add_argument("--restore", action="store_true")
    rotate = verbs.add_parser("rotate-secret", help="a new webhook signing secret, shown once")
    rotate.add_argument("organisation")
    rotate.add_argument("--overlap-days", type=int, default=7)
    hosts = verbs.add_parser(
        "allow-hosts", help="the only hosts its webhooks may reach (none given: any host)"
    )
    hosts.add_argument("organisation")
    hosts.add_argument("hosts", nargs="*", help="host names, or *.domain for its subdomains")
    migrate = verbs.add_parser("migrate", help="import the parties of every running convention")
    migrate.add_argument("--convention", action="append", help="only this convention (repeatable)")
    contacts = verbs.add_parser("contacts", help="people acting for organisations")
    people = contacts.add_subparsers(dest="contacts_command", required=True)
    person = people.add_parser("add", help="a person acting for an organisation")
    person.add_argument("organisation")
    person.add_argument("--name", required=True)
    person.add_argument("--email")
    person.add_argument("--language", default="fr", choices=("fr", "ar", "en"))
    person.add_argument("--title")
    person.add_argument(
        "--time-zone", help="IANA zone name (Africa/Casablanca); none: the organisation's country's"
    )
    person.add_argument("--capacity", action="append", required=True, choices=CAPACITIES)
    person.add_argument("--from", dest="valid_from", type=date.fromisoformat)
    person.add_argument("--until", dest="valid_until", type=date.fromisoformat)
    change = people.add_parser(
        "change", help="the time zone a person reads dates in, and/or their language"
    )
    change.add_argument("person")
    change.add_argument(
        "--time-zone",
        help="IANA zone name (Asia/Riyadh); an empty value: the organisation's country's",
    )
    change.add_argument("--language", choices=("fr", "ar", "en"))
    grant = people.add_parser("grant", help="one more capacity for a person")
    grant.add_argument("person")
    grant.add_argument("organisation")
    grant.add_argument("capacity", choices=CAPACITIES)
    grant.add_argument("--from", dest="valid_from", type=date.fromisoformat)
    grant.add_argument("--until", dest="valid_until", type=date.fromisoformat)
    revoke = people.add_parser("revoke", help="take a capacity (or all) back, at once")
    revoke.add_argument("person")
    revoke.add_argument("organisation")
    revoke.add_argument("capacity", nargs="?", choices=CAPACITIES)
    remove = people.add_parser("remove", help="the person acts for no one; sessions end")
    remove.add_argument("person")
    remove.add_argument("--reason", default="removed")
    silent = people.add_parser("silent", help="addresses that never answered")
    silent.add_argument("organisation", nargs="?")
