"""The task board's rules, as plain functions: no clock, no timer, no activity.

Task ids, the checks an answer or an officer's action must pass, when a task is followed up,
who is told of a task and in which words, and how an answer's actor is recorded. The board
(workflows/task_board.py) applies them and does the effects (timers, milestones, activities);
tests/test_task_rules.py tests them in milliseconds, without any server. Each function gets
what it needs, the current time included, so it returns the same value on every replay.
(Temporal is imported only to let the schemas through the workflow sandbox.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.actors import Principal, PrincipalKind, capacity_for_task, check_principal_party
    from schemas.channels import Channel
    from schemas.convention import Contact, Convention, Officer, Party, ReminderPolicy, StageSpec
    from schemas.errors import Refusal, RefusalCode, RefusalValue
    from schemas.notifications import Notification, NotificationEvent
    from schemas.officer_actions import ChangeOfficer, PostponeDeadline, ReassignTask
    from schemas.tasks import Answer, AnswerTask, Task, TaskKind, TaskStatus

MAX_LATE_REMINDERS = 12
"""Late reminders per task: after these the officer's escalation task is the reminder."""

FIX_TITLE_REASON_CHARS = 160
"""How much of a delivery failure's reason a fix-delivery task's title quotes."""

AnswerCheck = Callable[[Task, Answer], None]
"""A stage's own rule for an answer; raises `refused(code, field, …)` so each reader's language
says it (a plain ValueError is refused as STAGE_RULE: "a rule of this stage", its field
placed, its English text kept for English readers and the API)."""

FollowUp = Literal["remind_before_due", "escalate", "remind_late"]


class AnswerRejected(ApplicationError, ValueError):
    """An answer or an officer's action the workflow refuses: the English message names the
    field and the reason; `refusal` says the same as a code and parameters, and travels to the
    client as the failure's details (application.conventions reads it back), so each desk
    says it in its reader's language. Still a ValueError: a stage's rule may raise it."""

    def __init__(self, message: str, refusal: Refusal | None = None) -> None:
        field, separator, _ = message.partition(": ")
        self.refusal = refusal or Refusal(
            code=RefusalCode.STAGE_RULE, field=field if separator and " " not in field else ""
        )
        super().__init__(message, self.refusal.model_dump(mode="json"), type="AnswerRejected")


def refused(
    code: RefusalCode, field: str, message: str, **params: RefusalValue | None
) -> AnswerRejected:
    """A refusal with its code: `message` is the English text, `field: reason`."""
    kept = {name: value for name, value in params.items() if value is not None}
    return AnswerRejected(f"{field}: {message}", Refusal(code=code, field=field, params=kept))


# --- task ids ---------------------------------------------------------------------------


def stage_task_id(stage: str | None, attempts: Mapping[str, int], *parts: str | int) -> str:
    """`<stage>.<parts>` on a stage's first run, `<stage>-<attempt>.<parts>` after."""
    stage = stage or "convention"
    attempt = attempts.get(stage, 1)
    prefix = stage if attempt <= 1 else f"{stage}-{attempt}"
    return ".".join([prefix, *(str(part) for part in parts)])


def escalation_task_id(task_id: str, existing: Collection[str]) -> str:
    """escalation.<task>, then .r2, .r3…: a postponed task can fall late again."""
    escalation_id = f"escalation.{task_id}"
    round_number = 1
    while escalation_id in existing:
        round_number += 1
        escalation_id = f"escalation.{task_id}.r{round_number}"
    return escalation_id


def fix_delivery_task_id(notification: Notification, channel: Channel, round_number: int) -> str:
    """delivery.fix.<task>.<event>[.officer].<channel>.r<N>: stable, and unique per round."""
    local = notification.id.removeprefix(f"{notification.convention_id}/").replace("/", ".")
    return f"delivery.fix.{local}.{channel.value}.r{round_number}"


