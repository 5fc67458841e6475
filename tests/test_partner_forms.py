"""One form per task kind: a reviewer asks for changes to a draft, an implementer reports
progress — through the pages, validated as the CLI validates, in the contact's language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from application.conventions import convention_status, find_task, start_convention
from application.partner import TaskView
from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.convention import Convention
from schemas.status import ConventionState, ConventionStatus
from schemas.tasks import Task, TaskKind
from tests.conftest import DEV_TASK_QUEUE, example
from tests.partner_stack import link_path, make_desk, portal_client, registered
from tests.test_delivery_webhook import stop
from tests.test_partner_links import csrf_of, link_minted, open_task_page
from web.forms import form_for, parse_form

REVIEW = "drafting.review.v1.psa"
REPORT = "implementation.report.1"
REVIEWER = "Rémi Cabon"
IMPLEMENTER = "Cellule Cycle Maalam"


def review_by_psa_alone() -> Convention:
    """Tanger's PSA framework reduced to its drafting, PSA the one reviewer, in English."""
    data = example("tanger-four-conventions").model_dump(mode="json")
    data["stages"] = [
        dict(s, reviewers=["psa"]) for s in data["stages"] if s["stage"] == "drafting"
    ]
    for party in data["parties"]:
        if party["id"] == "psa":
            party["contacts"] = [
                {"name": REVIEWER, "email": "r.cabon@psa.example", "language": "en"}
            ]
    return Convention.model_validate(data)


def progress_by_the_office() -> Convention:
    """Cycle Maalam's implementation, its reports filed by an office contact who reads French."""
    data = example("cycle-maalam").model_dump(mode="json")
    for party in data["parties"]:
        if party["id"] == "ofppt":
            party["contacts"] = [{"name": IMPLEMENTER, "email": "maalam@ofppt.example"}]
    return Convention.model_validate(data)


