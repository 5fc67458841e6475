"""Who is told of a task or a stage: the directory's people, for an organisation it holds.

The workflow decides a notification's recipients from the convention file's contacts (its
history must not change); the activities that mint the links, plan the channels and send the
mail replace them here, at the moment they run, by the directory's people of the
organisation who may act on the task today: not removed, holding the capacity the task needs
(`schemas.actors.capacity_for_task`, the desk's own rule); a stage's announcement, by those
holding any capacity for it today. The mail goes to those with an address; a person without
one still gets a link, mailed to no one, as a file's contact without an address did (an
officer can see it on the convention's page; the seed files' people have none). A task
reassigned to one contact goes to that directory person only: by id when the task was given
to a directory's person, by name when to a file's contact. An organisation
the directory does not hold keeps the workflow's list (the file's contacts); an archived one
is told by no one (nobody may act for it). The officer's own notifications are left alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from activities.message_templates import is_to_officer
from infra.database import Database
from schemas.actors import capacity_for_task
from schemas.convention import Contact
from schemas.notifications import Notification
from schemas.tasks import Task
from schemas.values import Language
from storage import directory


async def directory_recipients(db: Database, notification: Notification) -> Notification:
    """The notification addressed to the directory's people who may act on its task (the
    workflow's own recipients when the directory does not hold the organisation)."""
    task = notification.task
    if is_to_officer(notification):
        return notification
    organisation = await directory.organisation(db, notification.party)
    if organisation is None:
        return notification
    recipients: list[Contact] = []
    if organisation.archived_at is None:
        # A stage's announcement (no task): everyone who may act for it in some capacity.
        needed = None if task is None else capacity_for_task(task.kind.value)
        today = datetime.now(UTC).date()
        for person, capacities in await directory.people_of(db, organisation.id):
            if person.removed_at is not None:
                continue
            if task is not None and not _is_assignee(task, person):
                continue
            held = {c.capacity for c in capacities if c.valid_on(today)}
            if not held or (needed is not None and needed not in held):
                continue
            try:
                recipients.append(
                    Contact(
                        name=person.name,
                        email=person.email,
                        language=Language(person.language),
                        title=person.title,
                    )
                )
            except (ValidationError, ValueError):
                continue  # an address the mail could not carry: told by no link
    return notification.model_copy(update={"recipients": recipients})


def _is_assignee(task: Task, person: directory.Person) -> bool:
    """The person may be told of the task: it is with no one in particular, or with them."""
    if task.contact_person is not None:
        return person.id == task.contact_person
    return task.contact is None or person.name == task.contact