def fix_delivery_task_title(notification: Notification, channel: Channel, reason: str) -> str:
    """What failed, to whom, on which channel, and why (the reason cut short)."""
    short = (
        reason if len(reason) <= FIX_TITLE_REASON_CHARS else reason[:FIX_TITLE_REASON_CHARS] + "…"
    )
    what = notification.task.title if notification.task else notification.subject
    return (
        f"Fix delivery: {notification.event.value} to {notification.party} by "
        f"{channel.value} failed ({short}) — {what}"
    )


def fix_delivery_task_facts(
    notification: Notification, channel: Channel, reason: str
) -> dict[str, Any]:
    """What a fix-delivery task's title states, as TaskFacts' fields."""
    task = notification.task
    short = (
        reason if len(reason) <= FIX_TITLE_REASON_CHARS else reason[:FIX_TITLE_REASON_CHARS] + "…"
    )
    return {
        "event": notification.event.value,
        "party": notification.party,
        "channel": channel.value,
        "reason": short,
        "about": task.facts if task is not None else None,
        "about_title": (
            None
            if task is not None and task.facts is not None
            else task.title
            if task is not None
            else notification.subject
        ),
    }


def escalation_facts(task: Task, *, with_moment: bool = False) -> dict[str, Any]:
    """What an escalation task's title states: the late task, its party and due date; with
    its due moment too (escalation-due-moment), which each reader's zone says as its day."""
    return {
        "party": task.assignee,
        # The UTC date, as the English title says it (and records before the moment read).
        "due_on": task.due_at.date(),
        **({"due_at": task.due_at} if with_moment else {}),
        "about": task.facts,
        "about_title": None if task.facts is not None else task.title,
    }


# --- answers and officers' actions --------------------------------------------------------


def open_task(tasks: Mapping[str, Task], task_id: str) -> Task:
    """The open task with this id, or AnswerRejected naming task_id and why."""
    task = tasks.get(task_id)
    if task is None:
        open_ids = (t.id for t in tasks.values() if t.status is TaskStatus.OPEN)
        open_tasks = sorted(open_ids)
        known = ", ".join(open_tasks) or "none"
        raise refused(
            RefusalCode.UNKNOWN_TASK,
            "task_id",
            f"unknown task {task_id!r} (open tasks: {known})",
            task=task_id,
            open=open_tasks,
        )
    if task.status is not TaskStatus.OPEN:
        raise refused(
            RefusalCode.TASK_DONE if task.status is TaskStatus.DONE else RefusalCode.TASK_CANCELLED,
            "task_id",
            f"task {task.id!r} is already {task.status.value}"
            + (f" (answered by {task.answered_by})" if task.answered_by else ""),
            task=task.id,
            answered_by=task.answered_by,
        )
    return task


def check_answer(task: Task, request: AnswerTask, stage_check: AnswerCheck | None) -> None:
    """Refuse an answer that does not fit its open task: who acts, what kind, the stage's rule."""
    if request.principal is not None:
        check_principal(task, request.principal, request.acting_party)
    if request.acting_party != task.assignee:
        raise refused(
            RefusalCode.NOT_OWED,
            "acting_party",
            f"{request.acting_party!r} does not owe task {task.id!r}; {task.assignee!r} does",
            acting_party=request.acting_party,
            task=task.id,
            assignee=task.assignee,
        )
    if request.answer.kind != task.kind.value:
        raise refused(
            RefusalCode.WRONG_ANSWER_KIND,
            "answer.kind",
            f"task {task.id!r} expects a {task.kind.value!r} answer, not {request.answer.kind!r}",
            task=task.id,
            expected=task.kind.value,
            given=request.answer.kind,
        )
    if stage_check is not None:
        try:
            stage_check(task, request.answer)
        except AnswerRejected:
            raise
        except ValueError as error:
            raise AnswerRejected(str(error)) from error


