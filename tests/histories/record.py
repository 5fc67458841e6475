"""(Re)record the histories CI replays: `python -m tests.histories.record`.

Runs every seed scenario (examples/*.yaml with its answers file) and a few variants that take
the stage paths the seeds do not (a refused signature, a rejected funding request, a
diagnostic disagreement, an overdue task escalated) on a real Temporal dev server (the
escalation on the time-skipping server: its 90 days cannot pass otherwise), with a real
PostgreSQL and a Pacte worker, then writes each convention's runs under OUT/<scenario>/ in
the format of `temporal workflow show --output json`, with a manifest.

    python -m tests.histories.record                    # into tests/histories/current/
    python -m tests.histories.record --only mre-academy signature-refused
    python -m tests.histories.record --at 5d1e2cf --out tests/histories/before-<patch-id>

When a workflow changes incompatibly on purpose (before any convention runs in production),
re-record: the old histories no longer replay and that is expected. When it changes with
`workflow.patched("<patch-id>")`, first keep the histories of the code before the change
(`--at <commit before it> --out tests/histories/before-<patch-id>`), then re-record: CI then
replays both, and tests/test_audit_replay.py checks that every patch id found in the current
histories has its `before-` directory.

`--at COMMIT` records with the workflows of another commit: it checks that commit out into a
temporary git worktree, copies this script, the auditing and records packages and the
contract beside it, runs there, and removes the worktree.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from application.conventions import answer_open_task, find_task, start_convention
from application.scenarios import play_scenario, scenario_files
from auditing.export import export_convention
from auditing.histories import TemporalHistories
from infra.database import apply_migrations, create_pool
from infra.embedded import embedded_postgres_url, stop_embedded_postgres
from infra.settings import PROJECT_ROOT, load_settings
from schemas.contract import SEARCH_ATTRIBUTES
from schemas.convention import Contact, Convention, FundingRequestStage
from schemas.convention_file import AnswerScript, ScriptedAnswer, load_answer_script
from schemas.convention_file import load_convention as load_convention_file
from worker import build_worker
from workflows.convention import ConventionWorkflow, workflow_id_for

EXAMPLES = PROJECT_ROOT / "examples"
HISTORIES = Path(__file__).resolve().parent
DEFAULT_OUT = HISTORIES / "current"
TASK_QUEUE = "pacte-record"
# What --at copies into the other commit's worktree: this recorder and what it imports.
RECORDER_FILES = (
    "auditing",
    "records",
    "schemas/audit.py",
    "schemas/contract.py",
    "tests/histories",
)

Recorder = Callable[[Client, str], Awaitable[list[str]]]
"""Plays one scenario on a client and task queue; returns the conventions it ran.

The first is the scenario's own; the others are the follow-up conventions it started, each
exported beside it as <scenario>.<follow-up id>.
"""


def _venv_binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed: run `python3 dev.py test` once")
    return found


def _search_attribute_keys() -> list[SearchAttributeKey[Any]]:
    return [
        SearchAttributeKey.for_keyword_list(name)
        if kind == "KeywordList"
        else SearchAttributeKey.for_keyword(name)
        for name, kind in SEARCH_ATTRIBUTES.items()
    ]


def _converter() -> DataConverter:
    """The configured data converter: histories are encrypted when a payload key is set."""
    try:
        from infra.temporal_client import data_converter
    except ImportError:  # --at a commit from before payload encryption: plain pydantic
        return pydantic_data_converter
    converter = data_converter(load_settings())
    if converter.payload_codec is not None:
        print(
            "a payload key is configured: the histories are recorded encrypted, and only "
            "replay where that key is configured (unset PACTE_PAYLOAD_KEYS for CI's)",
            flush=True,
        )
    return converter


async def _register_search_attributes(client: Client) -> None:
    # The dev server takes them at start; the time-skipping server through the operator API.
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
                if kind == "KeywordList"
                else IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for name, kind in SEARCH_ATTRIBUTES.items()
            },
        )
    )


def _script(name: str) -> AnswerScript:
    return load_answer_script(EXAMPLES / f"{name}.answers.yaml")


def _convention(name: str) -> Convention:
    return load_convention_file(EXAMPLES / f"{name}.yaml")


def _answer(task: str, party: str, **answer: Any) -> ScriptedAnswer:
    return ScriptedAnswer.model_validate({"task": task, "as": party, "answer": answer})


def _until(script: AnswerScript, task: str, replacement: ScriptedAnswer) -> AnswerScript:
    """The script's answers up to `task`, which is answered with `replacement` instead."""
    steps: list[ScriptedAnswer] = []
    for step in script.answers:
        if step.task == task:
            return script.model_copy(update={"answers": [*steps, replacement]})
        steps.append(step)
    raise SystemExit(f"{script.convention}: the script has no answer to {task}")


