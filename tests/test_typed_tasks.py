"""Tasks carry their facts and the workflow's refusals their codes (issue 24): each task kind
said in French, Arabic and English from its facts, the milestones' facts taken from their
details, the recorded histories of before and after the patch both rendered, and a refusal
said in Arabic on the partner's page and by its code on the API."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from application.conventions import refusal_of
from application.errors import Refused
from infra.settings import PROJECT_ROOT
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE
from rendering.record import facts_title, milestone_text, task_title
from rendering.refusals import REFUSALS, refusal_text
from rendering.validation import reason_text
from schemas.convention import Convention
from schemas.convention_file import load_convention
from schemas.errors import Reason, Refusal, RefusalCode
from schemas.milestone_details import TaskAssignedDetails, details_of
from schemas.milestones import Milestone, MilestoneKind
from schemas.notifications import NotificationEvent
from schemas.officer_actions import PostponeDeadline, ReassignTask
from schemas.tasks import Task, TaskFacts, TaskKind, TaskStatus
from schemas.values import Money, Place
from tests.partner_stack import (
    COLLEAGUE,
    DECISION,
    bearer,
    funding_convention,
    link_path,
    make_desk,
    portal_client,
)
from tests.test_milestone_details import recorded_milestones
from tests.test_partner_links import csrf_of, link_minted, open_task_page
from web.problems import problem_of
from workflows import task_rules as rules

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HISTORIES = PROJECT_ROOT / "tests" / "histories"
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ISOLATED = re.compile(
    f"{FIRST_STRONG_ISOLATE}[^{POP_DIRECTIONAL_ISOLATE}]*{POP_DIRECTIONAL_ISOLATE}"
)
BAMAKO = Place(city="Bamako", country="ML")
SIGN = TaskFacts(kind=TaskKind.SIGN, signatory_name="Fatima Zahra EL ALAOUI", capacity="DG")

FACTS: dict[TaskKind, tuple[TaskFacts, str]] = {
    TaskKind.REVIEW_DRAFT: (
        TaskFacts(kind=TaskKind.REVIEW_DRAFT, version=3),
        "Review version 3 of the text",
    ),
    TaskKind.REVISE_DRAFT: (
        TaskFacts(kind=TaskKind.REVISE_DRAFT, party="menefp", comments="Article 4 à revoir"),
        "Revise the text as menefp asked: Article 4 à revoir",
    ),
    TaskKind.SIGN: (SIGN, "Sign the convention as Fatima Zahra EL ALAOUI, DG"),
    TaskKind.HOST_MISSION: (
        TaskFacts(
            kind=TaskKind.HOST_MISSION,
            place=BAMAKO,
            starts_on=date(2027, 1, 10),
            ends_on=date(2027, 1, 14),
        ),
        "Host the mission in Bamako (ML), from January 10, 2027 to January 14, 2027",
    ),
    TaskKind.FILE_MISSION_REPORT: (
        TaskFacts(kind=TaskKind.FILE_MISSION_REPORT, place=BAMAKO),
        "File the report of the mission in Bamako (ML)",
    ),
    TaskKind.FILE_FINDINGS: (
        TaskFacts(kind=TaskKind.FILE_FINDINGS, round=2),
        "File the diagnostic's findings and recommendations (round 2)",
    ),
    TaskKind.AGREE_OUTCOMES: (
        TaskFacts(kind=TaskKind.AGREE_OUTCOMES, round=1),
        "Agree the diagnostic's outcomes",
    ),
    TaskKind.DECIDE_FUNDING: (
        TaskFacts(
            kind=TaskKind.DECIDE_FUNDING,
            amount=Money(amount=Decimal("40000000"), currency="IsDB-ID"),
            round=1,
        ),
        "Decide on the funding request of 40,000,000\u00a0IsDB-ID",
    ),
    TaskKind.PROVIDE_INFORMATION: (
        TaskFacts(kind=TaskKind.PROVIDE_INFORMATION, funder="bid", comments="budget détaillé"),
        "Answer the request of bid: budget détaillé",
    ),
    TaskKind.REVISE_FUNDING_REQUEST: (
        TaskFacts(kind=TaskKind.REVISE_FUNDING_REQUEST, funder="bid"),
        "Revise the funding request to bid (new amount, terms of reference, note)",
    ),
    TaskKind.REPORT_PROGRESS: (
        TaskFacts(kind=TaskKind.REPORT_PROGRESS, report=4),
        "Report progress of the implementation (report 4)",
    ),
    TaskKind.FIX_DELIVERY: (
        TaskFacts(
            kind=TaskKind.FIX_DELIVERY,
            event="task_assigned",
            party="mre",
            channel="email",
            reason="550 mailbox unavailable",
            about=SIGN,
        ),
        "Fix delivery: task_assigned to mre by email failed (550 mailbox unavailable) — "
        "Sign the convention as Fatima Zahra EL ALAOUI, DG",
    ),
    TaskKind.RESOLVE_ESCALATION: (
        TaskFacts(
            kind=TaskKind.RESOLVE_ESCALATION, party="mre", due_on=date(2027, 1, 5), about=SIGN
        ),
        "Late: Sign the convention as Fatima Zahra EL ALAOUI, DG (owed by mre, due "
        "January 5, 2027)",
    ),
}


def a_task(facts: TaskFacts | None, title: str = "Whatever the workflow wrote") -> Task:
    return Task(
        id="signature.sign.sg",
        convention_id="rabat-2026",
        stage="signature",
        kind=facts.kind if facts else TaskKind.SIGN,
        assignee="mre",
        title=title,
        assigned_at=NOW,
        due_at=NOW + timedelta(days=30),
        facts=facts,
    )


def outside_the_data(text: str) -> str:
    return ISOLATED.sub("", text)


def test_every_task_kind_has_facts_to_say() -> None:
    assert set(FACTS) == set(TaskKind)


@pytest.mark.parametrize("kind", list(TaskKind), ids=lambda kind: kind.value)
def test_each_task_kind_is_said_from_its_facts_in_each_language(kind: TaskKind) -> None:
    facts, english = FACTS[kind]
    # The title the workflow wrote is not read: the facts say it.
    task = a_task(facts, "stored English text nobody reads")
    assert task_title(task, "en").text == english
    for language in ("fr", "ar"):
        said = task_title(task, language)
        assert not said.as_recorded
        assert said.text != english
    arabic = task_title(task, "ar").text
    assert not LATIN_WORD.search(outside_the_data(arabic)), arabic
    french = task_title(task, "fr").text
    for phrase in (
        "Review",
        "Sign the",
        "Host the",
        "File the",
        "Decide",
        "Answer the",
        "Revise",
        "Report",
        "Late:",
        "owed by",
        "Fix delivery",
        " of the ",
    ):
        assert phrase not in french, (phrase, french)


def test_facts_missing_a_title_needs_say_the_kind_not_english() -> None:
    bare = TaskFacts(kind=TaskKind.HOST_MISSION)
    assert facts_title(bare, "en").text == "Host the mission"
    assert facts_title(bare, "fr").text == "Accueillir la mission"
    assert not LATIN_WORD.search(facts_title(bare, "ar").text)


def test_a_task_without_facts_is_read_from_its_wording_else_shown_as_recorded() -> None:
    old = a_task(None, "Sign the convention as Fatima Zahra EL ALAOUI, DG")
    assert (
        task_title(old, "fr").text == "Signer la convention en tant que Fatima Zahra EL ALAOUI, DG"
    )
    assert not task_title(old, "fr").as_recorded
    odd = a_task(None, "Signer (texte d'un ancien workflow)")
    assert task_title(odd, "ar").as_recorded and task_title(odd, "fr").as_recorded


def test_an_escalation_of_an_old_task_says_the_old_tasks_recorded_title() -> None:
    facts = TaskFacts(
        kind=TaskKind.RESOLVE_ESCALATION,
        party="mre",
        due_on=date(2027, 1, 5),
        about_title="Review version 2 of the text",
    )
    said = task_title(a_task(facts), "fr").text
    assert "Relire la version 2 du texte" in said or "version 2" in said
    assert "Review" not in said


def milestone(kind: MilestoneKind, summary: str, details: dict[str, Any]) -> Milestone:
    return Milestone(
        convention_id="rabat-2026",
        seq=1,
        kind=kind,
        occurred_at=NOW,
        summary=summary,
        details=details,
        party="office",
    )


def test_the_milestones_facts_come_from_their_details_not_their_summary() -> None:
    started = milestone(
        MilestoneKind.CONVENTION_STARTED,
        "Convention started: an English summary",
        {"kind": "framework", "title": "Convention-cadre", "titles": {"ar": "اتفاقية إطار"}},
    )
    assert "اتفاقية إطار" in milestone_text(started, "ar").text
    assert "Convention-cadre" in milestone_text(started, "fr").text
    follow_up = milestone(
        MilestoneKind.FOLLOW_UP_STARTED,
        "Follow-up convention x started: an English summary",
        {
            "convention_id": "x",
            "workflow_id": "convention-x",
            "kind": "specific",
            "started": True,
            "title": "Suite",
        },
    )
    assert milestone_text(follow_up, "fr").text.endswith("Suite")
    reached = milestone(
        MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED,
        "Reached: not this",
        {"milestone": "m1", "label": "Premier jalon"},
    )
    assert "Premier jalon" in milestone_text(reached, "fr").text
    assert "not this" not in milestone_text(reached, "fr").text
    # Written before the patch: the summary's.
    old = milestone(
        MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED, "Reached: Jalon", {"milestone": "m1"}
    )
    assert "Jalon" in milestone_text(old, "fr").text


async def test_the_current_histories_write_each_tasks_facts_and_say_them() -> None:
    milestones = [
        m
        for group in sorted((HISTORIES / "current").iterdir())
        if group.is_dir()
        for m in await recorded_milestones(group)
    ]
    assigned = [m for m in milestones if m["kind"] == MilestoneKind.TASK_ASSIGNED.value]
    assert assigned
    kinds = set()
    for row in assigned:
        details = details_of(row)
        assert isinstance(details, TaskAssignedDetails) and details.task is not None, row
        kinds.add(details.task.kind)
        said = milestone_text(Milestone.model_validate(row), "ar")
        assert not said.as_recorded, row["summary"]
        assert not LATIN_WORD.search(outside_the_data(said.text)), said.text
        # The facts say all the workflow's wording said: read back from the wording (as for
        # a task assigned before the patch), the title is the same in every language.
        recorded = Task.model_validate(
            {
                **a_task(None).model_dump(),
                "kind": details.kind,
                "title": row["summary"].split(" — ")[0],
            }
        )
        for language in ("en", "fr", "ar"):
            assert facts_title(details.task, language) == task_title(recorded, language)
    assert {TaskKind.SIGN, TaskKind.REVIEW_DRAFT, TaskKind.DECIDE_FUNDING} <= kinds
    started = [m for m in milestones if m["kind"] == MilestoneKind.CONVENTION_STARTED.value]
    assert all("title" in m["details"] for m in started)


async def test_the_histories_from_before_the_patch_still_say_their_tasks() -> None:
    group = HISTORIES / "before-typed-task-facts"
    milestones = [
        m
        for chain in sorted(group.iterdir())
        if chain.is_dir()
        for m in await recorded_milestones(chain)
    ]
    assigned = [m for m in milestones if m["kind"] == MilestoneKind.TASK_ASSIGNED.value]
    assert assigned
    for row in assigned:
        details = details_of(row)
        assert isinstance(details, TaskAssignedDetails) and details.task is None
        said = milestone_text(Milestone.model_validate(row), "fr")
        assert not said.as_recorded, row["summary"]
        assert "owed by" not in said.text


# --- refusals -------------------------------------------------------------------------------


def test_every_refusal_code_has_its_sentence() -> None:
    assert set(REFUSALS) == set(RefusalCode)


def open_task(**changes: Any) -> Task:
    return a_task(SIGN).model_copy(update=changes)


@pytest.mark.parametrize(
    ("refuse", "code"),
    [
        (lambda: rules.open_task({}, "zz"), RefusalCode.UNKNOWN_TASK),
        (
            lambda: rules.open_task(
                {"t": open_task(id="t", status=TaskStatus.DONE, answered_by="psa")}, "t"
            ),
            RefusalCode.TASK_DONE,
        ),
        (
            lambda: rules.check_postponement(
                open_task(),
                PostponeDeadline(task_id="t", new_due_at=NOW, reason="x", officer="o"),
            ),
            RefusalCode.DUE_NOT_LATER,
        ),
    ],
)
def test_the_rules_refuse_with_a_code_and_parameters(refuse: Any, code: RefusalCode) -> None:
    with pytest.raises(rules.AnswerRejected) as refused:
        refuse()
    refusal = refused.value.refusal
    assert refusal.code is code and refusal.params
    # What travels to the client: the failure's details, read back as a Reason.
    failure = ApplicationError(
        str(refused.value), refusal.model_dump(mode="json"), type="AnswerRejected"
    )
    detail = refusal_of(failure).detail
    assert isinstance(detail, Reason) and detail.code == code.value
    assert str(detail) == str(refused.value)
    for language in ("fr", "ar"):
        said = reason_text(detail, language)
        assert said != str(detail)
        if language == "ar":
            assert not LATIN_WORD.search(outside_the_data(said)), said
    assert reason_text(detail, "en") == str(refused.value)


def test_a_reassignment_to_someone_else_is_refused_with_the_contacts_listed() -> None:
    party = next(party for party in bamako().parties if len(party.contacts) == 1)
    (contact,) = party.contacts
    with pytest.raises(rules.AnswerRejected) as refused:
        rules.check_reassignment(
            open_task(), party, ReassignTask(task_id="t", contact="Moussa", reason="x")
        )
    assert refused.value.refusal.params["contacts"] == [contact.name]
    said = refusal_text(refused.value.refusal.reason(str(refused.value)), "fr")
    assert said == f"Moussa n'est pas un contact de {party.id} (contacts : {contact.name})"


def test_a_refusal_without_its_details_stays_english_text_and_the_api_gives_its_code() -> None:
    assert not isinstance(refusal_of(ApplicationError("task_id: gone")).detail, Reason)
    reason = Refusal(code=RefusalCode.TASK_CANCELLED, field="task_id", params={"task": "t"})
    body = problem_of(Refused(reason.reason("task_id: task 't' is already cancelled"))).body
    assert b'"code":"task_cancelled"' in body and b"already cancelled" in body


async def test_an_arabic_contact_sees_the_workflows_refusal_in_arabic_and_the_api_its_code(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool, [COLLEAGUE])
    await link_minted(db_pool, convention.id, COLLEAGUE["name"])
    key, _ = await desk.create_key("bid", "Jeddah grants system")
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, COLLEAGUE["name"]))
        answer = {"answer": {"decision": "reject", "comments": "decided in Jeddah"}}
        by_api = await http.post(
            f"/api/v1/tasks/{convention.id}/{DECISION}/answer", json=answer, headers=bearer(key)
        )
        assert by_api.status_code == 200
        again = await http.post(
            f"/api/v1/tasks/{convention.id}/{DECISION}/answer", json=answer, headers=bearer(key)
        )
        late = await http.post(
            f"/desk/tasks/{convention.id}/{DECISION}?lang=ar",
            data={"csrf": csrf_of(page), "decision": "reject", "comments": "نصي"},
        )
    assert late.status_code == 409
    assert "تمت الإجابة عن المهمة" in late.text
    assert "already answered" not in late.text
    assert "نصي" in late.text
    problem = again.json()
    assert again.status_code == 409, problem
    assert problem.get("code") == RefusalCode.TASK_DONE.value, problem
    assert "already answered" in problem["detail"]


def bamako() -> Convention:
    return load_convention(PROJECT_ROOT / "examples" / "bamako-cooperation.yaml")


def test_the_notification_carries_the_tasks_facts_for_the_mail() -> None:
    convention = bamako()
    task = a_task(SIGN).model_copy(update={"assignee": convention.parties[1].id})
    notification = rules.task_notification(convention, task, NotificationEvent.TASK_ASSIGNED, NOW)
    assert notification.task is not None and notification.task.facts == SIGN


def test_the_officers_form_places_a_typed_refusal_beside_its_field_in_french() -> None:
    from web.office import placed_refusal

    refusal = Refusal(
        code=RefusalCode.AGENDA_ITEMS_UNACCOUNTED, field="answer.held", params={"items": ["a2"]}
    )
    field, reason = placed_refusal(refusal.reason("answer.held: say whether ['a2'] were held"))
    assert field == "answer.held"
    assert reason_text(reason, "fr") == "indiquez si a2 ont été tenus ou annulés"
    assert reason_text(reason, "en") == "say whether ['a2'] were held"
    assert placed_refusal("a sentence: with spaces before") == (
        "",
        "a sentence: with spaces before",
    )