def check_principal(task: Task, principal: Principal, acting_party: str) -> None:
    """The authenticated actor acts for the acting party and, on a task reassigned to one
    contact, is that contact (an officer may act on anyone's behalf, and says so)."""
    try:
        check_principal_party(principal, acting_party)
    except ValueError as error:
        raise AnswerRejected(
            str(error),
            Refusal(
                code=RefusalCode.NOT_THE_ACTING_PARTY,
                field="principal.party",
                params={"party": principal.party or "", "acting_party": acting_party},
            ),
        ) from error
    checked = principal.directory.person if principal.directory is not None else None
    if (
        task.contact is not None
        and principal.kind is PrincipalKind.CONTACT
        and (
            principal.id != task.contact
            # Given to a directory's person: that person, not a namesake.
            or (task.contact_person is not None and checked not in (None, task.contact_person))
        )
    ):
        raise refused(
            RefusalCode.TASK_REASSIGNED,
            "principal",
            f"task {task.id!r} was reassigned to {task.contact}; "
            f"{principal.name} may not answer it",
            task=task.id,
            contact=task.contact,
            person=principal.name,
        )


def check_postponement(task: Task, request: PostponeDeadline) -> None:
    """A postponement moves an open task's due date later."""
    if request.new_due_at.tzinfo is None:
        raise refused(
            RefusalCode.DUE_WITHOUT_TIME_ZONE,
            "new_due_at",
            "give a time zone (e.g. 2027-01-31T17:00:00Z)",
        )
    if request.new_due_at <= task.due_at:
        raise refused(
            RefusalCode.DUE_NOT_LATER,
            "new_due_at",
            f"{request.new_due_at:%Y-%m-%d %H:%M} is not later than the "
            f"current due date {task.due_at:%Y-%m-%d %H:%M}",
            new=request.new_due_at.isoformat(),
            current=task.due_at.isoformat(),
        )


def check_reassignment(task: Task, party: Party, request: ReassignTask) -> None:
    """A task goes to another named contact of the party that owes it: one the file names,
    or a person the desk found in the directory acting for that party in the capacity the
    task needs (the desk checks the directory at the moment of acting; this checks that what
    it carries is about this task)."""
    if request.person is not None:
        check_directory_assignee(task, request)
        return
    names = [contact.name for contact in party.contacts]
    if request.contact not in names:
        raise refused(
            RefusalCode.NOT_A_CONTACT,
            "contact",
            f"{request.contact!r} is not a contact of {party.id} "
            f"(contacts: {', '.join(names) or 'none declared'})",
            contact=request.contact,
            party=party.id,
            contacts=names,
        )
    if request.contact == task.contact:
        raise refused(
            RefusalCode.ALREADY_WITH_CONTACT,
            "contact",
            f"task {task.id!r} is already with {request.contact}",
            task=task.id,
            contact=request.contact,
        )


def check_directory_assignee(task: Task, request: ReassignTask) -> None:
    """The directory's person carried by a reassignment acts for the party that owes the task,
    in the capacity its kind needs, under the name the update gives, and is not the one the
    task is with already."""
    person = request.person
    assert person is not None
    needed = capacity_for_task(task.kind.value)
    check = person.check
    if (
        check.organisation != task.assignee
        or check.person is None
        or check.capacity != needed
        or person.name != request.contact
    ):
        raise refused(
            RefusalCode.NOT_A_CONTACT,
            "contact",
            f"{request.contact!r} is not a person of {task.assignee} who may act on "
            f"{task.kind.value} ({check.organisation}, {check.capacity})",
            contact=request.contact,
            party=task.assignee,
            contacts=[],
        )
    if check.person == task.contact_person or (
        task.contact_person is None and request.contact == task.contact
    ):
        raise refused(
            RefusalCode.ALREADY_WITH_CONTACT,
            "contact",
            f"task {task.id!r} is already with {request.contact}",
            task=task.id,
            contact=request.contact,
        )