def follow_up_ids(convention: Convention) -> list[str]:
    """The follow-up conventions a diagnostic starts once its outcomes are agreed."""
    return [
        follow_up.id
        for spec in convention.stages
        for follow_up in getattr(spec, "follow_ups", [])  # declared from commit 8e04ea4 on
    ]


def alone(convention: Convention, variant_id: str) -> Convention:
    """The convention under its own id, starting no follow-up (those belong to the seed)."""
    stages = [
        spec.model_copy(update={"follow_ups": []}) if getattr(spec, "follow_ups", None) else spec
        for spec in convention.stages
    ]
    return convention.model_copy(update={"id": variant_id, "stages": stages})


def own_answers(script: AnswerScript) -> AnswerScript:
    """The script without its answers to follow-up conventions."""
    steps = [step for step in script.answers if getattr(step, "follow_up", None) is None]
    return script.model_copy(update={"answers": steps})


def seed(name: str) -> Recorder:
    """A seed scenario as its files describe it, follow-up conventions included."""

    async def record(client: Client, task_queue: str) -> list[str]:
        convention = _convention(name)
        await play_scenario(client, task_queue, convention, _script(name))
        return [convention.id, *follow_up_ids(convention)]

    return record


def variant(
    variant_id: str,
    name: str,
    script: Callable[[], AnswerScript],
    change: Callable[[Convention], Convention] | None = None,
) -> Recorder:
    """A seed convention answered differently, under its own id, to take another path."""

    async def record(client: Client, task_queue: str) -> list[str]:
        convention = alone(_convention(name), variant_id)
        if change is not None:
            convention = change(convention)
        await play_scenario(client, task_queue, convention, own_answers(script()))
        return [convention.id]

    return record


def _signature_refused() -> AnswerScript:
    return _until(
        _script("tanger-four-conventions"),
        "signature.sign.amica-president",
        _answer(
            "signature.sign.amica-president",
            "amica",
            kind="sign",
            decision="refuse",
            reason="Le plan de formation de la filière n'est pas arrêté.",
        ),
    )


def _funding_rejected() -> AnswerScript:
    return _until(
        _script("bamako-cooperation"),
        "funding_request.decision.r1",
        _answer(
            "funding_request.decision.r1",
            "bid",
            kind="decide_funding",
            decision="reject",
            comments="Hors du cadre de l'appel en cours.",
        ),
    )


def _on_failure(name: str, stage: str, target: str) -> Callable[[Convention], Convention]:
    def change(convention: Convention) -> Convention:
        stages = [
            spec.model_copy(update={"on_failure": target}) if spec.stage == stage else spec
            for spec in convention.stages
        ]
        return convention.model_copy(update={"stages": stages})

    return change


def _signature_refused_then_given() -> AnswerScript:
    # The stage runs again on the same text: the signatures given before the refusal stand,
    # the others are asked again under signature-2.
    script = _script("tanger-four-conventions")
    refusal = "signature.sign.amica-president"
    before, after, seen = [], [], False
    for step in script.answers:
        if step.task == refusal:
            seen = True
            before.append(
                _answer(refusal, "amica", kind="sign", decision="refuse", reason="Pas encore.")
            )
            after.append(step.model_copy(update={"task": "signature-2.sign.amica-president"}))
            continue
        if seen and step.task.startswith("signature.sign."):
            step = step.model_copy(update={"task": step.task.replace("signature.", "signature-2.")})
        (after if seen else before).append(step)
    return script.model_copy(update={"answers": [*before, *after]})


