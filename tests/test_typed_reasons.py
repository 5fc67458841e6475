"""The reasons the workflows give are facts (issue 24, item 1; patch `typed-reasons`): a task
cancelled, a stage failed, the convention ended carry a code and its values, said in French,
Arabic and English from the catalogues; the records written before (no code) are still read
back from their English wording; every refusal code, a stage's rule included, has its
sentence; an Arabic office page says a cancelled task's reason with no Latin word outside
the data."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from application.conventions import refusal_of, terminate_convention, why_not_open
from application.rendering import render_status
from devkit.polling import eventually
from infra.settings import PROJECT_ROOT
from rendering.catalogue_check import load
from rendering.catalogues import LANGUAGES
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE
from rendering.record import NO_NAMES, REASONS, PartyNames, milestone_text, reason_said
from rendering.refusals import REFUSALS
from rendering.validation import reason_text
from schemas.errors import RefusalCode
from schemas.milestone_details import (
    ConventionFailedDetails,
    StageFailedDetails,
    TaskCancelledDetails,
    details_of,
)
from schemas.milestones import Milestone, MilestoneKind
from schemas.officer_actions import TerminateConvention
from schemas.reasons import ReasonCode, ReasonFacts
from schemas.status import ConventionState, ConventionStatus, TaskLookup
from schemas.tasks import Task, TaskKind, TaskStatus
from tests.partner_stack import (
    DECISION,
    FUNDER,
    funding_convention,
    link_path,
    make_desk,
    portal_client,
)
from tests.test_milestone_details import recorded_milestones
from tests.test_office_desk import office_client, signed_in
from tests.test_partner_links import link_minted
from workflows import task_rules as rules

HISTORIES = PROJECT_ROOT / "tests" / "histories"
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ISOLATED = re.compile(
    f"{FIRST_STRONG_ISOLATE}[^{POP_DIRECTIONAL_ISOLATE}]*{POP_DIRECTIONAL_ISOLATE}"
)
REASONED = {
    MilestoneKind.TASK_CANCELLED.value,
    MilestoneKind.STAGE_FAILED.value,
    MilestoneKind.CONVENTION_FAILED.value,
}
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

REFUSED = ReasonFacts.of(
    ReasonCode.SIGNATURE_REFUSED, person="Mohamed Lacham", party="amica", reason="Pas encore."
)
EXAMPLES: dict[ReasonCode, tuple[ReasonFacts, str]] = {
    ReasonCode.CHANGES_REQUESTED: (
        ReasonFacts.of(ReasonCode.CHANGES_REQUESTED, party="menefp", version=2),
        "menefp asked for changes to version 2",
    ),
    ReasonCode.SIGNATURE_REFUSED: (REFUSED, "Mohamed Lacham (amica) refused to sign: Pas encore."),
    ReasonCode.PARTY_WITHDREW: (
        ReasonFacts.of(ReasonCode.PARTY_WITHDREW, person="Awa", party="amica", reason="Non."),
        "Awa (amica) withdrew from the convention: Non.",
    ),
    ReasonCode.OUTCOMES_DISPUTED: (
        ReasonFacts.of(ReasonCode.OUTCOMES_DISPUTED, party="menefp", comments="Ajouter Kayes."),
        "menefp disagrees: Ajouter Kayes.",
    ),
    ReasonCode.FUNDING_REJECTED: (
        ReasonFacts.of(ReasonCode.FUNDING_REJECTED, funder="bid", comments="Hors du cadre."),
        "bid rejected the request: Hors du cadre.",
    ),
    ReasonCode.NO_VERSION_APPROVED: (
        ReasonFacts.of(ReasonCode.NO_VERSION_APPROVED, count=20),
        "no version approved after 20 versions of the text",
    ),
    ReasonCode.NO_OUTCOMES_AGREED: (
        ReasonFacts.of(ReasonCode.NO_OUTCOMES_AGREED, count=20),
        "no agreement on the outcomes after 20 rounds",
    ),
    ReasonCode.NO_FUNDING_DECISION: (
        ReasonFacts.of(ReasonCode.NO_FUNDING_DECISION, count=20),
        "no decision after 20 requests for information",
    ),
    ReasonCode.ATTEMPTS_EXHAUSTED: (
        ReasonFacts.of(ReasonCode.ATTEMPTS_EXHAUSTED, REFUSED, stage="signature", runs=2),
        "Mohamed Lacham (amica) refused to sign: Pas encore. (stage signature already ran 2 "
        "times, the most its max_attempts allows)",
    ),
    ReasonCode.CONVENTION_TERMINATED: (
        ReasonFacts.of(ReasonCode.CONVENTION_TERMINATED, reason="قرار المجلس"),
        "convention terminated: قرار المجلس",
    ),
    ReasonCode.CONVENTION_ENDED: (
        ReasonFacts.of(ReasonCode.CONVENTION_ENDED, REFUSED),
        "convention ended: Mohamed Lacham (amica) refused to sign: Pas encore.",
    ),
    ReasonCode.ESCALATED_TASK_CANCELLED: (
        ReasonFacts.of(ReasonCode.ESCALATED_TASK_CANCELLED, task="signature.sign.sg"),
        "signature.sign.sg was cancelled",
    ),
    ReasonCode.ESCALATED_TASK_ANSWERED: (
        ReasonFacts.of(ReasonCode.ESCALATED_TASK_ANSWERED, task="signature.sign.sg"),
        "signature.sign.sg was answered",
    ),
    ReasonCode.DEADLINE_POSTPONED: (
        ReasonFacts.of(ReasonCode.DEADLINE_POSTPONED),
        "its deadline was postponed",
    ),
}


def outside_the_data(text: str) -> str:
    return ISOLATED.sub("", text)


def test_every_reason_and_refusal_code_has_its_sentence_in_every_catalogue() -> None:
    assert set(REASONS) == set(ReasonCode)
    assert set(REFUSALS) == set(RefusalCode)
    sentences = [*REASONS.values(), *REFUSALS.values()]
    for language in LANGUAGES:
        catalogue = load(language)
        for sentence in sentences:
            entry = catalogue.get(sentence)
            assert entry is not None, (language, sentence)
            if language != "en":
                assert entry.string and entry.string != sentence, (language, sentence)


def test_every_reason_code_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(ReasonCode)


@pytest.mark.parametrize("code", list(ReasonCode), ids=lambda code: code.value)
def test_each_reason_is_said_from_its_facts_in_each_language(code: ReasonCode) -> None:
    facts, english = EXAMPLES[code]
    # The English the workflow writes beside the facts is what the facts say.
    assert reason_said(facts, "en").text == english
    french, arabic = reason_said(facts, "fr").text, reason_said(facts, "ar").text
    assert french != english and arabic != english
    assert not LATIN_WORD.search(outside_the_data(arabic)), arabic
    for phrase in ("refused", "withdrew", "asked for", "disagrees", "rejected", " after ", "was "):
        assert phrase not in french, (phrase, french)


def test_a_reason_says_parties_by_their_names_and_a_missing_value_as_a_dash() -> None:
    names = PartyNames.of({"bid": "البنك الإسلامي للتنمية"})
    rejected = ReasonFacts.of(ReasonCode.FUNDING_REJECTED, funder="bid")
    said = reason_said(rejected, "ar", names).text
    assert "البنك الإسلامي للتنمية" in said and "bid" not in said and "—" in said


def test_facts_say_what_the_english_wording_could_not_be_read_back_from() -> None:
    # A name with a parenthesis and a reason quoting the workflow's own words: read back from
    # the wording, the person and the party come apart wrongly; the facts keep them whole.
    facts = ReasonFacts.of(
        ReasonCode.SIGNATURE_REFUSED,
        person="Awa (Dakar)",
        party="amica",
        reason="(amica) refused to sign: non",
    )
    details = {"reason": reason_said(facts, "en").text, "reason_facts": facts.details()}
    cancelled = Milestone(
        convention_id="c",
        seq=3,
        kind=MilestoneKind.TASK_CANCELLED,
        occurred_at=NOW,
        summary="Whatever — cancelled: whatever",
        details=details | {"task": {"kind": TaskKind.SIGN.value, "signatory_name": "S"}},
    )
    french = milestone_text(cancelled, "fr").text
    assert "Awa (Dakar) (amica) a refusé de signer : (amica) refused to sign: non" in french
    old = cancelled.model_copy(update={"details": {"reason": details["reason"]}})
    assert milestone_text(old, "fr").text != french


def test_an_old_ending_after_the_stages_most_runs_is_read_back_from_its_wording() -> None:
    summary = (
        "Convention ended: Mohamed Lacham (amica) refused to sign: Pas encore. (stage "
        "signature already ran 2 times, the most its max_attempts allows)"
    )
    failed = Milestone(
        convention_id="c",
        seq=9,
        kind=MilestoneKind.CONVENTION_FAILED,
        occurred_at=NOW,
        summary=summary,
        details={},
    )
    arabic = milestone_text(failed, "ar")
    assert not arabic.as_recorded
    assert not LATIN_WORD.search(outside_the_data(arabic.text)), arabic.text
    facts, _ = EXAMPLES[ReasonCode.ATTEMPTS_EXHAUSTED]
    typed = failed.model_copy(update={"details": {"reason_facts": facts.details()}})
    assert milestone_text(typed, "ar").text == arabic.text
    assert milestone_text(failed, "en").text == summary


def _chains(group: Path) -> list[Path]:
    return sorted(chain for chain in group.iterdir() if chain.is_dir())


async def _reasons_in(group: Path) -> list[dict[str, Any]]:
    return [
        m
        for chain in _chains(group)
        for m in await recorded_milestones(chain)
        if m["kind"] in REASONED
    ]


async def test_the_current_histories_write_each_reason_as_facts_and_say_them() -> None:
    reasoned = await _reasons_in(HISTORIES / "current")
    codes: set[ReasonCode] = set()
    for row in reasoned:
        details = details_of(row)
        assert isinstance(
            details, TaskCancelledDetails | StageFailedDetails | ConventionFailedDetails
        )
        assert details.reason_facts is not None, row["summary"]
        codes.add(details.reason_facts.code)
        # The facts say all the English wording said.
        assert reason_said(details.reason_facts, "en", NO_NAMES).text == details.reason
        arabic = milestone_text(Milestone.model_validate(row), "ar")
        assert not arabic.as_recorded
        assert not LATIN_WORD.search(outside_the_data(arabic.text)), arabic.text
    assert {
        ReasonCode.SIGNATURE_REFUSED,
        ReasonCode.FUNDING_REJECTED,
        ReasonCode.OUTCOMES_DISPUTED,
        ReasonCode.ESCALATED_TASK_ANSWERED,
    } <= codes


async def test_the_histories_from_before_typed_reasons_are_read_back_from_their_wording() -> None:
    reasoned = await _reasons_in(HISTORIES / "before-typed-reasons")
    assert reasoned
    for row in reasoned:
        assert "reason_facts" not in (row["details"] or {}), row["summary"]
        french = milestone_text(Milestone.model_validate(row), "fr")
        assert not french.as_recorded, row["summary"]
        for phrase in ("refused to sign", "rejected the request", "disagrees", "was answered"):
            assert phrase not in french.text, french.text


def test_a_stage_rule_without_its_own_code_is_said_in_french_and_arabic() -> None:
    rejected = rules.AnswerRejected("answer.place: the city is not on the mission's route")
    assert rejected.refusal.code is RefusalCode.STAGE_RULE
    failure_details = rejected.details
    reason = refusal_of(
        ApplicationError(str(rejected), *failure_details, type="AnswerRejected")
    ).detail
    assert reason_text(reason, "en") == str(rejected)
    arabic = reason_text(reason, "ar")
    assert arabic != str(rejected) and not LATIN_WORD.search(arabic), arabic
    assert "route" not in reason_text(reason, "fr")
    refused = rules.refused(RefusalCode.OFFICER_CHANGE_UNSUPPORTED, "officer", "not supported")
    assert not LATIN_WORD.search(reason_text(refused.refusal.reason(str(refused)), "ar"))


async def test_an_arabic_office_page_says_a_cancelled_tasks_reason_with_no_latin_word(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    await terminate_convention(
        dev_env.client,
        convention.id,
        TerminateConvention(reason="قرر المجلس إنهاء الاتفاقية", officer="نادية بنعلي"),
    )
    cancelled = await eventually(
        lambda: db_pool.fetchrow(
            "SELECT details FROM milestones WHERE convention_id = $1 AND kind = $2",
            convention.id,
            MilestoneKind.TASK_CANCELLED.value,
        ),
        lambda row: row is not None,
        what="the decision task's cancellation",
    )
    details = details_of({"kind": MilestoneKind.TASK_CANCELLED.value, **dict(cancelled)})
    assert isinstance(details, TaskCancelledDetails) and details.reason_facts is not None
    assert details.reason_facts.code is ReasonCode.CONVENTION_TERMINATED
    async with office_client(desk) as http:
        await signed_in(http, db_pool, "officer")
        page = await http.get(f"/office/conventions/{convention.id}", params={"lang": "ar"})
    assert page.status_code == 200, page.text
    rows = [row for row in re.findall(r"<tr>.*?</tr>", page.text, re.S) if "أُلغيت" in row]
    assert rows, "no cancelled task on the page"
    for row in rows:
        assert "قرر المجلس إنهاء الاتفاقية" in row
        words = re.sub(r"<bdi>.*?</bdi>|<[^>]+>", " ", row, flags=re.S)
        assert not LATIN_WORD.search(words), words
        assert DECISION not in words
    # The funder's Arabic contact opens her mailed link: the task is closed, and says why.
    async with portal_client(desk) as partner:
        receipt = await partner.get(link_path(convention.id, FUNDER["name"]))
    assert receipt.status_code == 200, receipt.text
    (why,) = re.findall(r'<p class="reason".*?</p>', receipt.text, re.S)
    assert "قرر المجلس إنهاء الاتفاقية" in why
    words = re.sub(r"<bdi>.*?</bdi>|<[^>]+>", " ", why, flags=re.S)
    assert not LATIN_WORD.search(words), words


def test_starter_status_says_a_failed_conventions_reason_from_its_facts() -> None:
    facts, english = EXAMPLES[ReasonCode.ATTEMPTS_EXHAUSTED]
    status = ConventionStatus(
        convention_id="tanger-2026",
        title="Tanger",
        kind="partnership",
        parent=None,
        state=ConventionState.FAILED,
        current_stage="signature",
        stages=["signature"],
        milestone_count=0,
        # A wording no pattern reads: the facts alone can say it.
        reason="(reworded by a later workflow)",
        reason_facts=facts,
    )
    names = PartyNames.of({"amica": "الوكالة المغربية للتعاون"})
    arabic = render_status(status, language="ar", names=names)
    (line,) = [line for line in arabic.splitlines() if "رفض" in line]
    assert "الوكالة المغربية للتعاون" in line and "reworded" not in line
    assert not LATIN_WORD.search(outside_the_data(line)), line
    assert english in render_status(status)


def test_a_cancelled_task_looked_up_is_refused_in_the_readers_language() -> None:
    cancelled = Task(
        id="funding_request.decision.r1",
        convention_id="bamako-2026",
        stage="funding_request",
        kind=TaskKind.DECIDE_FUNDING,
        assignee="bid",
        title="Decide on the funding request of 40000000 IsDB-ID",
        assigned_at=NOW,
        due_at=NOW,
        status=TaskStatus.CANCELLED,
        closed_reason="convention terminated: the programme ended",
        closed_reason_facts=ReasonFacts.of(
            ReasonCode.CONVENTION_TERMINATED, reason="the programme ended"
        ),
    )
    why = why_not_open(TaskLookup(task_id=cancelled.id, task=cancelled))
    assert "the programme ended" in reason_text(why, "en")
    arabic = reason_text(why, "ar")
    assert not LATIN_WORD.search(outside_the_data(arabic)), arabic