def reassignment_details(request: ReassignTask, before: Task) -> dict[str, Any]:
    """The reassignment milestone's details: from whom, to whom, why; for a directory's
    person, their id and what the directory said (capacity, version)."""
    details: dict[str, Any] = {
        "from": before.contact,
        "to": request.contact,
        "reason": request.reason,
    }
    if request.person is not None:
        details["person"] = request.person.check.person
        details["capacity"] = request.person.check.capacity
        details["directory_version"] = request.person.check.version
    return details


def check_officer_change(current: Officer, request: ChangeOfficer) -> None:
    """The new responsible officer is a person with a name and an address, not the current
    one (the same address, or the same name when the current one has none)."""
    if not " ".join(request.name.split()):
        raise refused(RefusalCode.OFFICER_WITHOUT_NAME, "name", "give the new officer's name")
    if request.email is None:
        raise refused(
            RefusalCode.OFFICER_WITHOUT_EMAIL,
            "email",
            f"give {request.name}'s e-mail address: escalations are mailed to it",
            name=request.name,
        )
    same_address = current.email is not None and current.email.lower() == request.email.lower()
    same_name = current.email is None and _folded(current.name) == _folded(request.name)
    if same_address or same_name:
        raise refused(
            RefusalCode.SAME_OFFICER,
            "email" if same_address else "name",
            f"{current.name} is already the responsible officer",
            name=current.name,
        )


def changed_officer(request: ChangeOfficer) -> Officer:
    """The responsible officer a checked change names."""
    return Officer(
        name=" ".join(request.name.split()), email=request.email, language=request.language
    )


def officer_change_details(
    before: Officer, after: Officer, request: ChangeOfficer, changed_by: str
) -> dict[str, Any]:
    """An officer_changed milestone's details (schemas.milestone_details.OfficerChangedDetails)."""
    return {
        "changed_by": changed_by,
        "from": {"name": before.name, "email": before.email},
        "to": {"name": after.name, "email": after.email},
        "reason": request.reason,
    }


def _folded(name: str) -> str:
    return " ".join(name.split()).casefold()


def recorded_actor(request: AnswerTask) -> str | None:
    """The proven actor; an officer entering an answer names the party's person if told."""
    principal = request.principal
    if principal is None:
        return request.actor
    if principal.kind is PrincipalKind.OFFICER:
        return request.actor or principal.name
    return principal.name


def answered_by(request: AnswerTask) -> str:
    """'answered by Drissa GUINDO for menefp, e-mailed link confirmed by code', or
    'entered by officer Nadia Benali on behalf of psa (for Rémi Cabon)'."""
    principal = request.principal
    if principal is None:
        return f"answered by {request.acting_party}"
    if principal.kind is PrincipalKind.OFFICER:
        return principal.describe() + (f" (for {request.actor})" if request.actor else "")
    return f"answered by {principal.describe()}"


def answer_details(request: AnswerTask) -> dict[str, Any]:
    """A task_answered milestone's details: the answer, and who proved they gave it."""
    details: dict[str, Any] = {"answer": request.answer.model_dump(mode="json")}
    if request.principal is not None:
        details["principal"] = request.principal.model_dump(mode="json")
    return details


# --- follow-ups ---------------------------------------------------------------------------


def reminder_policy(convention: Convention, spec: StageSpec | None) -> ReminderPolicy:
    """The reminders of a stage's tasks: the stage's own policy, else the convention's (the
    board's, and the editor's preview of when a task will be reminded)."""
    if spec is not None and spec.reminders is not None:
        return spec.reminders
    return convention.reminders