def _funding_revised() -> AnswerScript:
    rejected = _funding_rejected()
    return rejected.model_copy(
        update={
            "answers": [
                *rejected.answers,
                _answer(
                    "funding_request-2.revise",
                    "ofppt",
                    kind="revise_funding_request",
                    requested={"amount": "30000000", "currency": "IsDB-ID"},
                    terms_of_reference={"uri": "archive:bamako-tdr-v2.pdf"},
                    note="Périmètre réduit à deux centres.",
                ),
                _answer(
                    "funding_request-2.decision.r1",
                    "bid",
                    kind="decide_funding",
                    decision="approve",
                    granted={"amount": "30000000", "currency": "IsDB-ID"},
                ),
            ]
        }
    )


def _diagnostic_disagreement() -> AnswerScript:
    # MENEFP disagrees while OFPPT still owes its answer: OFPPT's task of round 1 is
    # cancelled, the findings go back for round 2, which both parties agree.
    script = _script("bamako-cooperation")
    by_task = {step.task: step for step in script.answers}
    findings, menefp, ofppt = (
        by_task["diagnostic.findings.r1"],
        by_task["diagnostic.outcomes.r1.menefp"],
        by_task["diagnostic.outcomes.r1.ofppt"],
    )
    diagnostic = [
        findings,
        _answer(
            menefp.task,
            menefp.acting_party,
            kind="agree_outcomes",
            decision="disagree",
            comments="Ajouter le centre de Kayes au diagnostic.",
        ),
        findings.model_copy(update={"task": "diagnostic.findings.r2"}),
        menefp.model_copy(update={"task": "diagnostic.outcomes.r2.menefp"}),
        ofppt.model_copy(update={"task": "diagnostic.outcomes.r2.ofppt"}),
    ]
    before = [s for s in script.answers if s.task.startswith("mission.")]
    after = [s for s in script.answers if s.task.startswith("funding_request.")]
    return script.model_copy(update={"answers": [*before, *diagnostic, *after]})


def continued(variant_id: str, name: str, history_limit: int) -> Recorder:
    """A seed scenario whose workflow continues as new every `history_limit` events."""

    async def record(client: Client, task_queue: str) -> list[str]:
        from schemas.status import ConventionInput  # history_limit: from commit 8e04ea4 on

        convention = alone(_convention(name), variant_id)
        await client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention, history_limit=history_limit),
            id=workflow_id_for(convention.id),
            task_queue=task_queue,
        )
        # Started already: play_scenario carries on with the answers.
        await play_scenario(client, task_queue, convention, own_answers(_script(name)))
        return [convention.id]

    return record


def officer_changed(variant_id: str, name: str, history_limit: int) -> Recorder:
    """A seed scenario whose responsible officer is changed once its first task is open (the
    change_officer update, since change-officer), continued as new every `history_limit`
    events: the next run's input carries the new officer."""

    async def record(client: Client, task_queue: str) -> list[str]:
        from application.conventions import change_officer  # from change-officer on
        from schemas.officer_actions import ChangeOfficer
        from schemas.status import ConventionInput

        script = own_answers(_script(name))
        convention = alone(_convention(name), variant_id)
        await client.start_workflow(
            ConventionWorkflow.run,
            ConventionInput(convention=convention, history_limit=history_limit),
            id=workflow_id_for(convention.id),
            task_queue=task_queue,
        )
        await find_task(client, convention.id, script.answers[0].task, wait_seconds=30)
        await change_officer(
            client,
            convention.id,
            ChangeOfficer(
                name="Karim Alaoui",
                email="k.alaoui@ofppt.example",
                language="ar",
                reason="Nouvelle affectation",
                officer="Nadia Benali <n.benali@ofppt.example>",
            ),
        )
        await play_scenario(client, task_queue, convention, script)
        return [convention.id]

    return record


RECORDED_ASSIGNEE = "Nadia Annuaire"
"""The person a task is reassigned to in the task-reassigned scenario: the directory's (since
reassign-directory), or a contact the file names (the code before)."""


