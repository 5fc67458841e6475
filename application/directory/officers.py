"""The command line's `--officer` as a directory person (issue 23, item 5): the first
command an officer runs creates them (their own change, recorded), every later one finds
them again — by address when `--officer` is an e-mail address, else by the name and the
officer who created it. They act for no organisation: the person is who the record names,
not a partner's contact; an admin may give them capacities like anyone's."""

from __future__ import annotations

import secrets

import asyncpg
from pydantic import EmailStr, TypeAdapter, ValidationError

from application.directory.editors import Editor, EditorRole
from application.directory.people import NAME_MAX, NewPerson, checked_person
from infra.database import transaction
from storage import directory as store
from storage import directory_desk as desk_store

CLI_REASON = "the command line's --officer"
_EMAIL = TypeAdapter(EmailStr)


def _address(name: str) -> str | None:
    try:
        return str(_EMAIL.validate_python(name))
    except ValidationError:
        return None


async def officer_person(pool: asyncpg.Pool, officer: str) -> store.Person:
    """The directory's person for the command line's officer, created once if absent."""
    name = " ".join(officer.split())[:NAME_MAX] or "unknown officer"
    editor = Editor(name, EditorRole.OFFICER)
    email = _address(name)
    async with transaction(pool) as connection:
        await store.lock_imports(connection)  # two commands at once: one person
        found = await desk_store.cli_officer(connection, email, editor.recorded_as, name)
        person = await store.person(connection, found) if found else None
        if person is not None:
            return person
        values = checked_person(NewPerson(name=name, email=email))
        person = await store.insert_person(
            connection, {**values, "id": f"p-{secrets.token_hex(6)}"}, editor.recorded_as
        )
        await store.record_change(
            connection,
            actor=editor.recorded_as,
            action="person.create",
            person_id=person.id,
            new_value=values,
            reason=CLI_REASON,
        )
    return person
