"""Officers' actions on a convention, the signed-in officer as actor: postpone a deadline,
reassign a task, terminate the convention, answer a task on a party's behalf. Each is the
workflow's own update; each is written to the access log, done or refused."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client

from application import documents
from application.conventions import (
    ConventionNotFound,
    ConventionUnreadable,
    answer_task,
    build_answer,
    convention_status,
    postpone_deadline,
    reassign_task,
    terminate_convention,
)
from application.directory.authority import system_authority
from application.errors import InvalidInput, NotFound, Refused
from application.office import access_log
from application.office.reassignees import checked_assignee
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from application.partner import PartnerDesk, TaskView
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.convention_file import parse_model
from schemas.errors import DetailCode, FieldError, InputError, Reason, coded_detail
from schemas.officer_actions import PostponeDeadline, ReassignTask, TerminateConvention
from schemas.tasks import Task

RPC_TIMEOUT = timedelta(seconds=15)
_NOT_A_DATE = "expected a date, YYYY-MM-DD"
Result = TypeVar("Result")
Model = TypeVar("Model", bound=BaseModel)


def _validated(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return parse_model(model, data, model.__name__)
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from error


def _not_open(task_id: str) -> Reason:
    """An officer's action on a task answered or cancelled since the page was opened; the
    field's prefix places it beside the form's task (web.office.placed_refusal)."""
    return coded_detail(
        DetailCode.TASK_NOT_OPEN, f"task_id: task {task_id!r} is not open", task=task_id
    )


@dataclass
class OfficerActions:
    """The officers' actions over Temporal, logged in PostgreSQL; keeps no state."""

    partner: PartnerDesk

    @property
    def pool(self) -> asyncpg.Pool:
        """The database."""
        return self.partner.pool

    @property
    def client(self) -> Client:
        """Temporal."""
        return self.partner.client

    def _officer(self, session: OfficeSession) -> str:
        authorize(session, Permission.ACT)
        return f"{session.user.name} <{session.user.email}>"[:200]

    async def _act(
        self,
        session: OfficeSession,
        action: str,
        target: str,
        address: str,
        call: Awaitable[Result],
    ) -> Result:
        try:
            result = await call
        except (Refused, ConventionNotFound, ConventionUnreadable) as error:
            await access_log.record(
                self.pool, session.user.email, action, "refused", address, target
            )
            # The workflow's Reason (its code and parameters) goes on to the page.
            raise Refused(error.detail if isinstance(error, Refused) else str(error)) from error
        await access_log.record(self.pool, session.user.email, action, "ok", address, target)
        return result

    async def postpone(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        new_due: str,
        reason: str,
        address: str,
    ) -> Any:
        """Move a task's due date later, in the officer's name."""
        officer = self._officer(session)
        try:
            day = date.fromisoformat(new_due)
        except ValueError as error:
            raise InvalidInput(
                "to: not a date",
                # The English text for the API, pydantic's code for a desk's reader.
                [FieldError("to", Reason(_NOT_A_DATE, "date_parsing", {}, "to"), "date_parsing")],
            ) from error
        request = _validated(
            PostponeDeadline,
            {
                "task_id": task_id,
                "new_due_at": datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC),
                "reason": reason,
                "officer": officer,
            },
        )
        return await self._act(
            session,
            "postpone",
            f"{convention_id}/{task_id}",
            address,
            postpone_deadline(self.client, convention_id, request, rpc_timeout=RPC_TIMEOUT),
        )

    async def reassign(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        picked: str,
        reason: str,
        address: str,
    ) -> str:
        """Give a task to a person the directory says may act on it for its party (`picked`:
        their directory id), or, for an organisation the directory does not hold, to another
        contact the file names (`picked`: the name), in the officer's name; the name of the one
        who has it now."""
        officer = self._officer(session)
        fields: dict[str, Any] = {"task_id": task_id, "contact": picked, "reason": reason}
        _validated(ReassignTask, {**fields, "officer": officer})  # every field's error first
        try:
            task = await self._open_task(convention_id, task_id)
            person = await checked_assignee(self.pool, task, picked)
        except (InvalidInput, Refused):
            await access_log.record(
                self.pool,
                session.user.email,
                "reassign",
                "refused",
                address,
                f"{convention_id}/{task_id}",
            )
            raise
        if person is not None:
            fields.update(contact=person.name, person=person.model_dump(mode="json"))
        request = _validated(ReassignTask, {**fields, "officer": officer})
        await self._act(
            session,
            "reassign",
            f"{convention_id}/{task_id}",
            address,
            reassign_task(self.client, convention_id, request, rpc_timeout=RPC_TIMEOUT),
        )
        return request.contact

    async def _open_task(self, convention_id: str, task_id: str) -> Task:
        """The open task, as the workflow shows it now; Refused when it is not open."""
        try:
            status = await convention_status(self.client, convention_id, rpc_timeout=RPC_TIMEOUT)
        except (ConventionNotFound, ConventionUnreadable) as error:
            raise Refused(str(error)) from error
        task = next((t for t in status.open_tasks if t.id == task_id), None)
        if task is None:
            raise Refused(_not_open(task_id))
        return task

    async def terminate(
        self, session: OfficeSession, convention_id: str, reason: str, address: str
    ) -> Any:
        """End the convention, in the officer's name (the workflow's own update)."""
        officer = self._officer(session)
        request = _validated(TerminateConvention, {"reason": reason, "officer": officer})
        return await self._act(
            session,
            "terminate",
            convention_id,
            address,
            terminate_convention(self.client, convention_id, request, rpc_timeout=RPC_TIMEOUT),
        )

    async def answer_on_behalf(
        self,
        session: OfficeSession,
        convention_id: str,
        task_id: str,
        fields: dict[str, Any],
        address: str,
    ) -> Any:
        """Answer a task for the party that owes it (or the office's own task, such as
        fix_delivery's retry or dismiss), proven as `officer_on_behalf` by this officer."""
        self._officer(session)
        try:
            status = await convention_status(self.client, convention_id, rpc_timeout=RPC_TIMEOUT)
        except (ConventionNotFound, ConventionUnreadable) as error:
            raise Refused(str(error)) from error
        task = next((t for t in status.open_tasks if t.id == task_id), None)
        if task is None:
            raise Refused(_not_open(task_id))
        # The officer acts for the party only while the directory keeps it active; the
        # record names the officer, the party and the directory version checked.
        try:
            check = (await system_authority(self.pool, task.assignee)).check(task.kind.value)
        except Refused:
            await access_log.record(
                self.pool,
                session.user.email,
                "answer_on_behalf",
                "refused",
                address,
                f"{convention_id}/{task_id}",
            )
            raise
        principal = Principal(
            kind=PrincipalKind.OFFICER,
            id=session.user.email,
            name=session.user.name,
            party=task.assignee,
            method=AuthMethod.OFFICER_ON_BEHALF,
            request_id=secrets.token_hex(8),
            directory=check,
        )
        try:
            request = build_answer(task, task.assignee, fields, session.user.name, principal)
        except InputError as error:
            raise InvalidInput(str(error), error.errors) from error
        request = await documents.checked_answer(self.partner, convention_id, request)
        return await self._act(
            session,
            "answer_on_behalf",
            f"{convention_id}/{task_id}",
            address,
            answer_task(self.client, convention_id, request, rpc_timeout=RPC_TIMEOUT),
        )

    async def task_view(self, convention_id: str, task_id: str) -> TaskView:
        """An open task as its form shows it (the partners' one), for an answer on behalf;
        NotFound if the convention or the open task is not known."""
        try:
            status = await convention_status(self.client, convention_id)
        except (ConventionNotFound, ConventionUnreadable) as error:
            raise NotFound(str(error)) from error
        task = next((t for t in status.open_tasks if t.id == task_id), None)
        if task is None:
            raise NotFound(
                coded_detail(
                    DetailCode.NO_OPEN_TASK,
                    f"no open task {task_id!r} in convention {convention_id!r}",
                    task=task_id,
                    convention=convention_id,
                )
            )
        return TaskView(task, await self.partner.convention(convention_id), status)
