"""The partner desk's rules: who may answer which task, proven how, and the answer they give.

Contacts come through their personal e-mailed link (a server-side session follows), and
confirm commitments (a signature, a funding decision) with a one-time code mailed to them;
partners' systems come with a per-party API key. Each way ends in a `Principal` that the
answer carries inside its Temporal update. The web routes only translate HTTP to these calls.

Every secret (link token, session id, code, API key) is stored as a hash; failures are
counted in PostgreSQL, so that every portal replica sees the same counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
import structlog
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.inbox import inbox_task, owed_tasks
from application.conventions import (
    AnswerRefused,
    ConventionNotFound,
    ConventionUnreadable,
    answer_task,
    convention_status,
    task_lookup,
)
from application.directory.authority import (
    authority_of,
    authorize_link,
    require_session,
    system_authority,
)
from application.directory.channels import channel_key, signing_secrets
from application.errors import (
    CodeUnavailable,
    Conflict,
    ConventionNotAnswering,
    InvalidInput,
    LinkUnusable,
    NotFound,
    Refused,
    TooManyAttempts,
    Unauthenticated,
)
from infra.portal_settings import PortalSettings, derived_key, token_hash
from infra.secrets import SecretError, smtp_password, webhook_secrets
from infra.settings import DeliverySettings
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.channels import InboxEntry
from schemas.contract import workflow_id_for
from schemas.convention import Convention
from schemas.convention_file import parse_model
from schemas.errors import FieldError, InputError
from schemas.milestone_details import DraftVersionDetails, details_as
from schemas.milestones import MilestoneKind
from schemas.status import ConventionInput, ConventionStatus
from schemas.tasks import AnswerReceipt, AnswerTask, Task, TaskKind, TaskStatus

log = structlog.get_logger("pacte.partner_desk")

API_KEY_PREFIX = "pk_"
# Failures counted per bucket and window before 429: an address tries many tokens, a token
# is tried from many addresses; either way a guesser is slowed to a crawl.
FAILURE_WINDOW = timedelta(minutes=15)
FAILURES_PER_ADDRESS = 20
FAILURES_PER_SECRET = 10
CODES_PER_SESSION = 5
# A key's `last_used_at` is kept to the minute (what `keys list` shows).
KEY_USE_PRECISION = timedelta(minutes=1)
LIST_QUERY_TIMEOUT = timedelta(seconds=5)
"""How long a contact's task list waits for one convention's workflow to say who may answer
(half the CLI's QUERY_TIMEOUT: this is a page). A convention whose worker is down must not
hold it: Temporal keeps a query with no worker waiting about half a minute."""
LIST_QUERIES_AT_ONCE = 8
# The body fields an API caller may send beside the answer (the rest is the server's).
_API_BODY_FIELDS = {"task_id", "acting_party", "actor", "answer"}
_INSERT_RECEIPT = (
    "INSERT INTO partner_receipts (convention_id, task_id, party, principal, answer,"
    " accepted_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)
# One round trip, one commit: the receipt, and the Idempotency-Key's reservation marked done.
_INSERT_RECEIPT_AND_MARK = (
    f"WITH kept AS ({_INSERT_RECEIPT})"
    " UPDATE partner_idempotency SET receipt = $7 WHERE party = $8 AND key = $9"
)


@dataclass(frozen=True)
class Link:
    """A contact's link, as stored."""

    token_hash: bytes
    contact_name: str
    contact_email: str | None
    language: str
    party: str
    convention_id: str
    task_id: str
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


@dataclass(frozen=True)
class ContactSession:
    """A browser's session, opened by a link: one contact of one party."""

    id_hash: bytes
    contact_name: str
    contact_email: str | None
    party: str
    language: str
    link_hash: bytes


@dataclass(frozen=True)
class ApiKey:
    """A party's API key, without its secret."""

    id: str
    party: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Receipt:
    """An accepted answer, as the desk shows it again."""

    convention_id: str
    task_id: str
    accepted_at: datetime
    principal: Principal
    answer: dict[str, Any]


@dataclass(frozen=True)
class TaskView:
    """A task and what its form needs: the convention file and the workflow's status."""

    task: Task | None
    convention: Convention
    status: ConventionStatus
    receipt: Receipt | None = None
    answered_by: str | None = None
    closed: str | None = None
    closed_task: Task | None = None
    """A closed task as the inbox read model last saw it: a form posted too late is shown
    again, with what was typed and why it was refused."""

    @property
    def overdue(self) -> bool:
        """Past its due date."""
        return self.task is not None and self.task.due_at < datetime.now(UTC)

    def draft_document(self) -> dict[str, Any] | None:
        """The text under review: the latest draft version's document (URI, sha256)."""
        for milestone in reversed(self.status.milestones):
            if milestone.kind is MilestoneKind.DRAFT_VERSION:
                # None: the workflow's bounded copy left the details out (or a run's carried
                # milestones, which have none).
                draft = details_as(milestone, DraftVersionDetails)
                if draft is None:
                    return {"version": None}
                return {"version": draft.version, **draft.document.model_dump(mode="json")}
        return None


@dataclass(frozen=True)
class PendingCode:
    """An answer waiting for the one-time code mailed to the contact."""

    id: str
    expires_at: datetime


@dataclass
class CodeMail:
    """What the code mail says, in the contact's language (the web's catalogues)."""

    subject: str
    text: str


@dataclass
class PartnerDesk:
    """The partner-facing service over Temporal and PostgreSQL; keeps no state of its own."""

    pool: asyncpg.Pool
    client: Client
    settings: PortalSettings
    delivery: DeliverySettings
    secret: bytes
    code_mail: Callable[[str, str, str], CodeMail] = field(
        default=lambda language, code, title: CodeMail(
            f"Pacte code: {title}", f"Your confirmation code: {code}\n"
        )
    )
    _conventions: dict[str, Convention] = field(default_factory=dict)

    # --- rate limits --------------------------------------------------------------------

    async def _check_limits(self, buckets: dict[str, int]) -> None:
        """Refuse at once (429) when a bucket already holds its window's allowance."""
        now = datetime.now(UTC)
        start = _window_start(now)
        rows = await self.pool.fetch(
            "SELECT bucket, failures FROM partner_failures"
            " WHERE bucket = ANY($1::text[]) AND window_start = $2",
            list(buckets),
            start,
        )
        for row in rows:
            if row["failures"] >= buckets[row["bucket"]]:
                retry_after = int((start + FAILURE_WINDOW - now).total_seconds()) + 1
                raise TooManyAttempts(
                    "too many failed attempts; try again later", retry_after=retry_after
                )

    async def _record_failure(self, buckets: dict[str, int]) -> None:
        start = _window_start(datetime.now(UTC))
        for bucket in buckets:
            await self.pool.execute(
                "INSERT INTO partner_failures (bucket, window_start, failures) VALUES ($1, $2, 1)"
                " ON CONFLICT (bucket, window_start)"
                " DO UPDATE SET failures = partner_failures.failures + 1",
                bucket,
                start,
            )

    # --- contacts: links and sessions ---------------------------------------------------

    async def open_link(self, token: str, client_address: str) -> Link:
        """The link behind a token, if it still opens the desk; failures are counted."""
        digest = token_hash(token)
        buckets = {
            f"address:{client_address}": FAILURES_PER_ADDRESS,
            f"link:{digest.hex()[:32]}": FAILURES_PER_SECRET,
        }
        await self._check_limits(buckets)
        row = await self.pool.fetchrow("SELECT * FROM partner_links WHERE token_hash = $1", digest)
        if row is None:
            await self._record_failure(buckets)
            raise NotFound("this link is not known")
        link = Link(
            token_hash=row["token_hash"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            language=row["language"],
            party=row["party"],
            convention_id=row["convention_id"],
            task_id=row["task_id"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            revoked_reason=row["revoked_reason"],
        )
        if link.revoked_at is not None:
            raise LinkUnusable(f"this link was withdrawn ({link.revoked_reason})")
        if link.expires_at <= datetime.now(UTC):
            raise LinkUnusable(f"this link expired on {link.expires_at:%Y-%m-%d}")
        # The directory, not the file that minted the link, says who acts for the party.
        await authorize_link(
            self.pool, link.party, name=link.contact_name, email=link.contact_email
        )
        return link

    async def start_session(self, link: Link) -> tuple[str, ContactSession]:
        """A new session for the link's contact; returns the cookie value (shown once)."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = ContactSession(
            id_hash=token_hash(token),
            contact_name=link.contact_name,
            contact_email=link.contact_email,
            party=link.party,
            language=link.language,
            link_hash=link.token_hash,
        )
        await self.pool.execute(
            "INSERT INTO partner_sessions (id_hash, link_hash, contact_name, contact_email,"
            " party, language, created_at, last_seen_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            session.id_hash,
            link.token_hash,
            link.contact_name,
            link.contact_email,
            link.party,
            link.language,
            now,
            now + timedelta(hours=self.settings.session_max_hours),
        )
        return token, session

    async def session(self, token: str | None) -> ContactSession:
        """The live session of this cookie; idle or past its lifetime, it is over."""
        if not token:
            raise Unauthenticated("no session: open the link you received by e-mail")
        now = datetime.now(UTC)
        row = await self.pool.fetchrow(
            "UPDATE partner_sessions SET last_seen_at = $2"
            " WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2"
            "   AND last_seen_at > $3"
            " RETURNING *",
            token_hash(token),
            now,
            now - timedelta(minutes=self.settings.session_idle_minutes),
        )
        if row is None:
            raise Unauthenticated("your session has ended: open the link you received again")
        session = ContactSession(
            id_hash=row["id_hash"],
            contact_name=row["contact_name"],
            contact_email=row["contact_email"],
            party=row["party"],
            language=row["language"],
            link_hash=row["link_hash"],
        )
        try:  # a person the directory removed (or no longer names) is signed out at once
            await require_session(
                self.pool, session.party, name=session.contact_name, email=session.contact_email
            )
        except Unauthenticated:
            await self.end_session(session)
            raise
        return session

    async def set_language(self, session: ContactSession, language: str) -> None:
        """The contact reads the desk in another language (fr, ar, en)."""
        await self.pool.execute(
            "UPDATE partner_sessions SET language = $2 WHERE id_hash = $1",
            session.id_hash,
            language,
        )

    async def end_session(self, session: ContactSession) -> None:
        """Sign out."""
        await self.pool.execute(
            "UPDATE partner_sessions SET ended_at = now() WHERE id_hash = $1", session.id_hash
        )

    def csrf_key(self) -> bytes:
        """The key the web layer signs its CSRF tokens with."""
        return derived_key(self.secret, "csrf")

    # --- reading tasks --------------------------------------------------------------------

    async def open_tasks(self, party: str, contact: str | None = None) -> list[InboxEntry]:
        """The party's open tasks, overdue first; for a contact, only those they may answer."""
        entries = await owed_tasks(self.pool, party, datetime.now(UTC))
        if contact is None:
            return entries
        # Only the tasks the directory lets this person act on (their capacities, today).
        authority = await authority_of(self.pool, party, name=contact)
        entries = [entry for entry in entries if authority.allows(entry.kind)]
        gate = asyncio.Semaphore(LIST_QUERIES_AT_ONCE)

        async def answerable(convention_id: str) -> set[tuple[str, str]]:
            async with gate:
                try:
                    status = await convention_status(
                        self.client, convention_id, rpc_timeout=LIST_QUERY_TIMEOUT
                    )
                except (
                    ConventionNotFound,
                    ConventionUnreadable,
                    RPCError,
                    WorkflowQueryFailedError,
                ) as error:
                    # One convention that cannot answer (its worker down, its workflow task
                    # failing) must not hide the contact's other tasks, nor hold the page.
                    log.warning(
                        "convention did not answer", convention_id=convention_id, error=str(error)
                    )
                    return set()
            return {
                (convention_id, task.id)
                for task in status.open_tasks
                if task.assignee == party and task.contact in (None, contact)
            }

        conventions = dict.fromkeys(entry.convention_id for entry in entries)
        allowed = set().union(*await asyncio.gather(*map(answerable, conventions)))
        return [e for e in entries if (e.convention_id, e.task_id) in allowed]

    @staticmethod
    @asynccontextmanager
    async def _asking(convention_id: str) -> AsyncIterator[None]:
        """A question to one convention's workflow: a workflow that cannot answer (no worker
        polls, its task fails: `ConventionUnreadable`), or a Temporal that refuses the call, is
        a 503 with the reason, not a server error."""
        try:
            yield
        except ConventionUnreadable as error:
            raise ConventionNotAnswering(str(error), retry_after=30) from None
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                raise
            raise ConventionNotAnswering(
                f"convention {convention_id}: Temporal cannot answer now: {error.message}",
                retry_after=30,
            ) from None

    async def task_view(
        self, party: str, convention_id: str, task_id: str, contact: str | None = None
    ) -> TaskView:
        """One of the party's tasks (open, or answered with its receipt); else NotFound."""
        not_found = NotFound(f"no task {task_id!r} of convention {convention_id!r} for you")
        try:
            async with self._asking(convention_id):
                status = await convention_status(self.client, convention_id)
        except ConventionNotFound:
            raise not_found from None
        receipt = await self.receipt(convention_id, task_id)
        task = next((t for t in status.open_tasks if t.id == task_id), None)
        if task is not None:
            if task.assignee != party or task.contact not in (None, contact or task.contact):
                raise not_found
            if contact and not (await authority_of(self.pool, party, name=contact)).allows(
                task.kind.value
            ):
                raise not_found
            convention = await self.convention(convention_id)
            return TaskView(task, convention, status, receipt)
        # The workflow itself knows a task of its current run, open or closed, and who
        # answered it the moment it accepted the answer (before any milestone is recorded);
        # a task of an earlier run (before a continue-as-new) is read from the inbox's row.
        async with self._asking(convention_id):
            lookup = await task_lookup(self.client, convention_id, task_id)
        closed = lookup.task or await self._task_of_earlier_run(convention_id, task_id)
        if closed is None or closed.assignee != party:
            raise not_found
        answered = closed.status is TaskStatus.DONE
        convention = await self.convention(convention_id)
        return TaskView(
            None,
            convention,
            status,
            receipt,
            answered_by=closed.answered_by if answered else None,
            closed="answered" if answered else "closed",
            closed_task=closed,
        )

    async def answerable_task(
        self, party: str, convention_id: str, task_id: str, contact: str | None = None
    ) -> tuple[Task, bool]:
        """The task an answer is for, and whether it is still open; else NotFound.

        What `task_view` decides, from the workflow's narrow `task` query alone: an answer
        needs neither the whole status (every open task, the milestone window), nor the
        convention file, nor the stored receipt. A task of the party closed meanwhile is
        returned too: the answer goes to the workflow, whose refusal says who answered.
        """
        not_found = NotFound(f"no task {task_id!r} of convention {convention_id!r} for you")
        try:
            async with self._asking(convention_id):
                lookup = await task_lookup(self.client, convention_id, task_id)
        except ConventionNotFound:
            raise not_found from None
        task = lookup.task
        if task is not None and task.status is TaskStatus.OPEN:
            if task.assignee != party or task.contact not in (None, contact or task.contact):
                raise not_found
            if contact and not (await authority_of(self.pool, party, name=contact)).allows(
                task.kind.value
            ):
                raise not_found
            return task, True
        closed = task or await self._task_of_earlier_run(convention_id, task_id)
        if closed is None or closed.assignee != party:
            raise not_found
        return closed, False

    async def _task_of_earlier_run(self, convention_id: str, task_id: str) -> Task | None:
        task = await inbox_task(self.pool, convention_id, task_id)
        if task is None or task.status is not TaskStatus.OPEN:
            return task
        # Not open in the workflow: a row still open is one whose answer landed first.
        return task.model_copy(update={"status": TaskStatus.DONE})

    async def _owed_in_inbox(self, party: str, convention_id: str, task_id: str) -> Task | None:
        """The task from the inbox read model when its row says open and the party's (a
        task never changes party); None when the row is not there yet, or not open."""
        task = await inbox_task(self.pool, convention_id, task_id)
        if task is None or task.status is not TaskStatus.OPEN:
            return None
        if task.assignee != party:
            raise NotFound(f"no task {task_id!r} of convention {convention_id!r} for you")
        return task

    async def convention(self, convention_id: str) -> Convention:
        """The convention file the workflow runs, from its history's first event (cached:
        a workflow's convention never changes, continue-as-new carries the same file)."""
        found = self._conventions.get(convention_id)
        if found is not None:
            return found
        handle = self.client.get_workflow_handle(workflow_id_for(convention_id))
        async for event in handle.fetch_history_events():
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [started] = await self.client.data_converter.decode(payloads, [ConventionInput])
            assert isinstance(started, ConventionInput)
            if len(self._conventions) > 256:
                self._conventions.clear()
            self._conventions[convention_id] = started.convention
            return started.convention
        raise NotFound(f"convention {convention_id!r} is not known")

    async def receipt(self, convention_id: str, task_id: str) -> Receipt | None:
        """The desk's receipt of an answer to this task, if the desk carried it."""
        row = await self.pool.fetchrow(
            "SELECT * FROM partner_receipts WHERE convention_id = $1 AND task_id = $2",
            convention_id,
            task_id,
        )
        if row is None:
            return None
        return Receipt(
            convention_id=row["convention_id"],
            task_id=row["task_id"],
            accepted_at=row["accepted_at"],
            principal=Principal.model_validate(row["principal"]),
            answer=row["answer"],
        )

    # --- answering ----------------------------------------------------------------------

    def build(
        self, task: Task, principal: Principal, body: dict[str, Any], *, source: str
    ) -> AnswerTask:
        """The AnswerTask with its principal, validated as the CLI validates (field errors).

        `body` is the answer as `starter.py schema --answer` describes it: `answer` and
        optionally `actor`, `task_id` and `acting_party` (which must then be this task's and
        the principal's party); the principal is the server's, never the caller's.
        """
        errors = [
            FieldError(
                name,
                "not a field of an answer"
                if name != "principal"
                else "set by the desk from your credentials, not by the request",
            )
            for name in body
            if name not in _API_BODY_FIELDS
        ]
        if body.get("task_id", task.id) != task.id:
            errors.append(FieldError("task_id", f"must be {task.id!r}, the task of this URL"))
        if body.get("acting_party", principal.party) != principal.party:
            errors.append(
                FieldError("acting_party", f"must be {principal.party!r}, whose key this is")
            )
        answer = body.get("answer")
        if not isinstance(answer, dict):
            errors.append(FieldError("answer", "required: an object of the answer's fields"))
        if errors:
            raise InvalidInput(f"invalid answer to {task.id}", errors)
        assert isinstance(answer, dict)
        try:
            return parse_model(
                AnswerTask,
                {
                    "task_id": task.id,
                    "acting_party": principal.party,
                    "actor": body.get("actor") or principal.name,
                    "principal": principal.model_dump(mode="json"),
                    "answer": {"kind": task.kind.value, **answer},
                },
                source,
            )
        except InputError as error:
            raise InvalidInput(str(error), error.errors) from None

    async def send(
        self,
        convention_id: str,
        request: AnswerTask,
        *,
        idempotency: tuple[str, str] | None = None,
    ) -> Receipt:
        """Send the answer as the workflow's update; keep its receipt for the link, and mark
        the (party, Idempotency-Key) reservation done in the same statement."""
        assert request.principal is not None
        try:
            accepted: AnswerReceipt = await answer_task(self.client, convention_id, request)
        except AnswerRefused as error:
            who = await self._who_answered(convention_id, request.task_id)
            raise Refused(who or str(error)) from None
        except ConventionNotFound:
            raise NotFound(f"convention {convention_id!r} is not known") from None
        receipt = Receipt(
            convention_id=convention_id,
            task_id=request.task_id,
            accepted_at=accepted.accepted_at,
            principal=request.principal,
            answer=request.answer.model_dump(mode="json"),
        )
        values: list[Any] = [
            convention_id,
            request.task_id,
            request.acting_party,
            receipt.principal.model_dump(mode="json"),
            receipt.answer,
            receipt.accepted_at,
        ]
        if idempotency is None:
            await self.pool.execute(_INSERT_RECEIPT, *values)
        else:
            marker = {"task_id": receipt.task_id, "accepted_at": receipt.accepted_at.isoformat()}
            await self.pool.execute(_INSERT_RECEIPT_AND_MARK, *values, marker, *idempotency)
        return receipt

    async def _who_answered(self, convention_id: str, task_id: str) -> str | None:
        """'task_id: … already answered (by …)' when a colleague's answer won the race, even if
        the convention has closed since (a closed workflow still answers the query)."""
        try:
            lookup = await task_lookup(self.client, convention_id, task_id)
        except (ConventionNotFound, ConventionUnreadable):
            return None
        task = lookup.task
        if task is None or task.status is not TaskStatus.DONE or not task.answered_by:
            return None
        return f"task_id: task {task_id!r} is already answered (by {task.answered_by})"

    def contact_principal(self, session: ContactSession, method: AuthMethod) -> Principal:
        """The contact, as the answer's principal."""
        return Principal(
            kind=PrincipalKind.CONTACT,
            id=session.contact_name,
            name=session.contact_name,
            party=session.party,
            method=method,
            request_id=uuid.uuid4().hex,
        )

    async def _checked_contact(
        self, session: ContactSession, method: AuthMethod, task_kind: str
    ) -> Principal:
        """The contact's principal, once the directory says they hold the task's capacity now
        (Refused with the reason otherwise), carrying the directory ids and version read."""
        authority = await authority_of(
            self.pool, session.party, name=session.contact_name, email=session.contact_email
        )
        check = authority.check(task_kind)
        return self.contact_principal(session, method).model_copy(update={"directory": check})

    @staticmethod
    def needs_code(request: AnswerTask) -> bool:
        """A commitment of the party: a signature given, or a funding decision."""
        answer = request.answer
        if answer.kind == TaskKind.SIGN.value:
            return getattr(answer, "decision", None) == "sign"
        return answer.kind == TaskKind.DECIDE_FUNDING.value

    async def answer_as_contact(
        self, session: ContactSession, convention_id: str, task_id: str, body: dict[str, Any]
    ) -> Receipt | PendingCode:
        """The contact's answer: sent now, or (a commitment) once the mailed code confirms it."""
        task, still_open = await self.answerable_task(
            session.party, convention_id, task_id, session.contact_name
        )
        principal = await self._checked_contact(session, AuthMethod.LINK, task.kind.value)
        request = self.build(task, principal, body, source=f"answer to {task_id}")
        if not still_open or not self.needs_code(request):
            # A task closed meanwhile goes to the workflow too, whose refusal names who
            # answered (the read models may not say so yet); no code is sent for it.
            return await self.send(convention_id, request)
        return await self._send_code(session, task, request)

    async def _send_code(
        self, session: ContactSession, task: Task, request: AnswerTask
    ) -> PendingCode:
        smtp = self.delivery.smtp
        if smtp is None or not session.contact_email:
            raise CodeUnavailable(
                "this answer needs a code sent by e-mail, and no mail can be sent "
                + ("(no SMTP server configured)" if smtp is None else "(no address on file)")
            )
        # Each code allows five tries: bound the codes too, or asking again and again for
        # fresh codes would walk the million.
        issued = {f"codes-sent:{session.id_hash.hex()[:32]}": CODES_PER_SESSION}
        await self._check_limits(issued)
        await self._record_failure(issued)
        code = f"{secrets.randbelow(1_000_000):06d}"
        code_id = secrets.token_urlsafe(16)
        expires_at = datetime.now(UTC) + timedelta(minutes=self.settings.code_minutes)
        await self.pool.execute(
            "INSERT INTO partner_codes (id, session_hash, convention_id, task_id, code_hash,"
            " answer, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            code_id,
            session.id_hash,
            task.convention_id,
            task.id,
            self._code_hash(code_id, code),
            request.model_dump(mode="json", exclude={"principal"}),
            expires_at,
        )
        mail = self.code_mail(session.language, code, task.title)
        message = EmailMessage()
        message["From"] = smtp.sender
        message["To"] = session.contact_email
        message["Subject"] = mail.subject
        message.set_content(mail.text, charset="utf-8", cte="quoted-printable")
        # After set_content, which replaces the Content-* headers.
        message["Content-Language"] = session.language
        try:
            await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.user,
                password=smtp_password(self.delivery.secrets_file),
                start_tls=smtp.starttls,
                use_tls=smtp.tls,
                timeout=15,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise CodeUnavailable(f"the code could not be sent: {type(error).__name__}") from None
        return PendingCode(code_id, expires_at)

    def _code_hash(self, code_id: str, code: str) -> bytes:
        # Keyed: six digits are a million guesses, so a bare hash would be read back offline.
        return hmac.new(
            derived_key(self.secret, "code"), f"{code_id}\0{code}".encode(), hashlib.sha256
        ).digest()

    async def confirm_code(
        self, session: ContactSession, code_id: str, code: str, client_address: str
    ) -> Receipt:
        """Send the waiting answer once its code is right; five tries, ten minutes."""
        buckets = {f"address:{client_address}": FAILURES_PER_ADDRESS}
        await self._check_limits(buckets)
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                "SELECT * FROM partner_codes WHERE id = $1 AND session_hash = $2 FOR UPDATE",
                code_id,
                session.id_hash,
            )
            if row is None:
                raise NotFound("no code was sent for this answer")
            if row["used_at"] is not None:
                raise Refused("this code was already used")
            if row["tries"] >= self.settings.code_tries:
                raise TooManyAttempts(
                    "too many wrong codes: send the answer again for a new code",
                    retry_after=int((row["expires_at"] - datetime.now(UTC)).total_seconds()) + 1,
                )
            if row["expires_at"] <= datetime.now(UTC):
                raise LinkUnusable("this code has expired: send the answer again for a new one")
            right = hmac.compare_digest(row["code_hash"], self._code_hash(code_id, code.strip()))
            if not right:
                await connection.execute(
                    "UPDATE partner_codes SET tries = tries + 1 WHERE id = $1", code_id
                )
                left = self.settings.code_tries - row["tries"] - 1
            else:
                await connection.execute(
                    "UPDATE partner_codes SET used_at = now() WHERE id = $1", code_id
                )
        if not right:
            await self._record_failure(buckets)
            raise InvalidInput(
                "wrong code", [FieldError("code", f"wrong code ({left} tries left)")]
            )
        waiting = dict(row["answer"])
        principal = await self._checked_contact(
            session, AuthMethod.LINK_AND_CODE, str(waiting["answer"]["kind"])
        )
        request = AnswerTask.model_validate(
            {**waiting, "principal": principal.model_dump(mode="json")}
        )
        return await self.send(row["convention_id"], request)

    # --- machine partners: API keys -------------------------------------------------------

    async def create_key(self, party: str, name: str) -> tuple[str, ApiKey]:
        """A new key for the party (see `create_key`)."""
        return await create_key(self.pool, party, name)

    async def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key (see `revoke_key`)."""
        return await revoke_key(self.pool, key_id)

    async def authenticate_key(self, authorization: str | None, client_address: str) -> Principal:
        """The party's system behind `Authorization: Bearer <key>`, as a principal."""
        buckets = {f"address:{client_address}": FAILURES_PER_ADDRESS}
        await self._check_limits(buckets)
        scheme, _, secret = (authorization or "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret.startswith(API_KEY_PREFIX):
            await self._record_failure(buckets)
            raise Unauthenticated("send the party's API key: Authorization: Bearer pk_…")
        row = await self.pool.fetchrow(
            "SELECT * FROM partner_api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            token_hash(secret),
        )
        if row is None:
            await self._record_failure(buckets)
            raise Unauthenticated("this API key is not valid (unknown or revoked)")
        if (await system_authority(self.pool, row["party"])).refusal() is not None:
            raise Unauthenticated("this API key's organisation is archived in the directory")
        last_used = row["last_used_at"]
        if last_used is None or last_used < datetime.now(UTC) - KEY_USE_PRECISION:
            # To the minute, as `keys list` shows it: not a write (a commit) per request.
            await self.pool.execute(
                "UPDATE partner_api_keys SET last_used_at = now() WHERE id = $1", row["id"]
            )
        return Principal(
            kind=PrincipalKind.API_KEY,
            id=row["id"],
            name=row["name"],
            party=row["party"],
            method=AuthMethod.API_KEY,
            request_id=uuid.uuid4().hex,
        )

    async def answer_with_key(
        self,
        principal: Principal,
        convention_id: str,
        task_id: str,
        body: dict[str, Any],
        raw_body: bytes,
        idempotency_key: str | None,
    ) -> Receipt:
        """The API's answer; with an Idempotency-Key, a retry of the same body gets the same
        receipt and another body under the same key is a conflict."""
        if idempotency_key is None:
            return await self._answer_for_party(principal, convention_id, task_id, body)
        if not 1 <= len(idempotency_key) <= 200:
            raise InvalidInput(
                "bad Idempotency-Key", [FieldError("Idempotency-Key", "1 to 200 characters")]
            )
        body_hash = hashlib.sha256(
            f"{convention_id}\0{task_id}\0".encode() + _canonical(body)
        ).digest()
        reserved = await self.pool.fetchrow(
            "INSERT INTO partner_idempotency (party, key, body_hash, convention_id, task_id)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key",
            principal.party,
            idempotency_key,
            body_hash,
            convention_id,
            task_id,
        )
        if reserved is None:
            row = await self.pool.fetchrow(
                "SELECT * FROM partner_idempotency WHERE party = $1 AND key = $2",
                principal.party,
                idempotency_key,
            )
            if row is None or row["body_hash"] != body_hash:
                raise Conflict("this Idempotency-Key was used with another request")
            if row["receipt"] is None:
                raise Conflict("a request with this Idempotency-Key is still in progress")
            stored = await self.receipt(convention_id, task_id)
            if stored is None:
                raise Conflict("this Idempotency-Key's answer has no receipt")
            return stored
        try:
            return await self._answer_for_party(
                principal,
                convention_id,
                task_id,
                body,
                idempotency=(principal.party, idempotency_key),
            )
        except BaseException:
            # Not answered: the key is free again for a corrected request.
            await self.pool.execute(
                "DELETE FROM partner_idempotency WHERE party = $1 AND key = $2",
                principal.party,
                idempotency_key,
            )
            raise

    async def _answer_for_party(
        self,
        principal: Principal,
        convention_id: str,
        task_id: str,
        body: dict[str, Any],
        *,
        idempotency: tuple[str, str] | None = None,
    ) -> Receipt:
        # A system's answer needs the task's kind and party only: the inbox's row (one
        # indexed read) says both, and the workflow's validator still decides (a task closed
        # meanwhile is refused there, naming who answered). Its query is asked only when the
        # row is not open (not yet written, or the task closed): the same rules as a page's.
        task = await self._owed_in_inbox(principal.party, convention_id, task_id)
        if task is None:
            task, _still_open = await self.answerable_task(principal.party, convention_id, task_id)
        check = (await system_authority(self.pool, principal.party)).check(task.kind.value)
        principal = principal.model_copy(update={"directory": check})
        request = self.build(task, principal, body, source=f"answer to {task_id}")
        return await self.send(convention_id, request, idempotency=idempotency)

    # --- partners' systems: signed CloudEvents ------------------------------------------

    async def verify_event(
        self, party: str, body: bytes, headers: dict[str, str], client_address: str
    ) -> Principal:
        """The party's system, proven by a Standard Webhooks signature with one of its secrets
        (several during a rotation); a timestamp beyond five minutes is refused."""
        buckets = {f"address:{client_address}": FAILURES_PER_ADDRESS}
        await self._check_limits(buckets)
        try:
            candidates = webhook_secrets(party, self.delivery.secrets_file)
        except SecretError:
            # No secret for that party: nothing can be verified (and no party is revealed).
            candidates = []
        # The directory's channel secrets (during a rotation, old and new) after the override.
        candidates += await signing_secrets(self.pool, channel_key(self.secret), party)
        for candidate in candidates:
            try:
                Webhook(candidate).verify(body, headers)
            except WebhookVerificationError:
                continue
            return Principal(
                kind=PrincipalKind.API_KEY,
                id=f"webhook-secret:{party}",
                name=f"{party} signed events",
                party=party,
                method=AuthMethod.SIGNED_EVENT,
                request_id=headers.get("webhook-id") or uuid.uuid4().hex,
            )
        await self._record_failure(buckets)
        raise Unauthenticated("the event's Standard Webhooks signature does not verify")

    async def answer_from_event(
        self, principal: Principal, source: str, event_id: str, data: Any
    ) -> Receipt:
        """A `pacte.task.answer` event's answer, once per source + id: a repeat of an
        accepted event gets the same receipt, whatever it carries."""
        if not isinstance(data, dict):
            raise InvalidInput(
                "the event's data must be an object",
                [FieldError("data", "an object: convention_id, task_id, answer")],
            )
        convention_id, task_id = data.get("convention_id"), data.get("task_id")
        if not isinstance(convention_id, str) or not isinstance(task_id, str):
            raise InvalidInput(
                "the event names no task",
                [
                    FieldError(f"data.{name}", "required")
                    for name in ("convention_id", "task_id")
                    if not isinstance(data.get(name), str)
                ],
            )
        reserved = await self.pool.fetchrow(
            "INSERT INTO partner_events (source, id, party) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING id",
            source,
            event_id,
            principal.party,
        )
        if reserved is None:
            row = await self.pool.fetchrow(
                "SELECT * FROM partner_events WHERE source = $1 AND id = $2", source, event_id
            )
            if row is None or row["receipt"] is None or row["party"] != principal.party:
                raise Conflict("an event with this source and id is still being processed")
            stored = await self.receipt(row["receipt"]["convention_id"], row["receipt"]["task_id"])
            if stored is None:
                raise Conflict("this event's answer has no receipt")
            return stored
        body = {k: v for k, v in data.items() if k not in {"convention_id", "task_id"}}
        try:
            receipt = await self._answer_for_party(principal, convention_id, task_id, body)
        except BaseException:
            await self.pool.execute(
                "DELETE FROM partner_events WHERE source = $1 AND id = $2", source, event_id
            )
            raise
        await self.pool.execute(
            "UPDATE partner_events SET receipt = $3 WHERE source = $1 AND id = $2",
            source,
            event_id,
            {"convention_id": convention_id, "task_id": task_id},
        )
        return receipt


def _window_start(now: datetime) -> datetime:
    seconds = int(FAILURE_WINDOW.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        party=row["party"],
        name=row["name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(pool: asyncpg.Pool, party: str, name: str) -> tuple[str, ApiKey]:
    """A new key for the party; the returned secret is shown once and never stored."""
    key_id = secrets.token_hex(6)
    secret = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = await pool.fetchrow(
        "INSERT INTO partner_api_keys (id, party, name, key_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING *",
        key_id,
        party,
        name,
        token_hash(secret),
    )
    return secret, _api_key(row)


async def list_keys(pool: asyncpg.Pool, party: str | None = None) -> list[ApiKey]:
    """Every key (or the party's), newest first; never a secret."""
    rows = await pool.fetch(
        "SELECT * FROM partner_api_keys WHERE $1::text IS NULL OR party = $1"
        " ORDER BY created_at DESC",
        party,
    )
    return [_api_key(row) for row in rows]


async def revoke_key(pool: asyncpg.Pool, key_id: str) -> ApiKey:
    """The key stops working at once (every replica reads the same row)."""
    row = await pool.fetchrow(
        "UPDATE partner_api_keys SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = $1 RETURNING *",
        key_id,
    )
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    return _api_key(row)


_PURGES = (
    # (what, statement), $1 being now; in this order, as codes refer to sessions and
    # sessions to links.
    (
        "codes",
        "DELETE FROM partner_codes WHERE expires_at < $1::timestamptz - interval '1 day'"
        " OR session_hash IN"
        " (SELECT id_hash FROM partner_sessions WHERE expires_at < $1::timestamptz)",
    ),
    ("sessions", "DELETE FROM partner_sessions WHERE expires_at < $1::timestamptz"),
    (
        "links",
        "DELETE FROM partner_links AS l WHERE l.expires_at < $1::timestamptz - interval '30 days'"
        " AND NOT EXISTS (SELECT 1 FROM partner_sessions AS s WHERE s.link_hash = l.token_hash)",
    ),
    (
        "failure counters",
        "DELETE FROM partner_failures WHERE window_start < $1::timestamptz - interval '1 day'",
    ),
    (
        "idempotency keys",
        "DELETE FROM partner_idempotency WHERE created_at < $1::timestamptz - interval '7 days'",
    ),
    (
        "events",
        "DELETE FROM partner_events WHERE received_at < $1::timestamptz - interval '7 days'",
    ),
    ("office sessions", "DELETE FROM office_sessions WHERE expires_at < $1::timestamptz"),
)
PURGE_EVERY_SECONDS = 3600.0


async def purge_expired(pool: asyncpg.Pool, now: datetime | None = None) -> dict[str, int]:
    """Delete what no one can use any more, and say how many rows of each went.

    A link 30 days past its expiry (until then it says "expired", after it "unknown"), a
    session past its end, a code a day past its ten minutes, a failure counter's window a
    day old, an Idempotency-Key or a CloudEvent id after seven days (a retry that late gets
    the workflow's own refusal, naming who answered; a CloudEvent's timestamp must be within
    five minutes anyway). Receipts, keys and the office's access log are kept.
    """
    moment = now or datetime.now(UTC)
    purged: dict[str, int] = {}
    async with pool.acquire() as connection:
        for what, statement in _PURGES:
            status = await connection.execute(statement, moment)
            purged[what] = int(status.split()[-1])
    return purged
