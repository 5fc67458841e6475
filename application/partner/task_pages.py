"""A contact's task list, a page at a time: at most PAGE_SIZE tasks a page (overdue first,
then by due date), each next page after the last row of the one before (a keyset cursor,
checked here like any other input), the directory's allowed kinds counted by the statement
itself. Rendering every open task of a party (hundreds) cost most of the page's time."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from application.directory.authority import Authority, authority_of
from application.directory.names import Names
from application.errors import InvalidInput
from application.partner.context import PartnerContext
from schemas.channels import InboxEntry
from schemas.errors import FieldError
from storage.inbox import TaskCursor, owed_tasks_page

PAGE_SIZE = 50
API_PAGE_SIZE = 100
"""The API's page when the caller names no `limit` (`GET /api/v1/tasks`)."""
API_PAGE_MAX = 500
CURSOR_MAX = 600
"""A cursor is base64 of a small JSON list (due date, convention id, task id): longer than
this, the list did not make it."""
_NOT_A_PAGE = "not a page of this list (follow the list's own links)"


def cursor_text(entry: InboxEntry) -> str:
    """The cursor of the page that starts after `entry`."""
    packed = json.dumps(
        [entry.due_at.isoformat(), entry.convention_id, entry.task_id],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(packed.encode()).decode().rstrip("=")


def read_cursor(text: str, field: str = "after") -> TaskCursor:
    """The cursor a next-page link carries; InvalidInput naming `field` (the page's `after`,
    the API's `cursor`) when it is not one."""
    reason = _cursor_refusal(text)
    if isinstance(reason, TaskCursor):
        return reason
    raise InvalidInput(f"{field}: {reason}", [FieldError(field, reason)])


def _cursor_refusal(text: str) -> TaskCursor | str:
    if len(text) > CURSOR_MAX:
        return f"at most {CURSOR_MAX} characters"
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        due, convention_id, task_id = json.loads(packed.decode())
        moment = datetime.fromisoformat(due)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        return _NOT_A_PAGE
    identifiers = (convention_id, task_id)
    if moment.tzinfo is None or not all(
        isinstance(value, str) and 0 < len(value) <= 200 for value in identifiers
    ):
        return _NOT_A_PAGE
    return TaskCursor(moment, convention_id, task_id)


@dataclass(frozen=True)
class TaskPage:
    """One page of a contact's list."""

    entries: list[InboxEntry]
    after: str | None
    """The cursor this page was asked after (None: the first page)."""
    next_after: str | None
    """The cursor of the next page, None on the last."""

    @property
    def past_end(self) -> bool:
        """A page was asked for after the list's last task."""
        return self.after is not None and not self.entries


async def open_tasks_page(
    ctx: PartnerContext,
    party: str,
    contact: str,
    email: str | None,
    after: str | None,
    authority: Authority | None = None,
) -> TaskPage:
    """A page of the tasks the contact may answer (their party's, not given to another
    contact, of a kind the directory lets them act on today). Two reads of PostgreSQL: the
    directory's word on the person (none when the caller already holds it: `authority`, read
    by the session's own check in the same request), then the page; one row more than a page
    says whether a next page exists. A bad `after`: InvalidInput, before any read."""
    cursor = read_cursor(after) if after is not None else None
    if authority is None:
        authority = await authority_of(ctx.pool, party, name=contact, email=email)
    kinds = authority.allowed_kinds()
    rows = await owed_tasks_page(
        ctx.pool, party, datetime.now(UTC), contact, kinds, cursor, PAGE_SIZE + 1
    )
    entries = rows[:PAGE_SIZE]
    following = cursor_text(entries[-1]) if len(rows) > PAGE_SIZE else None
    return TaskPage(entries, after, following)


def party_name(authority: Authority, language: str) -> str:
    """The party's name in `language`, from the directory's row its authority already read
    (no read of its own): the directory's name, else the id."""
    organisation = authority.standing.organisation
    held = {} if organisation is None else {organisation.id: organisation}
    return Names(organisations=held).organisation(authority.organisation_id, language)


async def party_tasks_page(
    ctx: PartnerContext, party: str, limit: int, cursor: str | None
) -> TaskPage:
    """A page of every open task of the party (its system's view, `GET /api/v1/tasks`): at
    most `limit`, overdue first then by due date, after `cursor` (the `next` link of the page
    before). One read; a bad cursor: InvalidInput naming `cursor`, before it."""
    after = read_cursor(cursor, "cursor") if cursor is not None else None
    rows = await owed_tasks_page(ctx.pool, party, datetime.now(UTC), None, None, after, limit + 1)
    entries = rows[:limit]
    following = cursor_text(entries[-1]) if len(rows) > limit else None
    return TaskPage(entries, cursor, following)