def _with_ministry_contact(convention: Convention) -> Convention:
    """The convention whose ministry's file names a contact (the code before
    reassign-directory gives a task only to one the file names)."""
    parties = [
        party.model_copy(update={"contacts": [Contact(name=RECORDED_ASSIGNEE)]})
        if party.id == "mre-ministry"
        else party
        for party in convention.parties
    ]
    return convention.model_copy(update={"parties": parties})


def task_reassigned(variant_id: str, name: str) -> Recorder:
    """A seed scenario whose first task is reassigned once open: to the directory's person
    (the update carries them, since reassign-directory), or, with the code before, to the
    contact the file names; then answered as the script says."""

    async def record(client: Client, task_queue: str) -> list[str]:
        from application.conventions import reassign_task
        from schemas.officer_actions import ReassignTask

        script = own_answers(_script(name))
        convention = _with_ministry_contact(alone(_convention(name), variant_id))
        await start_convention(client, convention, task_queue)
        first = script.answers[0]
        task = await find_task(client, convention.id, first.task, wait_seconds=30)
        fields: dict[str, Any] = {
            "task_id": task.id,
            "contact": RECORDED_ASSIGNEE,
            "reason": "Intérim de la direction",
            "officer": "Nadia Benali <n.benali@ofppt.example>",
        }
        if "person" in ReassignTask.model_fields:  # since reassign-directory
            fields["person"] = {
                "name": RECORDED_ASSIGNEE,
                "email": "n.annuaire@mre.example",
                "language": "fr",
                "check": {
                    "organisation": task.assignee,
                    "person": "p-recorded",
                    "capacity": "review",
                    "version": 1,
                },
            }
        await reassign_task(client, convention.id, ReassignTask.model_validate(fields))
        await play_scenario(client, task_queue, convention, script)
        return [convention.id]

    return record


async def _overdue_escalated(env: WorkflowEnvironment, task_queue: str) -> list[str]:
    """Bamako's funding request, answered 91 days into its 90: overdue, reminded, escalated."""
    bamako = _convention("bamako-cooperation")
    funding = next(s for s in bamako.stages if isinstance(s, FundingRequestStage))
    convention = bamako.model_copy(
        update={
            "id": "funding-overdue",
            "stages": [funding.model_copy(update={"due_in_days": 90})],
        }
    )
    client = env.client
    await start_convention(client, convention, task_queue)
    task = await find_task(client, convention.id, "funding_request.decision.r1", wait_seconds=30)
    await env.sleep(timedelta(days=91))
    await answer_open_task(
        client,
        convention.id,
        task.id,
        task.assignee,
        {
            "decision": "approve",
            "granted": {"amount": "36000000", "currency": "IsDB-ID"},
            "comments": "Accordé, hors délai.",
        },
    )
    await client.get_workflow_handle_for(
        ConventionWorkflow.run, workflow_id_for(convention.id)
    ).result()
    return [convention.id]


DEV_SERVER_SCENARIOS: dict[str, Recorder] = {
    **{
        convention_file.stem: seed(convention_file.stem)
        for convention_file, _ in scenario_files(EXAMPLES)
    },
    "signature-refused": variant(
        "signature-refused", "tanger-four-conventions", _signature_refused
    ),
    "funding-rejected": variant("funding-rejected", "bamako-cooperation", _funding_rejected),
    "diagnostic-disagreement": variant(
        "diagnostic-disagreement", "bamako-cooperation", _diagnostic_disagreement
    ),
    "continued-as-new": continued("continued-as-new", "cycle-maalam", history_limit=50),
    "officer-changed": officer_changed("officer-changed", "cycle-maalam", history_limit=50),
    "task-reassigned": task_reassigned("task-reassigned", "mre-academy"),
    "signature-given-after-refusal": variant(
        "signature-given-after-refusal",
        "tanger-four-conventions",
        _signature_refused_then_given,
        _on_failure("tanger-four-conventions", "signature", "signature"),
    ),
    "funding-revised": variant(
        "funding-revised",
        "bamako-cooperation",
        _funding_revised,
        _on_failure("bamako-cooperation", "funding_request", "funding_request"),
    ),
}
TIME_SKIPPING_SCENARIOS = {"funding-overdue": _overdue_escalated}
SCENARIOS = [*DEV_SERVER_SCENARIOS, *TIME_SKIPPING_SCENARIOS]


