"""A timeline read from the history says who did what, when, exactly as the scenario played it.

Every line is checked against the scenario that produced it: its convention file (the stages,
the parties) and its answers file (each answer, by its party, in order).
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.client import Client

from auditing.decode import (
    ANSWER_TASK,
    DELIVERIES,
    GIVE_UP_DELIVERY,
    NOTIFY_PARTY,
    PERSIST_MILESTONE,
    RECORD_NOTIFICATION,
)
from auditing.histories import FileHistories, TemporalHistories
from auditing.html_report import render_html
from auditing.timeline import build_timeline, render_csv, render_text
from infra.settings import PROJECT_ROOT
from rendering.timeline import event_label
from schemas.audit import Timeline, TimelineEntry, TimelineEvent
from schemas.convention import Convention
from schemas.convention_file import AnswerScript
from tests.conftest import PlayedScenario
from tests.histories import record

HISTORIES = PROJECT_ROOT / "tests" / "histories" / "current"
# Lines that belong to a task of a stage: they must fall between its entered and left lines.
TASK_EVENTS = {
    TimelineEvent.TASK_ASSIGNED,
    TimelineEvent.TASK_ANSWERED,
    TimelineEvent.TASK_REMINDED,
    TimelineEvent.TASK_OVERDUE,
    TimelineEvent.TASK_ESCALATED,
    TimelineEvent.TASK_CANCELLED,
    TimelineEvent.NOTIFIED,
}


def check_against_scenario(
    timeline: Timeline, convention: Convention, script: AnswerScript
) -> None:
    """Every line of the timeline, against the convention file and the answers that made it."""
    entries = timeline.entries
    parties = {party.id for party in convention.parties}
    assert entries[0].event is TimelineEvent.CONVENTION_STARTED
    assert entries[0].party == convention.office.id
    assert timeline.title == convention.title
    # In order: the workflow's clock never goes back.
    assert all(a.at <= b.at for a, b in itertools.pairwise(entries))

    answered = [e for e in entries if e.event is TimelineEvent.TASK_ANSWERED]
    assert [(e.task_id, e.party, e.actor) for e in answered] == [
        (step.task, step.acting_party, step.actor) for step in script.answers
    ]
    for entry, step in zip(answered, script.answers, strict=True):
        for field in ("kind", "decision", "version"):
            if field in step.answer:
                assert entry.details["answer"][field] == step.answer[field], (entry, field)
        assert entry.summary.startswith(f"{step.acting_party} answered: ")
        if "decision" in step.answer:
            assert step.answer["decision"] in entry.summary

    assigned_at: dict[str, int] = {}
    stay: dict[str, tuple[int, int | None]] = {}
    for index, entry in enumerate(entries):
        assert entry.party is None or entry.party in parties, entry
        assert entry.stage is None or entry.stage in timeline.stages, entry
        if entry.event is TimelineEvent.STAGE_ENTERED:
            assert entry.stage is not None
            stay[entry.stage] = (index, None)
        elif entry.event is TimelineEvent.STAGE_LEFT:
            assert entry.stage is not None and stay[entry.stage][1] is None, entry
            stay[entry.stage] = (stay[entry.stage][0], index)
        elif entry.event is TimelineEvent.NOTIFIED and entry.task_id is None:
            # A stage announcement: told while its stage runs.
            assert entry.details["notification_event"] == "convention.stage_changed", entry
            assert entry.stage is not None and stay[entry.stage][1] is None, entry
        elif entry.event in TASK_EVENTS:
            assert entry.stage is not None and entry.task_id is not None, entry
            entered, left = stay[entry.stage]
            assert left is None, f"{entry.task_id} after its stage {entry.stage} was left"
            assert entered < index
            # An escalation task's assignment reads as `task_escalated` (a late seed date can
            # fall due before the scripted answer comes).
            if entry.event in {TimelineEvent.TASK_ASSIGNED, TimelineEvent.TASK_ESCALATED}:
                assigned_at[entry.task_id] = index
            else:
                assert assigned_at[entry.task_id] < index, f"{entry} before its task was assigned"
    # Each stage entered is left; the stages run in the file's order.
    assert all(left is not None for _, left in stay.values()), stay
    entered_order = [e.stage for e in entries if e.event is TimelineEvent.STAGE_ENTERED]
    assert entered_order == [s for s in timeline.stages if s in entered_order]

    text = render_text(timeline).splitlines()
    assert text[1] == f"# source: {timeline.source}"
    assert text[2].split() == ["#", "time", "(UTC)", "stage", "event", "task", "who", "what"]
    assert len(text) == 3 + len(entries)
    for line, entry in zip(text[3:], entries, strict=True):
        assert f" {event_label(entry.event, 'en')} " in line and (entry.task_id or "-") in line


def answered_steps(entries: list[TimelineEntry], task_id: str) -> list[TimelineEvent]:
    return [e.event for e in entries if e.task_id == task_id]


async def test_each_seed_scenario_timeline_is_the_scenario_line_by_line(
    client: Client, played_scenarios: dict[str, PlayedScenario]
) -> None:
    source = TemporalHistories(client)
    for scenario in played_scenarios.values():
        timeline = await build_timeline(await source.history(scenario.convention.id))

        check_against_scenario(timeline, scenario.convention, record.own_answers(scenario.script))
        assert timeline.stages == [spec.stage for spec in scenario.convention.stages]
        assert [span.outcome for span in timeline.spans] == ["completed"] * len(timeline.stages)
        assert timeline.entries[-1].event is TimelineEvent.CONVENTION_COMPLETED


@pytest.mark.parametrize(
    ("recording", "seed", "script"),
    [
        ("signature-refused", "tanger-four-conventions", record._signature_refused),
        ("funding-rejected", "bamako-cooperation", record._funding_rejected),
        ("diagnostic-disagreement", "bamako-cooperation", record._diagnostic_disagreement),
        ("continued-as-new", "cycle-maalam", lambda: record._script("cycle-maalam")),
        ("tamansourt-cite-des-metiers", "tamansourt-cite-des-metiers", None),
    ],
)
async def test_a_recorded_timeline_is_the_scenario_that_recorded_it_line_by_line(
    recording: str, seed: str, script: Callable[[], AnswerScript] | None
) -> None:
    chain = (await FileHistories.load([HISTORIES / recording])).chains[0]
    convention = record.alone(record._convention(seed), recording)

    timeline = await build_timeline(chain)

    answers = script() if script else record._script(seed)
    check_against_scenario(timeline, convention, record.own_answers(answers))
    seqs = [e.milestone_seq for e in timeline.entries if e.milestone_seq is not None]
    assert seqs == sorted(set(seqs)), "one line per milestone, in seq order, across runs"


async def test_a_follow_up_convention_timeline_is_its_part_of_the_script() -> None:
    bamako = record._convention("bamako-cooperation")
    (follow_up,) = [f for spec in bamako.stages for f in getattr(spec, "follow_ups", [])]
    chain = (await FileHistories.load([HISTORIES / f"bamako-cooperation.{follow_up.id}"])).chains[0]
    script = record._script("bamako-cooperation")
    steps = [step for step in script.answers if step.follow_up == 0]

    timeline = await build_timeline(chain)

    check_against_scenario(
        timeline,
        follow_up.model_copy(update={"origin": bamako.id}),
        script.model_copy(update={"answers": steps}),
    )
    assert timeline.entries[-1].event is TimelineEvent.CONVENTION_COMPLETED


async def test_a_refused_signature_leaves_the_stage_failed_and_the_rest_not_reached() -> None:
    chain = (await FileHistories.load([HISTORIES / "signature-refused"])).chains[0]

    timeline = await build_timeline(chain)

    assert [(span.stage, span.outcome) for span in timeline.spans] == [
        ("drafting", "completed"),
        ("signature", "failed"),
    ]
    assert timeline.stages == ["drafting", "signature", "implementation"]
    assert timeline.entries[-1].event is TimelineEvent.CONVENTION_FAILED
    assert "refused to sign" in timeline.entries[-1].summary


async def test_an_overdue_task_is_reminded_then_escalated_then_answered() -> None:
    chain = (await FileHistories.load([HISTORIES / "funding-overdue"])).chains[0]
    task = "funding_request.decision.r1"

    timeline = await build_timeline(chain)

    lines = [(e.event, e.task_id) for e in timeline.entries if e.task_id and task in e.task_id]
    events = [event for event, _ in lines if event is not TimelineEvent.NOTIFIED]
    assert events == [
        TimelineEvent.TASK_ASSIGNED,
        TimelineEvent.TASK_REMINDED,
        TimelineEvent.TASK_OVERDUE,
        TimelineEvent.TASK_ESCALATED,
        TimelineEvent.TASK_ANSWERED,
        TimelineEvent.TASK_CANCELLED,  # the officer's escalation task, once the answer is in
        TimelineEvent.MILESTONE,  # funding decided
    ]
    escalated = next(e for e in timeline.entries if e.event is TimelineEvent.TASK_ESCALATED)
    assert escalated.task_id == f"escalation.{task}" and escalated.party == "ofppt"
    answered = next(e for e in timeline.entries if e.event is TimelineEvent.TASK_ANSWERED)
    assert (answered.at - timeline.entries[0].at).days == 91  # on the workflow's clock


async def test_the_html_report_charts_one_row_per_stage_offline(
    client: Client, played_scenarios: dict[str, PlayedScenario], tmp_path: Path
) -> None:
    scenario = played_scenarios["mre-academy"]
    timeline = await build_timeline(await TemporalHistories(client).history(scenario.convention.id))

    page = render_html(timeline)

    (tmp_path / "report.html").write_text(page)  # opened by hand when in doubt
    assert page.count('<svg role="img"') == 1
    rows = re.findall(r'<g class="stage-row" data-stage="([^"]+)">', page)
    assert rows == [spec.stage for spec in scenario.convention.stages]
    assert page.count('class="bar bar-completed"') == len(rows)
    signs = [s for s in scenario.script.answers if s.answer.get("kind") == "sign"]
    decisions = [s for s in scenario.script.answers if "decision" in s.answer]
    assert page.count('class="marker signature positive"') == len(signs) == 2
    assert page.count('class="marker decision ') == len(decisions) - len(signs) == 4
    # Offline: nothing to fetch, nothing to run.
    assert not re.search(r"https?://", page)
    for banned in ("<script", "<link", "<img", "@import", "url(", "<iframe"):
        assert banned not in page
    assert "Réseau des Compétences Marocaines" in page  # UTF-8 text kept as it is


async def test_csv_and_json_carry_every_line(
    client: Client, played_scenarios: dict[str, PlayedScenario]
) -> None:
    scenario = played_scenarios["bamako-cooperation"]
    timeline = await build_timeline(await TemporalHistories(client).history(scenario.convention.id))

    rows = list(csv.DictReader(io.StringIO(render_csv(timeline))))
    parsed = Timeline.model_validate_json(timeline.model_dump_json())

    assert [(row["event"], row["task_id"] or None) for row in rows] == [
        (e.event.value, e.task_id) for e in timeline.entries
    ]
    assert parsed == timeline


def test_the_names_read_from_histories_are_the_ones_the_code_registers() -> None:
    # Literal in auditing.decode on purpose (histories keep their names); checked against the code.
    from activities.delivery_log import DeliveryLog
    from activities.mail import Mailer
    from activities.milestones import MilestoneStore
    from activities.notify import Notifier
    from activities.webhook import WebhookSender
    from workflows.convention import ConventionWorkflow

    assert MilestoneStore.persist_milestone.__name__ == PERSIST_MILESTONE
    assert Notifier.notify_party.__name__ == NOTIFY_PARTY
    assert Notifier.record_notification.__name__ == RECORD_NOTIFICATION
    assert set(DELIVERIES) == {
        WebhookSender.deliver_webhook.__name__,
        Mailer.deliver_email.__name__,
    }
    assert DeliveryLog.give_up_delivery.__name__ == GIVE_UP_DELIVERY
    assert ConventionWorkflow.answer_task._defn.name == ANSWER_TASK
