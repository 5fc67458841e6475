"""The task board's rules (workflows/task_rules.py), without any server: milliseconds each.

The board applies them inside the workflow; the stage tests and the recorded histories'
replay prove the board still behaves as before. Here each rule meets its edge cases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas.actors import AuthMethod, Principal, PrincipalKind
from schemas.channels import Channel
from schemas.convention import Contact, Convention, ReminderPolicy
from schemas.notifications import Notification, NotificationEvent
from schemas.officer_actions import PostponeDeadline, ReassignTask
from schemas.tasks import AnswerTask, ReviewAnswer, SignAnswer, Task, TaskKind, TaskStatus
from schemas.values import Place
from tests.conftest import example
from workflows import task_rules as rules
from workflows.task_rules import MAX_LATE_REMINDERS, AnswerRejected

ASSIGNED = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
DRISSA = Contact(name="Drissa GUINDO", email="d.guindo@menefp.example", language="fr")
BAMAKO = Place(city="Bamako", country="ML")
AMINATA = Contact(name="Aminata TRAORÉ", email="a.traore@menefp.example", language="ar")


def bamako() -> Convention:
    """The Bamako convention, its ministry with two contacts."""
    convention = example("bamako-cooperation")
    parties = [
        party.model_copy(update={"contacts": [DRISSA, AMINATA]}) if party.id == "menefp" else party
        for party in convention.parties
    ]
    return convention.model_copy(update={"parties": parties})


def task(**changes: Any) -> Task:
    fields: dict[str, Any] = {
        "id": "signature.sign.menefp",
        "convention_id": "bamako-cooperation",
        "stage": "signature",
        "kind": TaskKind.SIGN,
        "assignee": "menefp",
        "title": "Sign the convention",
        "assigned_at": ASSIGNED,
        "due_at": ASSIGNED + timedelta(days=14),
    }
    return Task.model_validate({**fields, **changes})


def principal(kind: PrincipalKind = PrincipalKind.CONTACT, **changes: Any) -> Principal:
    fields: dict[str, Any] = {
        "kind": kind,
        "id": "Drissa GUINDO",
        "name": "Drissa GUINDO",
        "party": "menefp",
        "method": AuthMethod.LINK_AND_CODE,
    }
    return Principal.model_validate({**fields, **changes})


def signing(**changes: Any) -> AnswerTask:
    fields: dict[str, Any] = {
        "task_id": "signature.sign.menefp",
        "acting_party": "menefp",
        "principal": principal(),
        "answer": SignAnswer(decision="sign", place=BAMAKO),
    }
    return AnswerTask.model_validate({**fields, **changes})


# --- task ids ---------------------------------------------------------------------------


def test_a_stage_run_again_numbers_its_tasks_anew() -> None:
    assert rules.stage_task_id("drafting", {"drafting": 1}, "review", 2) == "drafting.review.2"
    assert rules.stage_task_id("drafting", {"drafting": 3}, "review") == "drafting-3.review"
    assert rules.stage_task_id(None, {}, "entered") == "convention.entered"


def test_an_escalation_of_a_task_late_again_gets_the_next_round() -> None:
    assert rules.escalation_task_id("t", set()) == "escalation.t"
    taken = {"escalation.t", "escalation.t.r2"}
    assert rules.escalation_task_id("t", taken) == "escalation.t.r3"


def test_a_fix_delivery_task_is_stable_per_round_and_quotes_a_short_reason() -> None:
    notification = rules.task_notification(
        bamako(), task(), NotificationEvent.TASK_ASSIGNED, ASSIGNED
    )
    fix_id = rules.fix_delivery_task_id(notification, Channel.EMAIL, 2)
    assert fix_id == "delivery.fix.signature.sign.menefp.task.assigned.email.r2"
    title = rules.fix_delivery_task_title(notification, Channel.EMAIL, "x" * 500)
    assert f"({'x' * rules.FIX_TITLE_REASON_CHARS}…)" in title
    assert title.endswith("— Sign the convention")


# --- answers and officers' actions --------------------------------------------------------


def test_an_unknown_or_closed_task_is_refused_naming_the_open_ones() -> None:
    tasks = {"a": task(id="a"), "b": task(id="b", status=TaskStatus.DONE, answered_by="psa")}
    with pytest.raises(AnswerRejected, match=r"task_id: unknown task 'zz' \(open tasks: a\)"):
        rules.open_task(tasks, "zz")
    with pytest.raises(AnswerRejected, match=r"already done \(answered by psa\)"):
        rules.open_task(tasks, "b")
    assert rules.open_task(tasks, "a").id == "a"


@pytest.mark.parametrize(
    ("request_changes", "reason"),
    [
        ({"acting_party": "bid", "principal": None}, "acting_party: 'bid' does not owe"),
        (
            {"principal": principal(party="bid"), "acting_party": "menefp"},
            "principal.party: 'bid' is not the acting party",
        ),
        (
            {"answer": ReviewAnswer(decision="approve", version=1)},
            "answer.kind: task 'signature.sign.menefp' expects a 'sign' answer",
        ),
    ],
)
def test_an_answer_that_does_not_fit_its_task_is_refused_naming_the_field(
    request_changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AnswerRejected, match=reason):
        rules.check_answer(task(), signing(**request_changes), None)


def test_a_task_reassigned_to_one_contact_is_hers_alone_but_an_officer_may_enter_it() -> None:
    reassigned = task(contact="Aminata TRAORÉ")
    with pytest.raises(AnswerRejected, match="reassigned to Aminata TRAORÉ; Drissa GUINDO may"):
        rules.check_answer(reassigned, signing(), None)
    rules.check_answer(
        reassigned, signing(principal=principal(id="Aminata TRAORÉ", name="Aminata TRAORÉ")), None
    )
    officer = principal(PrincipalKind.OFFICER, party="ofppt", method=AuthMethod.OFFICER_ON_BEHALF)
    rules.check_answer(reassigned, signing(principal=officer), None)


def test_a_stages_own_rule_speaks_as_a_refusal() -> None:
    def only_in_bamako(_: Task, answer: Any) -> None:
        if answer.place.city != "Bamako":
            raise ValueError("answer.place: the convention is signed in Bamako")

    with pytest.raises(AnswerRejected, match=r"answer.place: the convention is signed in Bamako"):
        rules.check_answer(
            task(),
            signing(answer=SignAnswer(decision="sign", place=Place(city="Rabat", country="MA"))),
            only_in_bamako,
        )


def test_a_postponement_must_be_later_and_zoned() -> None:
    due = task().due_at
    with pytest.raises(AnswerRejected, match=r"new_due_at: .* is not later"):
        rules.check_postponement(task(), PostponeDeadline(task_id="t", new_due_at=due, reason="r"))
    naive = PostponeDeadline.model_construct(
        task_id="t", new_due_at=datetime(2028, 1, 1), reason="r"
    )
    with pytest.raises(AnswerRejected, match="new_due_at: give a time zone"):
        rules.check_postponement(task(), naive)
    later = PostponeDeadline(task_id="t", new_due_at=due + timedelta(days=1), reason="r")
    rules.check_postponement(task(), later)


def test_a_reassignment_goes_to_another_declared_contact() -> None:
    ministry = bamako().party("menefp")
    with pytest.raises(AnswerRejected, match="'Moussa' is not a contact of menefp"):
        rules.check_reassignment(
            task(), ministry, ReassignTask(task_id="t", contact="Moussa", reason="r")
        )
    with pytest.raises(AnswerRejected, match="already with Drissa GUINDO"):
        rules.check_reassignment(
            task(contact="Drissa GUINDO"),
            ministry,
            ReassignTask(task_id="t", contact="Drissa GUINDO", reason="r"),
        )
    rules.check_reassignment(
        task(), ministry, ReassignTask(task_id="t", contact="Aminata TRAORÉ", reason="r")
    )


def directory_person(**check: Any) -> dict[str, Any]:
    """A reassignment's directory person (reassign-directory), as the desk builds it."""
    said = {"organisation": "menefp", "person": "p-moussa", "capacity": "sign", "version": 3}
    return {"name": "Moussa KEITA", "check": {**said, **check}}