async def _export(client: Client, name: str, convention_ids: list[str], out: Path) -> None:
    for index, convention_id in enumerate(convention_ids):
        directory = out / (name if index == 0 else f"{name}.{convention_id}")
        convention = await TemporalHistories(client).history(convention_id)
        manifest = export_convention(convention, directory)
        events = sum(run.events for run in manifest.runs)
        print(f"{directory}: {len(manifest.runs)} run(s), {events} events", flush=True)


async def record(out: Path, only: list[str]) -> None:
    """Play the chosen scenarios on fresh servers and export their histories under out/."""
    chosen = only or SCENARIOS
    converter = _converter()
    state = Path(tempfile.mkdtemp(prefix="pacte-record-"))
    url = embedded_postgres_url(state)
    pool = await create_pool(url)
    try:
        await apply_migrations(pool)
        on_dev = [name for name in chosen if name in DEV_SERVER_SCENARIOS]
        if on_dev:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=_venv_binary("temporal"),
                data_converter=converter,
                search_attributes=_search_attribute_keys(),
                dev_server_log_level="error",
            )
            try:
                async with build_worker(env.client, pool, TASK_QUEUE):
                    ids = await asyncio.gather(
                        *(DEV_SERVER_SCENARIOS[name](env.client, TASK_QUEUE) for name in on_dev)
                    )
                for name, convention_ids in zip(on_dev, ids, strict=True):
                    await _export(env.client, name, convention_ids, out)
            finally:
                await env.shutdown()
        for name in (name for name in chosen if name in TIME_SKIPPING_SCENARIOS):
            env = await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=_venv_binary("temporal-test-server"),
                data_converter=converter,
            )
            try:
                await _register_search_attributes(env.client)
                task_queue = f"{TASK_QUEUE}-{uuid.uuid4().hex[:6]}"
                async with build_worker(env.client, pool, task_queue):
                    convention_ids = await TIME_SKIPPING_SCENARIOS[name](env, task_queue)
                await _export(env.client, name, convention_ids, out)
            finally:
                await env.shutdown()
    finally:
        await pool.close()
        stop_embedded_postgres(state)
        shutil.rmtree(state, ignore_errors=True)


def record_at(commit: str, out: Path, only: list[str]) -> int:
    """Record with the workflows of another commit, in a temporary git worktree."""
    worktree = Path(tempfile.mkdtemp(prefix="pacte-record-worktree-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), commit],
        cwd=PROJECT_ROOT,
        check=True,
    )
    try:
        for name in RECORDER_FILES:
            source, target = PROJECT_ROOT / name, worktree / name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True, ignore=_not_histories)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        command = [sys.executable, "-m", "tests.histories.record", "--out", str(out.resolve())]
        return subprocess.run(
            command + (["--only", *only] if only else []),
            cwd=worktree,
            env={**os.environ, "PYTHONPATH": str(worktree)},
        ).returncode
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=PROJECT_ROOT, check=False
        )


def _not_histories(directory: str, names: list[str]) -> list[str]:
    # Copy the recorder, not the recorded histories.
    return [name for name in names if name.endswith(".json") or Path(directory, name).is_dir()]


def main(argv: list[str] | None = None) -> int:
    """Entry point: `python -m tests.histories.record [--only NAME…] [--out DIR] [--at REV]`."""
    parser = argparse.ArgumentParser(prog="python -m tests.histories.record")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    parser.add_argument("--only", nargs="+", default=[], choices=SCENARIOS, metavar="NAME")
    parser.add_argument("--at", metavar="COMMIT", help="record with another commit's code")
    args = parser.parse_args(argv)
    if args.at:
        return record_at(args.at, args.out, args.only)
    for name in args.only or SCENARIOS:
        for directory in [args.out / name, *args.out.glob(f"{name}.*")]:
            shutil.rmtree(directory, ignore_errors=True)
    asyncio.run(record(args.out, args.only))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