async def test_a_reviewer_sees_the_draft_and_asking_for_changes_needs_comments(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await registered(db_pool, review_by_psa_alone())
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    await find_task(dev_env.client, convention.id, REVIEW, wait_seconds=30)
    await link_minted(db_pool, convention.id, REVIEWER)
    action = f"/desk/tasks/{convention.id}/{REVIEW}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, REVIEWER, REVIEW))
        assert '<html lang="en" dir="ltr">' in page.text
        assert "projet-v1.pdf" in page.text and "Version 1" in page.text
        # The task's title said in the reader's language, on the task page and in the list.
        for lang, title, asks in (
            ("ar", "مراجعة النسخة 1 من النص", "اقرؤوا هذه النسخة من النص"),
            ("fr", "Examiner la version 1", "Lisez cette version du texte"),
        ):
            translated = await http.get(action, params={"lang": lang})
            listed = await http.get("/desk", params={"lang": lang})
            for shown in (translated, listed):
                assert shown.status_code == 200 and title in shown.text, lang
                assert "Review version" not in shown.text, lang
            assert asks in translated.text  # what the task asks, by its kind
        bare = await http.post(action, data={"csrf": csrf_of(page), "decision": "request_changes"})
        assert bare.status_code == 422
        comments = bare.text.split('id="field-comments"')[1].split("</fieldset>")[0]
        assert "required when asking for changes" in comments
        done = await http.post(
            action,
            data={
                "csrf": csrf_of(page),
                "decision": "request_changes",
                "comments": "Article 4 : préciser <les> engagements de PSA",
            },
        )
    assert done.status_code == 200 and 'id="receipt"' in done.text
    # The office is asked to revise: the answer went through and the stage moved on.
    await find_task(dev_env.client, convention.id, "drafting.revise.v2", wait_seconds=10)
    receipt = await desk.receipt(convention.id, REVIEW)
    assert receipt is not None and receipt.principal.method.value == "link"
    assert receipt.answer["version"] == 1
    await stop(dev_env.client, convention.id)


async def test_an_implementer_reports_milestones_indicators_spend_and_a_cohort(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await registered(db_pool, progress_by_the_office())
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    await find_task(dev_env.client, convention.id, REPORT, wait_seconds=30)
    await link_minted(db_pool, convention.id, IMPLEMENTER)
    action = f"/desk/tasks/{convention.id}/{REPORT}"
    async with portal_client(desk) as http:
        page = await open_task_page(http, link_path(convention.id, IMPLEMENTER, REPORT))
        # Labels from the convention file, exactly as written; the form's own words in French.
        assert "1re promotion (lancée en mars 2021) formée et certifiée" in page.text
        assert "Jalons prévus atteints" in page.text
        form = {
            "csrf": csrf_of(page),
            "reached": "cohort-1",
            "actuals.trainees": "420",
            "actuals.pass-rate": "86,5",
            "spent.amount": "1 250 000",
            "spent.currency": "MAD",
            "cohorts.0.id": "promo-2021-1",
            "cohorts.0.event": "started",
            "cohorts.0.trainees": "420",
            "cohorts.0.graduates": "500",
        }
        too_many = await http.post(action, data=form)
        assert too_many.status_code == 422
        cohorts = too_many.text.split('id="field-cohorts"')[1].split("</fieldset>")[0]
        assert "a cohort that just started has no graduates yet" in cohorts
        assert 'value="promo-2021-1"' in too_many.text  # what was typed is kept
        done = await http.post(action, data={**form, "cohorts.0.graduates": ""})
    assert done.status_code == 200, done.text
    await find_task(dev_env.client, convention.id, "implementation.report.2", wait_seconds=10)
    status = await convention_status(dev_env.client, convention.id)
    assert status.indicators.get("trainees") == 420
    assert status.indicators.get("pass-rate") == 86.5
    receipt = await desk.receipt(convention.id, REPORT)
    assert receipt is not None
    assert receipt.answer["spent"] == {"amount": "1250000", "currency": "MAD"}
    assert receipt.answer["cohorts"][0] == {
        "id": "promo-2021-1",
        "event": "started",
        "trainees": 420,
        "graduates": None,
        "cities": None,
    }
    await stop(dev_env.client, convention.id)


def _view(convention: Convention, kind: TaskKind, stage: str, party: str) -> TaskView:
    now = datetime.now(UTC)
    task = Task(
        id=f"{stage}.task",
        convention_id=convention.id,
        stage=stage,
        kind=kind,
        assignee=party,
        title="Tâche",
        assigned_at=now,
        due_at=now + timedelta(days=30),
    )
    status = ConventionStatus(
        convention_id=convention.id,
        title=convention.title,
        kind=convention.kind.value,
        parent=None,
        state=ConventionState.ACTIVE,
        current_stage=stage,
        stages=[s.stage for s in convention.stages],
        open_tasks=[task],
    )
    return TaskView(task, convention, status)


# What a person would type in each kind's form (input names as the page names them).
FILLED: dict[TaskKind, tuple[str, str, dict[str, list[str]]]] = {
    TaskKind.HOST_MISSION: (
        "mission",
        "menefp",
        {
            "agenda.meetings-central-services": ["held"],
            "agenda.work-sessions-dnfp": ["held"],
            "agenda.visit-senou": ["cancelled"],
            "comments": ["Visite de Senou reportée"],
        },
    ),
    TaskKind.FILE_MISSION_REPORT: (
        "mission",
        "ofppt",
        {"report.uri": ["archive:rapport.pdf"], "summary": ["Mission tenue"]},
    ),
    TaskKind.FILE_FINDINGS: (
        "diagnostic",
        "ofppt",
        {
            "findings": ["Constat un\nConstat deux\n"],
            "recommendations": ["Reco"],
            "restitution.held_on": ["2023-10-06"],
            "restitution.place.city": ["Bamako"],
            "restitution.place.country": ["ML"],
            "restitution.attendees": ["Drissa GUINDO\nDélégation OFPPT"],
        },
    ),
    TaskKind.AGREE_OUTCOMES: (
        "diagnostic",
        "menefp",
        {"decision": ["agree"], "outcomes": ["Convention-cadre MENEFP – OFPPT – AMCI"]},
    ),
    TaskKind.DECIDE_FUNDING: (
        "funding_request",
        "bid",
        {"decision": ["more_information"], "comments": ["Budget détaillé ?"]},
    ),
    TaskKind.PROVIDE_INFORMATION: (
        "funding_request",
        "ofppt",
        {"comments": ["Voici le budget"], "document.uri": ["archive:budget.xlsx"]},
    ),
    TaskKind.FIX_DELIVERY: ("mission", "ofppt", {"decision": ["retry"]}),
    TaskKind.RESOLVE_ESCALATION: ("mission", "ofppt", {"comments": ["Relancé par téléphone"]}),
}


@pytest.mark.parametrize("kind", list(FILLED), ids=lambda kind: kind.value)
def test_every_forms_inputs_make_an_answer_the_clis_validation_accepts(
    kind: TaskKind, db_pool: asyncpg.Pool
) -> None:
    convention = example("bamako-cooperation")
    stage, party, form = FILLED[kind]
    view = _view(convention, kind, stage, party)
    names = {f.name for f in form_for(view)}
    assert {name.split(".")[0] for name in form} <= {n.split(".")[0] for n in names}
    body = parse_form(view, form)
    assert view.task is not None
    principal = Principal(
        kind=PrincipalKind.CONTACT, id="X", name="X", party=party, method=AuthMethod.LINK
    )
    desk = make_desk(None, db_pool)  # type: ignore[arg-type]  # building needs no Temporal
    request = desk.build(view.task, principal, body, source="form")
    assert request.answer.kind == kind.value
    if kind is TaskKind.HOST_MISSION:
        assert request.answer.model_dump()["cancelled"] == ["visit-senou"]
    if kind is TaskKind.FILE_FINDINGS:
        assert request.answer.model_dump()["findings"] == ["Constat un", "Constat deux"]