def test_a_reassignment_to_a_directory_person_need_not_be_in_the_file_but_fits_the_task() -> None:
    ministry = bamako().party("menefp")

    def reassign(person: dict[str, Any], contact: str = "Moussa KEITA") -> ReassignTask:
        return ReassignTask.model_validate(
            {"task_id": "t", "contact": contact, "reason": "r", "person": person}
        )

    rules.check_reassignment(task(), ministry, reassign(directory_person()))
    for wrong in (
        reassign(directory_person(organisation="bid")),
        reassign(directory_person(capacity="answer")),
        reassign(directory_person(person=None)),
        reassign(directory_person(), contact="Someone Else"),
    ):
        with pytest.raises(AnswerRejected, match="is not a person of menefp who may act"):
            rules.check_reassignment(task(), ministry, wrong)
    given = task(contact="Moussa KEITA", contact_person="p-moussa")
    with pytest.raises(AnswerRejected, match="already with Moussa KEITA"):
        rules.check_reassignment(given, ministry, reassign(directory_person()))
    # A namesake of the directory's person (another id) may be given it.
    rules.check_reassignment(given, ministry, reassign(directory_person(person="p-other")))
    details = rules.reassignment_details(reassign(directory_person()), task())
    assert details == {
        "from": None,
        "to": "Moussa KEITA",
        "reason": "r",
        "person": "p-moussa",
        "capacity": "sign",
        "directory_version": 3,
    }
    # Given to that person: their namesake's link does not answer it.
    namesake = principal(
        id="Moussa KEITA",
        name="Moussa KEITA",
        directory={"organisation": "menefp", "person": "p-other", "capacity": "sign", "version": 3},
    )
    with pytest.raises(AnswerRejected, match="was reassigned to Moussa KEITA"):
        rules.check_principal(given, namesake, "menefp")
    rules.check_principal(given, principal(id="Moussa KEITA", name="Moussa KEITA"), "menefp")
    # The payload of a file's contact is what it was before (no `person` key).
    assert "person" not in ReassignTask(task_id="t", contact="x", reason="r").model_dump()
    assert "contact_person" not in task().model_dump()