def next_follow_up(task: Task, policy: ReminderPolicy) -> tuple[datetime, FollowUp] | None:
    """When the open task is next followed up, and how; None once every reminder is sent.

    A reminder before the due date (if the policy has one and it falls after the task was
    assigned), the escalation at the due date, then a late reminder every few days, at most
    MAX_LATE_REMINDERS of them.
    """
    if not task.reminded_before_due and policy.before_due_days is not None:
        remind_at = task.due_at - timedelta(days=policy.before_due_days)
        if remind_at > task.assigned_at:
            return remind_at, "remind_before_due"
    if not task.escalated:
        return task.due_at, "escalate"
    if task.late_reminders >= MAX_LATE_REMINDERS:
        return None
    late_every = timedelta(days=policy.late_every_days)
    return task.due_at + late_every * (task.late_reminders + 1), "remind_late"


def late_reminders_passed(now: datetime, due_at: datetime, policy: ReminderPolicy) -> int:
    """Late reminders whose dates already passed when a task is found overdue: folded into
    its one overdue notice rather than sent in a burst."""
    late_every = timedelta(days=policy.late_every_days)
    return max(0, (now - due_at) // late_every)


# --- who is told, in which words ------------------------------------------------------------


def task_notification(
    convention: Convention,
    task: Task,
    event: NotificationEvent,
    now: datetime,
    *,
    to_officer: bool = False,
    occurrence: str | None = None,
) -> Notification:
    """The notification of a task to the party that owes it (its reassigned contact only,
    if any), or to the officer for the officer's own tasks.

    `occurrence` tells repeated notifications of one event apart (reminder 1, 2…): it is
    part of the notification id, which stays stable across retries and replays.
    """
    # The officer's own tasks (a delivery to fix) go to the officer, not the office's desk.
    to_officer = to_officer or task.kind is TaskKind.FIX_DELIVERY
    party = convention.office if to_officer else convention.party(task.assignee)
    if to_officer:
        officer = convention.officer
        recipients = [Contact(name=officer.name, email=officer.email, language=officer.language)]
        language = officer.language
    else:
        recipients = [
            contact
            for contact in party.contacts
            if task.contact is None or contact.name == task.contact
        ]
        language = party.language or (
            recipients[0].language if recipients else convention.officer.language
        )
    return Notification(
        # Stable across retries and replays: the partner's webhook-id, the log's key.
        id=f"{convention.id}/{task.id}/{event.value}"
        + (f"/{occurrence}" if occurrence else "")
        + ("/officer" if to_officer else ""),
        convention_id=convention.id,
        event=event,
        party=party.id,
        recipients=recipients,
        language=language,
        subject=f"[{convention.id}] {task.title}",
        task=task,
        created_at=now,
        convention_title=convention.title,
        webhook_url=str(party.webhook_url) if party.webhook_url else None,
    )


def partners(convention: Convention) -> list[Party]:
    """Every party but the office (which drives the stages)."""
    return [party for party in convention.parties if party.id != convention.office.id]


def stage_announcement(
    convention: Convention, party: Party, stage: str | None, entered_id: str, now: datetime
) -> Notification:
    """A stage's start, to one partner: one per party and stage run, so a stage run again is
    announced again (entered_id is the run's own)."""
    language = party.language or (
        party.contacts[0].language if party.contacts else convention.officer.language
    )
    return Notification(
        id=f"{convention.id}/{entered_id}/{NotificationEvent.STAGE_CHANGED.value}/{party.id}",
        convention_id=convention.id,
        event=NotificationEvent.STAGE_CHANGED,
        party=party.id,
        recipients=list(party.contacts),
        language=language,
        subject=f"[{convention.id}] {stage}",
        stage=stage,
        created_at=now,
        convention_title=convention.title,
        webhook_url=str(party.webhook_url) if party.webhook_url else None,
    )


# --- sizes ----------------------------------------------------------------------------------


def workflow_json(value: Any) -> bytes:
    """The JSON bytes a value takes in a payload (deterministic: sorted keys, UTF-8)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode()


def shortened(text: str, limit: int) -> str:
    """The text cut to limit characters (an ellipsis says so): for titles quoting a user."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
