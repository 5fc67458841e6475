"""The partner desk: one object for the web routes and the tests; each method is one job's
(the modules of this package).

Contacts come through their personal e-mailed link (a server-side session follows), and
confirm commitments (a signature, a funding decision) with a one-time code mailed to them;
partners' systems come with a per-party API key or a signed CloudEvent. Each way ends in a
`Principal` that the answer carries inside its Temporal update.
"""

from __future__ import annotations

from typing import Any

from application.partner import answers, events, keys, links, task_pages, tasks
from application.partner.codes import PendingCode
from application.partner.context import PartnerContext
from application.partner.task_pages import TaskPage
from application.partner.tasks import TaskView
from application.reading_zones import contact_zone
from schemas.actors import AuthMethod, Principal
from schemas.channels import InboxEntry
from schemas.convention import Convention
from schemas.tasks import AnswerTask, Task
from storage.api_keys import ApiKey
from storage.contact_sessions import ContactSession
from storage.partner_links import Link
from storage.receipts import Receipt


class PartnerDesk(PartnerContext):
    """The partner-facing service over Temporal and PostgreSQL; keeps no state of its own."""

    # --- contacts: links and sessions -------------------------------------------------------

    async def open_link(self, token: str, client_address: str) -> Link:
        """See `links.open_link`."""
        return await links.open_link(self, token, client_address)

    async def start_session(self, link: Link) -> tuple[str, ContactSession]:
        """See `links.start_session`."""
        return await links.start_session(self, link)

    async def session(self, token: str | None) -> ContactSession:
        """See `links.session`."""
        return await links.session(self, token)

    async def set_language(self, session: ContactSession, language: str) -> None:
        """See `links.set_language`."""
        await links.set_language(self, session, language)

    async def reading_zone(self, session: ContactSession) -> str:
        """The zone the contact reads dates in (`reading_zones.contact_zone`)."""
        zone, _fallback = await contact_zone(
            self.pool, session.party, session.contact_name, session.contact_email
        )
        return zone

    async def end_session(self, session: ContactSession) -> None:
        """See `links.end_session`."""
        await links.end_session(self, session)

    def csrf_key(self) -> bytes:
        """See `links.csrf_key`."""
        return links.csrf_key(self)

    @staticmethod
    def contact_principal(session: ContactSession, method: AuthMethod) -> Principal:
        """See `links.contact_principal`."""
        return links.contact_principal(session, method)

    # --- reading tasks ----------------------------------------------------------------------

    async def open_tasks(
        self, party: str, contact: str | None = None, email: str | None = None
    ) -> list[InboxEntry]:
        """See `tasks.open_tasks`."""
        return await tasks.open_tasks(self, party, contact, email)

    async def open_tasks_page(
        self, party: str, contact: str, email: str | None, after: str | None
    ) -> TaskPage:
        """See `task_pages.open_tasks_page`."""
        return await task_pages.open_tasks_page(self, party, contact, email, after)

    async def task_view(
        self,
        party: str,
        convention_id: str,
        task_id: str,
        contact: str | None = None,
        email: str | None = None,
    ) -> TaskView:
        """See `tasks.task_view`."""
        return await tasks.task_view(self, party, convention_id, task_id, contact, email)

    async def answerable_task(
        self,
        party: str,
        convention_id: str,
        task_id: str,
        contact: str | None = None,
        email: str | None = None,
    ) -> tuple[Task, bool]:
        """See `tasks.answerable_task`."""
        return await tasks.answerable_task(self, party, convention_id, task_id, contact, email)

    async def convention(self, convention_id: str) -> Convention:
        """See `tasks.convention`."""
        return await tasks.convention(self, convention_id)

    async def receipt(self, convention_id: str, task_id: str) -> Receipt | None:
        """See `tasks.receipt`."""
        return await tasks.receipt(self, convention_id, task_id)

    # --- answers ----------------------------------------------------------------------------

    @staticmethod
    def build(task: Task, principal: Principal, body: dict[str, Any], *, source: str) -> AnswerTask:
        """See `answers.build`."""
        return answers.build(task, principal, body, source=source)

    async def send(self, convention_id: str, request: AnswerTask) -> Receipt:
        """See `answers.send`."""
        return await answers.send(self, convention_id, request)

    @staticmethod
    def needs_code(request: AnswerTask) -> bool:
        """See `answers.needs_code`."""
        return answers.needs_code(request)

    async def answer_as_contact(
        self, session: ContactSession, convention_id: str, task_id: str, body: dict[str, Any]
    ) -> Receipt | PendingCode:
        """See `answers.answer_as_contact`."""
        return await answers.answer_as_contact(self, session, convention_id, task_id, body)

    async def confirm_code(
        self, session: ContactSession, code_id: str, code: str, client_address: str
    ) -> Receipt:
        """See `answers.answer_with_code` (and `codes.confirm_code`)."""
        return await answers.answer_with_code(self, session, code_id, code, client_address)

    # --- partners' systems: API keys and signed CloudEvents ---------------------------------

    async def create_key(self, party: str, name: str) -> tuple[str, ApiKey]:
        """See `keys.create_key`."""
        return await keys.create_key(self.pool, party, name)

    async def revoke_key(self, key_id: str) -> ApiKey:
        """See `keys.revoke_key`."""
        return await keys.revoke_key(self.pool, key_id)

    async def authenticate_key(self, authorization: str | None, client_address: str) -> Principal:
        """See `keys.authenticate_key`."""
        return await keys.authenticate_key(self, authorization, client_address)

    async def answer_with_key(
        self,
        principal: Principal,
        convention_id: str,
        task_id: str,
        body: dict[str, Any],
        idempotency_key: str | None,
    ) -> Receipt:
        """See `answers.answer_with_key`."""
        return await answers.answer_with_key(
            self, principal, convention_id, task_id, body, idempotency_key
        )

    async def answer_with_bearer(
        self,
        authorization: str | None,
        client_address: str,
        convention_id: str,
        task_id: str,
        body: dict[str, Any],
        idempotency_key: str | None,
    ) -> Receipt:
        """See `answers.answer_with_bearer`."""
        return await answers.answer_with_bearer(
            self, authorization, client_address, convention_id, task_id, body, idempotency_key
        )

    async def verify_event(
        self, party: str, body: bytes, headers: dict[str, str], client_address: str
    ) -> Principal:
        """See `events.verify_event`."""
        return await events.verify_event(self, party, body, headers, client_address)

    async def answer_from_event(
        self, principal: Principal, source: str, event_id: str, data: Any
    ) -> Receipt:
        """See `events.answer_from_event`."""
        return await events.answer_from_event(self, principal, source, event_id, data)
