"""Whom an open task may be given to, and the one an officer picked, checked at that moment.

The directory decides who acts for every organisation it holds (application.directory.
authority): a task owed by such an organisation may go to any of its people who are not
removed and hold, today, the capacity the task's kind needs (`capacity_for_task`: signing
`sign`, a funding decision `decide_funding`, a draft `review`, any other task `answer`),
whether or not the convention file names them. The reassignment then carries the person
(`DirectoryAssignee`: id, name, address, and the directory's word with its version), which
the workflow records. An organisation the directory does not hold at all (a convention
started before it, and not migrated) keeps the file's contacts, by name, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from application.errors import InvalidInput
from infra.database import Database
from schemas.actors import DirectoryCheck, capacity_for_task
from schemas.errors import FieldError, Reason
from schemas.officer_actions import DirectoryAssignee
from schemas.tasks import Task
from schemas.values import Language
from storage import directory

FIELD = "contact"
"""The reassign form's field that names the person (its select)."""

UNKNOWN = "assignee_unknown"
OTHER_PARTY = "assignee_other_party"
REMOVED = "assignee_removed"
ARCHIVED = "assignee_archived"
WITHOUT_CAPACITY = "assignee_without_capacity"
"""The refusals' codes (rendering.validation says each in the reader's language)."""


@dataclass(frozen=True)
class Choice:
    """One person the form offers: the value it sends (the directory's id, or the file
    contact's name for an organisation the directory lacks) and the name it shows."""

    value: str
    name: str
    title: str = ""


@dataclass(frozen=True)
class TaskChoices:
    """The people an open task may be given to, with who has it now."""

    task: Task
    choices: list[Choice]
    from_directory: bool


async def choices_for(
    db: Database, tasks: Iterable[Task], file_contacts: Mapping[str, list[str]]
) -> list[TaskChoices]:
    """For each open task an officer may reassign (a partner's: the office's own go to the
    officer), the people it may go to now, the one who has it left out."""
    today = datetime.now(UTC).date()
    by_party: dict[str, tuple[bool, list[tuple[directory.Person, set[str]]]]] = {}
    found: list[TaskChoices] = []
    for task in tasks:
        if task.assignee not in by_party:
            organisation = await directory.organisation(db, task.assignee)
            people = (
                []
                if organisation is None or organisation.archived_at is not None
                else [
                    (person, {c.capacity for c in held if c.valid_on(today)})
                    for person, held in await directory.people_of(db, task.assignee)
                    if person.removed_at is None
                ]
            )
            by_party[task.assignee] = (organisation is not None, people)
        known, people = by_party[task.assignee]
        if known:
            needed = capacity_for_task(task.kind.value)
            choices = [
                Choice(person.id, person.name, person.title or "")
                for person, capacities in people
                if needed in capacities
                and person.id != task.contact_person
                and (task.contact_person is not None or person.name != task.contact)
            ]
        else:
            choices = [
                Choice(name, name)
                for name in file_contacts.get(task.assignee, [])
                if name != task.contact
            ]
        found.append(TaskChoices(task, choices, known))
    return found


def _refused(code: str, text: str, **params: str) -> InvalidInput:
    reason = Reason(f"{FIELD}: {text}", code, params, field=FIELD)
    return InvalidInput(f"{FIELD}: {text}", [FieldError(FIELD, reason, code)])


async def checked_assignee(db: Database, task: Task, picked: str) -> DirectoryAssignee | None:
    """The directory's person picked for `task`, as the update carries them; None when the
    directory does not hold the task's organisation (the file's contact named `picked` then,
    which the workflow checks). InvalidInput naming the field when the directory says no."""
    organisation = await directory.organisation(db, task.assignee)
    if organisation is None:
        return None
    version = await directory.version(db)
    if organisation.archived_at is not None:
        raise _refused(
            ARCHIVED, f"{organisation.id} is archived in the directory", party=organisation.id
        )
    person = await directory.person(db, picked)
    if person is None:
        raise _refused(UNKNOWN, f"the directory has no person {picked!r}", person=picked[:80])
    if person.removed_at is not None:
        raise _refused(REMOVED, f"{person.name} was removed from the directory", person=person.name)
    held = await directory.capacities_for(db, person.id, task.assignee)
    if not held:
        raise _refused(
            OTHER_PARTY,
            f"{person.name} does not act for {task.assignee}",
            person=person.name,
            party=task.assignee,
        )
    needed = capacity_for_task(task.kind.value)
    today = datetime.now(UTC).date()
    if not any(c.capacity == needed and c.valid_on(today) for c in held):
        raise _refused(
            WITHOUT_CAPACITY,
            f"{person.name} may not act on this task for {task.assignee} (it needs {needed})",
            person=person.name,
            party=task.assignee,
            capacity=needed,
        )
    try:
        language = Language(person.language)
    except ValueError:
        language = Language.FRENCH
    return DirectoryAssignee(
        name=person.name,
        email=person.email,
        language=language,
        check=DirectoryCheck(
            organisation=task.assignee, person=person.id, capacity=needed, version=version
        ),
    )
