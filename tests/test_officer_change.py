"""The convention's responsible officer is an assignment the desk can change, recorded as
such (issue 23, item 5): the workflow's `change_officer` update and its typed refusals, the
escalation that then goes to the new officer, the officer_changed milestone in three
languages, the desk's page (403 for an officer who is not responsible, each bad input named
with what was typed kept), the command line, the keepers' rule reading the current officer,
and the recorded history whose next run carries the new officer."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from application.conventions import change_officer, start_convention, terminate_convention
from application.errors import Refused
from infra.settings import PROJECT_ROOT
from rendering.record import milestone_text
from rendering.refusals import refusal_text
from schemas.convention import Officer
from schemas.errors import Reason, RefusalCode
from schemas.milestone_details import OfficerChangedDetails, details_as
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import ChangeOfficer, TerminateConvention
from storage import directory_desk
from storage.read_model import projection, record_convention_file
from tests.cli_runner import cli_env, run_cli
from tests.conftest import DEV_TASK_QUEUE
from tests.partner_stack import FUNDER, make_desk, registered
from tests.stage_desk import Desk, convention_of
from tests.test_delivery_webhook import funding_request_to
from tests.test_office_desk import csrf_of, new_account, office_client, signed_in
from worker import build_worker
from workflows.task_rules import AnswerRejected, check_officer_change

FUNDING = {
    "stage": "funding_request",
    "funder": "bid",
    "terms_of_reference": {"uri": "archive:tdr-4-centres.pdf"},
    "requested": {"amount": "40000000", "currency": "IsDB-ID"},
    "due_in_days": 90,
}
DECISION = "funding_request.decision.r1"
KARIM = {"name": "Karim Alaoui", "email": "k.alaoui@ofppt.example", "language": "ar"}


def _refusal(error: BaseException) -> tuple[str, str]:
    reason = getattr(error, "detail", None) or getattr(error, "refusal", None)
    if isinstance(reason, str):
        return str(getattr(reason, "code", "")), str(getattr(reason, "field", ""))
    assert reason is not None, error
    return str(reason.code), reason.field


# --- the rule, without a server ------------------------------------------------------------


def test_the_new_officer_needs_an_address_and_must_be_someone_else() -> None:
    with_address = Officer(name="Nadia Benali", email="n.benali@ofppt.example")
    without = Officer(name="Nadia Benali")
    cases = [
        (with_address, {"name": "Karim Alaoui"}, RefusalCode.OFFICER_WITHOUT_EMAIL, "email"),
        (with_address, {"name": "N. B.", "email": "N.Benali@OFPPT.example"}, "same", "email"),
        (without, {"name": "  nadia   BENALI ", "email": "nb@ofppt.example"}, "same", "name"),
    ]
    for current, given, code, field in cases:
        with pytest.raises(AnswerRejected) as refused:
            check_officer_change(current, ChangeOfficer.model_validate(given))
        expected = RefusalCode.SAME_OFFICER if code == "same" else code
        assert (refused.value.refusal.code, refused.value.refusal.field) == (expected, field)
    check_officer_change(with_address, ChangeOfficer.model_validate(KARIM))  # no refusal


def _officer_changed(reason: str = "Nouvelle affectation", seq: int = 7) -> Milestone:
    return Milestone(
        convention_id="rabat-2026",
        seq=seq,
        kind=MilestoneKind.OFFICER_CHANGED,
        party="ofppt",
        actor="Nadia Benali <n.benali@ofppt.example>",
        occurred_at=datetime(2026, 12, 7, 9, tzinfo=UTC),
        summary="Responsible officer changed from Nadia Benali to Karim Alaoui by Nadia Benali",
        details={
            "changed_by": "Nadia Benali <n.benali@ofppt.example>",
            "from": {"name": "Nadia Benali", "email": "n.benali@ofppt.example"},
            "to": {"name": "Karim Alaoui", "email": "k.alaoui@ofppt.example"},
            "reason": reason,
        },
    )


def test_the_milestone_reads_as_its_details_and_moves_the_read_models_officer() -> None:
    milestone = _officer_changed()
    details = details_as(milestone, OfficerChangedDetails)
    assert details is not None and details.from_.name == "Nadia Benali"
    assert details.to.email == "k.alaoui@ofppt.example"
    assert projection(milestone).convention.officer == ("Karim Alaoui", "k.alaoui@ofppt.example")


def test_the_milestone_and_the_refusals_are_said_in_three_languages() -> None:
    milestone = _officer_changed()
    said = {lang: milestone_text(milestone, lang).text for lang in ("fr", "ar", "en")}
    assert said["en"].startswith("Responsible officer changed from")
    assert said["fr"].startswith("Agent responsable remplacé")
    assert said["ar"].startswith("تغيّر الموظف المسؤول")
    for text in said.values():
        assert "Karim Alaoui" in text and "Nouvelle affectation" in text
    assert "Nouvelle" not in milestone_text(_officer_changed("", seq=8), "fr").text
    reason = Reason(
        "email: Karim Alaoui is already the responsible officer",
        RefusalCode.SAME_OFFICER.value,
        {"name": "Karim Alaoui"},
        "email",
    )
    assert "est déjà l'agent responsable" in refusal_text(reason, "fr")
    assert "هو الموظف المسؤول بالفعل" in refusal_text(reason, "ar")


def test_the_recorded_run_continued_as_new_carries_the_new_officer() -> None:
    """tests/histories/current/officer-changed: its officer changed in run 1, which then
    continued as new; run 2 starts with the new officer in its input."""
    directory = PROJECT_ROOT / "tests" / "histories" / "current" / "officer-changed"
    inputs = []
    for run in sorted(directory.glob("run-*.json")):
        started = json.loads(run.read_text(encoding="utf-8"))["events"][0]
        payload = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
        inputs.append(json.loads(base64.b64decode(payload["data"])))
    assert len(inputs) == 2
    assert inputs[0].get("officer") is None
    assert inputs[1]["officer"] == KARIM
    assert inputs[1]["convention"]["officer"]["name"] == "Chargé de partenariats OFPPT"


# --- the workflow, on the time-skipping server -----------------------------------------------


@pytest_asyncio.fixture
async def desk(time_env: WorkflowEnvironment, db_pool: asyncpg.Pool) -> AsyncIterator[Desk]:
    task_queue = f"officer-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, db_pool, task_queue):
        officer_desk = Desk(time_env, db_pool, task_queue)
        yield officer_desk
        await officer_desk.close()


async def test_the_update_is_refused_typed_then_applied_and_escalations_go_to_the_new_officer(
    desk: Desk,
) -> None:
    await desk.start(convention_of(FUNDING))  # its officer: Nadia Benali, no address
    await desk.task(DECISION)
    client, convention_id = desk.env.client, desk.convention_id

    refusals = []
    for given in (
        {"name": "Karim Alaoui"},  # no address
        {"name": "nadia benali", "email": "nb@ofppt.example"},  # the same person
    ):
        with pytest.raises(Refused) as refused:
            await change_officer(client, convention_id, ChangeOfficer.model_validate(given))
        refusals.append(_refusal(refused.value))
    assert refusals == [("officer_without_email", "email"), ("same_officer", "name")]
    assert await desk.milestones(MilestoneKind.OFFICER_CHANGED) == []  # nothing half-applied

    request = ChangeOfficer.model_validate({**KARIM, "officer": "Nadia Benali", "reason": "Mutée"})
    # The same change sent twice at once: one applies, the other is refused (by the validator,
    # or by the handler's own check when both were accepted in the same moment).
    both = await asyncio.gather(
        change_officer(client, convention_id, request),
        change_officer(client, convention_id, request),
        return_exceptions=True,
    )
    assert sorted(type(outcome).__name__ for outcome in both) == ["OfficerReceipt", "Refused"]
    status = await desk.status()
    assert status.officer == Officer.model_validate(KARIM)
    (changed,) = await desk.milestones(MilestoneKind.OFFICER_CHANGED)
    details = details_as(changed, OfficerChangedDetails)
    assert details is not None
    assert (details.changed_by, details.from_.name, details.to.email, details.reason) == (
        "Nadia Benali",
        "Nadia Benali",
        KARIM["email"],
        "Mutée",
    )
    assert changed.actor == "Nadia Benali"
    with pytest.raises(Refused) as again:
        await change_officer(
            client, convention_id, request.model_copy(update={"email": "K.Alaoui@OFPPT.example"})
        )
    assert _refusal(again.value) == ("same_officer", "email")

    await desk.pass_days(91)  # late: the escalation goes to the officer now responsible
    await desk.task(f"escalation.{DECISION}")
    recipients = await desk.pool.fetchval(
        "SELECT recipients FROM notifications WHERE id = $1",
        f"{convention_id}/escalation.{DECISION}/task.escalated/officer",
    )
    recipients = json.loads(recipients) if isinstance(recipients, str) else recipients
    assert [r["email"] for r in recipients] == [KARIM["email"]]

    await terminate_convention(client, convention_id, TerminateConvention(reason="fin"))
    await desk.outcome()
    with pytest.raises(Refused):  # ended: nothing changes any more
        await change_officer(
            client, convention_id, ChangeOfficer(name="Awa Diallo", email="awa@ofppt.example")
        )


# --- the desk and the command line, on the dev server ----------------------------------------


async def test_the_desk_changes_the_officer_for_the_responsible_officer_only_and_keepers_follow(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str
) -> None:
    client = dev_env.client
    partner = make_desk(client, db_pool)
    async with office_client(partner) as responsible, office_client(partner) as other:
        email = await signed_in(responsible, db_pool, "officer")
        other_email = await signed_in(other, db_pool, "officer")
        successor = await new_account(db_pool, "officer", name="Youssef Amrani")
        convention = funding_request_to(None, [FUNDER]).model_copy(
            update={
                "id": f"officer-{uuid.uuid4().hex[:8]}",
                "officer": Officer(name="Awa Diallo", email=email),
            }
        )
        await registered(db_pool, convention)
        await start_convention(client, convention, DEV_TASK_QUEUE)
        await record_convention_file(db_pool, convention)  # as the desk's start records it
        path = f"/office/conventions/{convention.id}/officer"
        assert await directory_desk.keeps(db_pool, "bid", email)
        assert not await directory_desk.keeps(db_pool, "bid", successor)

        # An officer who is not responsible: refused, reading and sending.
        assert (await other.get(path)).status_code == 403
        readable = await other.get(f"/office/conventions/{convention.id}")
        assert f"mailto:{email}" in readable.text  # the responsible officer, named
        assert f'action="{path}"' not in readable.text  # no form for this reader
        own = await responsible.get(f"/office/conventions/{convention.id}")
        assert f'action="{path}"' in own.text and f"{successor}</option>" in own.text
        sent = await other.post(path, data={"csrf": csrf_of(readable), "account": other_email})
        assert sent.status_code == 403, sent.text

        page = await responsible.get(path, params={"lang": "fr"})
        assert page.status_code == 200, page.text
        assert "Changer d&#39;agent responsable" in page.text or "Changer d'agent" in page.text
        token = csrf_of(page)

        async def post(**fields: str) -> tuple[int, str]:
            answer = await responsible.post(
                path, params={"lang": "fr"}, data={"csrf": token, **fields}
            )
            return answer.status_code, answer.text

        code, text = await post(name="Youssef Amrani")  # no address
        assert code == 422 and "adresse électronique du nouvel agent" in text
        assert 'value="Youssef Amrani"' in text  # what was typed is kept
        code, text = await post(name="Youssef Amrani", email="pas-une-adresse")
        assert code == 422 and 'id="error-email"' in text and 'value="pas-une-adresse"' in text
        code, text = await post(account="nobody@ofppt.example", reason="relève")
        assert code == 422 and "aucun compte d&#39;agent actif" in text and "relève" in text
        code, text = await post(name="Awa Diallo", email=email.upper())  # the same officer
        assert code == 409 and "est déjà l&#39;agent responsable" in text
        assert (
            await db_pool.fetchval(
                "SELECT count(*) FROM milestones WHERE convention_id = $1"
                " AND kind = 'officer_changed'",
                convention.id,
            )
            == 0
        )

        code, text = await post(account=successor, reason="Mutation")
        assert code == 200, text
        assert "L&#39;agent responsable a été changé." in text
        assert "Youssef Amrani" in text  # the page read its own write
        assert (await responsible.get(path)).status_code == 403  # no longer responsible

    actor = await db_pool.fetchval(
        "SELECT actor FROM milestones WHERE convention_id = $1 AND kind = 'officer_changed'",
        convention.id,
    )
    assert actor == f"Awa Diallo <{email}>"
    # The keepers' rule reads the officer now responsible.
    assert await directory_desk.keeps(db_pool, "bid", successor)
    assert not await directory_desk.keeps(db_pool, "bid", email)
    # The file's trigger (a file written again) no longer puts the file's officer back.
    await db_pool.execute(
        "UPDATE convention_files SET document = document WHERE convention_id = $1", convention.id
    )
    assert (
        await db_pool.fetchval(
            "SELECT officer_email FROM convention_search WHERE convention_id = $1", convention.id
        )
        == successor.lower()
    )
    assert (
        await db_pool.fetchval(
            "SELECT outcome FROM office_access_log WHERE email = $1 AND action = 'change_officer'"
            " AND target = $2 ORDER BY at DESC LIMIT 1",
            email,
            convention.id,
        )
        == "ok"
    )

    # An admin, who reads no convention page, finds the form from the organisation's page.
    async with office_client(partner) as admin:
        await signed_in(admin, db_pool, "admin")
        organisation = await admin.get("/office/directory/bid")
        assert f'href="{path}"' in organisation.text, organisation.text[-2000:]
        form = await admin.get(path)
        assert form.status_code == 200 and "Youssef Amrani" in form.text
        changed = await admin.post(
            path,
            data={"csrf": csrf_of(form), "name": "Leila Haddad", "email": "l.haddad@ofppt.example"},
        )
        assert changed.status_code == 200, changed.text
        shown = changed.text.split('id="responsible-officer"')[1][:300]
        assert "Leila Haddad" in shown and "l.haddad@ofppt.example" in shown

    # The command line: the same update, in --officer's name; the same refusal, exit 1.
    env = cli_env(dev_env, postgres_url)
    args = ("change-officer", convention.id, "--name", "Karim Alaoui", "--email", KARIM["email"])
    done = await run_cli(*args, "--officer", "Leila Haddad", env=env)
    assert done.code == 0, done
    assert "Karim Alaoui <k.alaoui@ofppt.example>" in done.stdout
    again = await run_cli(*args, env=env)
    assert again.code == 1 and "already the responsible officer" in again.stderr, again
    assert await directory_desk.keeps(db_pool, "bid", KARIM["email"])
    assert not await directory_desk.keeps(db_pool, "bid", successor)
    await terminate_convention(client, convention.id, TerminateConvention(reason="test over"))