def test_the_record_says_who_proved_the_answer_or_which_officer_entered_it() -> None:
    assert rules.answered_by(signing()) == (
        "answered by Drissa GUINDO for menefp, e-mailed link confirmed by code"
    )
    assert rules.recorded_actor(signing()) == "Drissa GUINDO"
    officer = principal(
        PrincipalKind.OFFICER, id="nadia", name="Nadia Benali", method=AuthMethod.OFFICER_ON_BEHALF
    )
    entered = signing(principal=officer, actor="Drissa GUINDO")
    assert rules.answered_by(entered) == (
        "entered by officer Nadia Benali on behalf of menefp (for Drissa GUINDO)"
    )
    assert rules.recorded_actor(entered) == "Drissa GUINDO"
    unproven = signing(principal=None, actor="someone")
    assert rules.answered_by(unproven) == "answered by menefp"
    assert rules.answer_details(unproven) == {"answer": unproven.answer.model_dump(mode="json")}
    assert rules.answer_details(signing())["principal"]["method"] == "link_and_code"


# --- follow-ups ---------------------------------------------------------------------------


def test_a_task_is_reminded_before_its_due_date_escalated_at_it_then_reminded_late() -> None:
    policy = ReminderPolicy(before_due_days=3, late_every_days=7)
    open_task = task()
    assert rules.next_follow_up(open_task, policy) == (
        open_task.due_at - timedelta(days=3),
        "remind_before_due",
    )
    reminded = open_task.model_copy(update={"reminded_before_due": True})
    assert rules.next_follow_up(reminded, policy) == (open_task.due_at, "escalate")
    late = reminded.model_copy(update={"escalated": True, "late_reminders": 2})
    assert rules.next_follow_up(late, policy) == (
        open_task.due_at + timedelta(days=21),
        "remind_late",
    )
    done = late.model_copy(update={"late_reminders": MAX_LATE_REMINDERS})
    assert rules.next_follow_up(done, policy) is None


def test_no_reminder_before_a_due_date_too_close_to_the_assignment() -> None:
    close = task(due_at=ASSIGNED + timedelta(days=2))
    policy = ReminderPolicy(before_due_days=3, late_every_days=7)
    assert rules.next_follow_up(close, policy) == (close.due_at, "escalate")


def test_a_task_found_late_folds_the_late_reminders_already_past() -> None:
    policy = ReminderPolicy(before_due_days=3, late_every_days=7)
    due = task().due_at
    assert rules.late_reminders_passed(due, due, policy) == 0
    assert rules.late_reminders_passed(due + timedelta(days=22), due, policy) == 3


# --- who is told, in which words ------------------------------------------------------------


def test_a_task_is_told_to_its_partys_contacts_or_only_to_the_one_it_was_reassigned_to() -> None:
    convention = bamako()
    told = rules.task_notification(convention, task(), NotificationEvent.TASK_ASSIGNED, ASSIGNED)
    assert [c.name for c in told.recipients] == ["Drissa GUINDO", "Aminata TRAORÉ"]
    assert told.id == f"{convention.id}/signature.sign.menefp/task.assigned"
    assert told.language == "fr"  # the party has none: its first contact's
    reassigned = rules.task_notification(
        convention,
        task(contact="Aminata TRAORÉ"),
        NotificationEvent.TASK_ASSIGNED,
        ASSIGNED,
        occurrence="reassigned-1",
    )
    assert [c.name for c in reassigned.recipients] == ["Aminata TRAORÉ"]
    assert reassigned.id.endswith("/task.assigned/reassigned-1")
    assert reassigned.language == "ar"


def test_the_officers_own_tasks_go_to_the_officer() -> None:
    convention = bamako()
    fix = task(id="delivery.fix.x", kind=TaskKind.FIX_DELIVERY, assignee="ofppt")
    told = rules.task_notification(convention, fix, NotificationEvent.TASK_ASSIGNED, ASSIGNED)
    assert told.party == "ofppt" and told.id.endswith("/officer")
    assert [c.email for c in told.recipients] == [convention.officer.email]


def test_a_stage_is_announced_to_every_partner_once_per_stage_run() -> None:
    convention = bamako()
    partners = rules.partners(convention)
    assert [party.id for party in partners] == ["menefp", "bid"]
    announced: list[Notification] = [
        rules.stage_announcement(convention, party, "signature", "signature-2.entered", ASSIGNED)
        for party in partners
    ]
    assert [n.id for n in announced] == [
        f"{convention.id}/signature-2.entered/convention.stage_changed/menefp",
        f"{convention.id}/signature-2.entered/convention.stage_changed/bid",
    ]
    assert announced[1].recipients == []  # a party with no contact: its webhook, if any
