"""Bad input, generated: every convention file and every answer is either accepted, and then
valid and carried unchanged, or refused with field-level errors — never another exception,
never a convention half started, never a stored row changed.

Inputs are the seed examples spoiled at random (a field dropped, replaced by a random value,
an unknown field added): unicode text with Arabic, SQL fragments, quotes, control characters,
numbers of every size, nested junk. Each property runs a bounded number of examples with no
deadline, so the file stays well under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import os
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from application.conventions import (
    answer_task,
    build_answer,
    find_task,
    start_convention,
    terminate_convention,
)
from application.errors import Refused
from devkit.programs import PYTHON
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from schemas.convention_file import load_convention, parse_model, read_document
from schemas.errors import InputError, _union_tags
from schemas.officer_actions import TerminateConvention
from schemas.status import ConventionStatus
from schemas.tasks import AnswerTask, Task, TaskKind
from tests.cli_runner import cli_env, settled_status
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES
from tests.stage_desk import convention_of
from workflows.convention import workflow_id_for

# Nothing written into the work tree: no example database (a failure prints its example),
# and Hypothesis's own caches in the system's temporary directory.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "pacte-hypothesis")
)
BOUNDED = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- what a careless or hostile officer or partner might type ----------------------------

SPECIMENS = [
    "",
    "   ",
    "'",
    '"',
    "\\",
    "'; DROP TABLE milestones; --",
    "Robert'); DELETE FROM notifications WHERE ('1'='1",
    "1 OR 1=1",
    "$1",
    "%s",
    "{}",
    "${TEMPORAL_ADDRESS}",
    "اتفاقية شراكة بين المكتب وشركائه",
    "مكتب التكوين المهني وإنعاش الشغل",
    "\u200f\u202eRTL override",
    "Kénitra – « Cité des métiers »",
    "😀🇲🇦",
    "a" * 300,
    "line one\nline two",
    "tab\tand\rcarriage",
    "ofppt",
    "psa",
    "psa-dg",
    "MA",
    "ma",
    "2021-02-08",
    "2021-02-31",
    "-1",
    "1e309",
    "NaN",
    "x@example.org",
    "not an e-mail",
    "https://partner.example/hooks",
    "javascript:alert(1)",
    "drafting",
    "signature",
    "review_draft",
]
arabic = st.text(alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), max_size=30)
identifier_like = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
text = st.one_of(st.text(max_size=40), arabic, st.sampled_from(SPECIMENS), identifier_like)
# Every finite JSON/YAML scalar; non-finite numbers have tests of their own below.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
# A field named "" or "  ", or like a stage or an answer kind, has a test of its own below.
names = text.filter(lambda name: bool(name.strip()) and name not in _union_tags())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)


def places(document: Any) -> Iterator[tuple[dict[Any, Any] | list[Any], Any]]:
    """Every (container, key) in a nested document, the root's own fields included."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield document, key
            yield from places(value)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield document, index
            yield from places(value)


@st.composite
def spoiled(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    """A valid document spoiled in one to four places."""
    document = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        spots = list(places(document))
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        action = draw(st.sampled_from(["drop", "replace", "replace", "add"]))
        if action == "drop":
            del container[key]
        elif action == "replace":
            container[key] = draw(values)
        elif isinstance(container, dict):
            container[draw(names)] = draw(values)
        else:
            container.insert(key, draw(values))
    return document


def refused_field_by_field(error: InputError, data: Any) -> None:
    """Every error names its field (for a mapping) and a reason."""
    assert error.errors, error
    for problem in error.errors:
        assert problem.reason.strip(), error
        if isinstance(data, dict):
            assert problem.field.strip(), f"an error without its field: {problem!r}"


def carried_unchanged(model: BaseModel) -> None:
    """What was accepted is what a reader, PostgreSQL or a workflow gets back."""
    assert type(model).model_validate_json(model.model_dump_json()) == model
    converter = pydantic_data_converter.payload_converter
    [payload] = converter.to_payloads([model])
    assert converter.from_payloads([payload], [type(model)]) == [model]


# --- convention files ---------------------------------------------------------------------

CONVENTION_FILES = sorted(
    path for path in EXAMPLES.glob("*.yaml") if not path.name.endswith(".answers.yaml")
)
CONVENTIONS: list[dict[str, Any]] = [read_document(path) for path in CONVENTION_FILES]


@BOUNDED
@given(data=st.one_of(spoiled(CONVENTIONS), spoiled(CONVENTIONS), values))
def test_a_spoiled_convention_is_either_valid_and_carried_unchanged_or_refused_field_by_field(
    data: Any,
) -> None:
    try:
        convention = parse_model(Convention, data, "generated.yaml")
    except InputError as error:
        refused_field_by_field(error, data)
        return
    carried_unchanged(convention)


@settings(BOUNDED, max_examples=40)
@given(data=spoiled(CONVENTIONS), suffix=st.sampled_from([".yaml", ".json"]))
def test_a_spoiled_convention_file_is_loaded_or_refused_the_same_way_from_yaml_and_json(
    data: Any, suffix: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"convention{suffix}"
        if suffix == ".json":
            path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            convention = load_convention(path)
        except InputError as error:
            assert error.source == str(path)
            refused_field_by_field(error, data)
            return
    carried_unchanged(convention)


@pytest.mark.parametrize("name", ["", "  "], ids=["empty", "blank"])
def test_an_unknown_field_with_a_blank_name_is_refused_with_a_path_that_shows_where(
    name: str,
) -> None:
    data = copy.deepcopy(CONVENTIONS[0])
    data[name] = "x"
    data["parties"][0][name] = "y"

    with pytest.raises(InputError) as refused:
        parse_model(Convention, data, "blank-names.yaml")

    fields = [problem.field for problem in refused.value.errors]
    assert len(fields) == 2, refused.value
    for field in fields:  # a reader must see which mapping holds the stray field
        assert field.strip() and not field.endswith("."), refused.value


@pytest.mark.parametrize("name", ["drafting", "signature", "sign"])
def test_a_stray_field_named_like_a_stage_or_an_answer_kind_is_refused_naming_that_field(
    name: str,
) -> None:
    data = copy.deepcopy(CONVENTIONS[0])
    data[name] = None

    with pytest.raises(InputError) as refused:
        parse_model(Convention, data, "stray-field.yaml")

    assert [str(problem) for problem in refused.value.errors] == [
        f"{name}: Extra inputs are not permitted"
    ]


def test_an_indicator_target_that_is_not_a_finite_number_is_refused_not_silently_dropped() -> None:
    # YAML reads `.inf` as a float: the schema must refuse it, or carry it as it is.
    data = copy.deepcopy(next(c for c in CONVENTIONS if c["id"] == "tamansourt-cite-des-metiers"))
    implementation = next(s for s in data["stages"] if s["stage"] == "implementation")
    assert implementation["indicators"], "the example declares indicators"
    implementation["indicators"][0]["target"] = math.inf

    try:
        convention = parse_model(Convention, data, "infinite-target.yaml")
    except InputError as error:
        refused_field_by_field(error, data)
        return
    carried_unchanged(convention)


# --- answers, checked by the client ---------------------------------------------------------


def _scripted_answers() -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(EXAMPLES.glob("*.answers.yaml")):
        for step in read_document(path)["answers"]:
            by_kind.setdefault(step["answer"]["kind"], []).append(step["answer"])
    by_kind["fix_delivery"] = [
        {"kind": "fix_delivery", "decision": "retry"},
        {"kind": "fix_delivery", "decision": "dismiss", "comments": "Prévenu par téléphone."},
    ]
    by_kind["revise_funding_request"] = [
        {
            "kind": "revise_funding_request",
            "requested": {"amount": "30000000", "currency": "IsDB-ID"},
            "terms_of_reference": {"uri": "archive:tdr-v2.pdf", "sha256": "a" * 64},
            "note": "Périmètre réduit à deux centres — تقليص النطاق",
        }
    ]
    by_kind["resolve_escalation"] = [
        {"kind": "resolve_escalation", "comments": "Relancé par téléphone le 3 mars."}
    ]
    return by_kind


ANSWERS = _scripted_answers()
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def task_of(kind: TaskKind) -> Task:
    """An open task of this kind, owed by PSA."""
    return Task(
        id=f"stage.{kind.value}.1",
        convention_id="properties",
        stage="stage",
        kind=kind,
        assignee="psa",
        title=f"Une tâche « {kind.value} » – مهمة",
        assigned_at=NOW,
        due_at=NOW + timedelta(days=30),
    )


def test_every_kind_of_answer_has_a_valid_example() -> None:
    assert set(ANSWERS) == {kind.value for kind in TaskKind}
    for kind in TaskKind:
        for fields in ANSWERS[kind.value]:
            assert build_answer(task_of(kind), "psa", fields).answer.kind == kind.value


@st.composite
def answers(draw: st.DrawFn) -> tuple[Task, str, Any, str | None]:
    """A task of any kind, an acting party, spoiled answer fields and maybe a person."""
    kind = draw(st.sampled_from(list(TaskKind)))
    bases = [{k: v for k, v in fields.items() if k != "kind"} for fields in ANSWERS[kind.value]]
    fields = draw(st.one_of(spoiled(bases), spoiled(bases), st.dictionaries(names, values)))
    party = draw(st.one_of(st.just("psa"), text))
    actor = draw(st.one_of(st.none(), text))
    return task_of(kind), party, fields, actor


@BOUNDED
@given(answer=answers())
def test_a_spoiled_answer_of_any_kind_is_either_valid_and_carried_unchanged_or_refused_field_by_field(  # noqa: E501
    answer: tuple[Task, str, Any, str | None],
) -> None:
    task, party, fields, actor = answer
    try:
        request = build_answer(task, party, fields, actor)
    except InputError as error:
        assert task.id in error.source
        refused_field_by_field(error, {"answer": fields})
        return
    carried_unchanged(request)
    if "kind" not in fields:
        assert request.answer.kind == task.kind.value


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
def test_a_progress_report_with_a_number_that_is_not_finite_is_refused_before_it_is_sent(
    number: float,
) -> None:
    # `--set 'actuals={"seats": Infinity}'` parses as JSON in the CLI; YAML reads `.inf`.
    fields = {"reached": [], "actuals": {"seats": number}}

    try:
        request = build_answer(task_of(TaskKind.REPORT_PROGRESS), "psa", fields)
    except InputError as error:
        refused_field_by_field(error, {"answer": fields})
        return
    carried_unchanged(request)


# --- answers, checked by the workflow -------------------------------------------------------


def two_reviewers() -> Convention:
    """PSA and DMK review version 1, then PSA's director signs."""
    return convention_of(
        {
            "stage": "drafting",
            "document": {"uri": "archive:essais/proprietes/projet-v1.pdf"},
            "reviewers": ["psa", "dmk"],
        },
        {"stage": "signature", "signatories": ["psa-dg"]},
    )


REVIEWS = ["drafting.review.v1.psa", "drafting.review.v1.dmk"]


@dataclass
class Drafting:
    """The convention the workflow-level examples answer; replaced once an answer lands."""

    convention: Convention
    status: ConventionStatus
    rows: list[asyncpg.Record]
    accepted: int


class Desk:
    """One convention at rest in drafting, and what it looked like before each answer."""

    def __init__(self, client: Client, pool: asyncpg.Pool) -> None:
        self.client = client
        self.pool = pool
        self.current: Drafting | None = None
        self.started: list[str] = []

    async def drafting(self) -> Drafting:
        if self.current is None:
            convention = two_reviewers()
            await start_convention(self.client, convention, DEV_TASK_QUEUE)
            self.started.append(convention.id)
            for task_id in REVIEWS:
                await find_task(self.client, convention.id, task_id, wait_seconds=60)
            status = await settled_status(self.client, self.pool, convention.id, wait_seconds=60)
            self.current = Drafting(convention, status, await self.rows_at_rest(convention.id), 0)
        return self.current

    async def rows_at_rest(self, convention_id: str) -> list[asyncpg.Record]:
        """The rows once the last notifications and inbox upserts have landed."""
        previous = await self.rows(convention_id)
        for _ in range(100):
            await asyncio.sleep(0.3)
            rows = await self.rows(convention_id)
            inbox = {row["task_id"] for row in rows if "task_id" in row and "due_at" in row}
            if rows == previous and set(REVIEWS) <= inbox:
                return rows
            previous = rows
        raise AssertionError(f"{convention_id}: rows never came to rest")

    async def rows(self, convention_id: str) -> list[asyncpg.Record]:
        """Every stored row of the convention: milestones, notifications, inbox tasks."""
        return [
            *await self.pool.fetch(
                "SELECT * FROM milestones WHERE convention_id = $1 ORDER BY seq", convention_id
            ),
            *await self.pool.fetch(
                "SELECT * FROM notifications WHERE convention_id = $1 ORDER BY id", convention_id
            ),
            *await self.pool.fetch(
                "SELECT * FROM tasks WHERE convention_id = $1 ORDER BY task_id", convention_id
            ),
        ]

    async def accepted_updates(self, convention_id: str) -> int:
        history = await self.client.get_workflow_handle(
            workflow_id_for(convention_id)
        ).fetch_history()
        return sum(
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            for event in history.events
        )


@st.composite
def requests_to_the_workflow(draw: st.DrawFn) -> AnswerTask:
    """Answers a client could send past build_answer: any task id, any party, any kind."""
    task_id = draw(
        st.one_of(
            st.sampled_from([*REVIEWS, "drafting.review.v2.psa", "signature.sign.psa-dg"]),
            text.filter(lambda value: bool(value.strip())),
        )
    )
    party = draw(st.one_of(st.sampled_from(["psa", "dmk", "ofppt", "bid"]), identifier_like))
    kind = draw(st.sampled_from(list(TaskKind)))
    fields = dict(draw(st.sampled_from(ANSWERS[kind.value])))
    if kind is TaskKind.REVIEW_DRAFT:
        fields["version"] = draw(st.integers(min_value=1, max_value=3))
    actor = draw(st.one_of(st.none(), text))
    try:
        return AnswerTask.model_validate(
            {"task_id": task_id, "acting_party": party, "actor": actor, "answer": fields}
        )
    except ValueError:
        assume(False)
        raise


@pytest_asyncio.fixture(scope="module")
async def desk_holder(dev_env: WorkflowEnvironment) -> AsyncIterator[dict[str, Desk]]:
    """The module's desk (created by the first example); its conventions end with the module."""
    holder: dict[str, Desk] = {}
    yield holder
    desk = holder.get("desk")
    for convention_id in desk.started if desk else []:
        with contextlib.suppress(Refused):  # already over
            await terminate_convention(
                dev_env.client, convention_id, TerminateConvention(reason="fin des essais")
            )


@settings(BOUNDED, max_examples=30)
@given(request=requests_to_the_workflow())
async def test_the_workflow_accepts_exactly_the_answers_its_open_tasks_allow_and_a_refusal_changes_nothing(  # noqa: E501
    client: Client, db_pool: asyncpg.Pool, desk_holder: dict[str, Desk], request: AnswerTask
) -> None:
    desk = desk_holder.setdefault("desk", Desk(client, db_pool))
    drafting = await desk.drafting()
    convention_id = drafting.convention.id
    owed = {task.id: task for task in drafting.status.open_tasks}
    task = owed.get(request.task_id)
    acceptable = (
        task is not None
        and request.acting_party == task.assignee
        and request.answer.kind == task.kind.value
        and getattr(request.answer, "version", None) == 1
    )

    try:
        receipt = await answer_task(client, convention_id, request)
    except Refused as refused:
        field, separator, reason = str(refused).partition(": ")
        assert not acceptable, f"refused a fitting answer: {refused}"
        assert separator and reason.strip(), str(refused)
        assert field in {"task_id", "acting_party", "answer.kind", "answer.version"}, str(refused)
        assert await desk.rows(convention_id) == drafting.rows
        assert await desk.accepted_updates(convention_id) == drafting.accepted
        event(f"refused on {field}")
        return
    assert acceptable, f"accepted an answer its task does not allow: {request!r}"
    assert receipt.task_id == request.task_id
    event("accepted")
    desk.current = None  # the next example answers a fresh convention


async def test_a_convention_whose_text_holds_a_nul_character_is_refused_or_recorded_not_left_half_started(  # noqa: E501
    client: Client, db_pool: asyncpg.Pool
) -> None:
    # PostgreSQL's text cannot hold U+0000: accepted at the edge, the convention would start
    # and its first milestone would retry for ever.
    data = two_reviewers().model_dump(mode="json")
    data["title"] = "Convention\x00 tronquée – اتفاقية"

    try:
        convention = parse_model(Convention, data, "nul.yaml")
    except InputError as error:
        refused_field_by_field(error, data)
        return
    await start_convention(client, convention, DEV_TASK_QUEUE)
    try:
        first = None
        for _ in range(100):
            first = await db_pool.fetchval(
                "SELECT kind FROM milestones WHERE convention_id = $1 AND seq = 1", convention.id
            )
            if first is not None:
                break
            await asyncio.sleep(0.1)
        assert first == "convention_started", "accepted, started, and never recorded"
    finally:
        await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("test over")


async def test_an_answer_whose_comments_hold_a_nul_character_is_refused_or_recorded_not_left_pending(  # noqa: E501
    client: Client, db_pool: asyncpg.Pool
) -> None:
    # jsonb cannot hold \u0000 either: accepted, the answer's milestone would retry for ever
    # and the convention would wait on it, whatever the other parties do.
    convention = two_reviewers()
    await start_convention(client, convention, DEV_TASK_QUEUE)
    try:
        review = await find_task(client, convention.id, REVIEWS[0], wait_seconds=60)
        fields = {"decision": "approve", "version": 1, "comments": "Vu\x00 et approuvé"}
        try:
            request = build_answer(review, "psa", fields)
            await answer_task(client, convention.id, request)
        except InputError as error:
            refused_field_by_field(error, {"answer": fields})
            return
        except Refused as refused:
            field, _, reason = str(refused).partition(": ")
            assert field.startswith("answer") and reason.strip(), str(refused)
            return
        recorded = None
        for _ in range(100):
            recorded = await db_pool.fetchval(
                "SELECT count(*) FROM milestones"
                " WHERE convention_id = $1 AND kind = 'task_answered'",
                convention.id,
            )
            if recorded:
                break
            await asyncio.sleep(0.1)
        assert recorded == 1, "accepted, and its milestone never recorded"
    finally:
        await client.get_workflow_handle(workflow_id_for(convention.id)).terminate("test over")


# --- the command line -----------------------------------------------------------------------

USAGE_ERRORS = {
    "no command": [],
    "unknown command": ["frobnicate"],
    "unknown option": ["validate", "--strict", "x.yaml"],
    "missing argument": ["status"],
    "option without its value": ["list", "--stage"],
    "version that is not a number": ["act", "c", "t", "--as", "psa", "--version", "deux"],
    "act without --as": ["act", "c", "t"],
}


def run_starter(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python starter.py ARGS…`, offline (a closed Temporal port), from the project root."""
    return subprocess.run(
        [PYTHON, "starter.py", *args],
        cwd=PROJECT_ROOT,
        env=env or cli_env(temporal="127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_a_usage_error_exits_2_with_the_usage_and_no_traceback(args: list[str]) -> None:
    run = run_starter(*args)

    assert run.returncode == 2, run
    assert run.stdout == "", run
    assert "usage: starter.py" in run.stderr, run
    assert "Traceback" not in run.stderr, run


@settings(BOUNDED, max_examples=6)
@given(data=spoiled(CONVENTIONS))
def test_validate_exits_0_for_what_the_schema_accepts_and_1_field_by_field_for_the_rest(
    data: Any,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        try:
            load_convention(path)
            expected = 0
        except InputError as error:
            expected, problems = 1, error.errors
        run = run_starter("validate", str(path))

    assert run.returncode == expected, run
    assert "Traceback" not in run.stderr, run
    if expected == 1:
        lines = [line.strip() for line in run.stderr.splitlines()[1:] if line.strip()]
        assert run.stderr.startswith("refused: "), run
        assert len(lines) >= len(problems), run
    else:
        assert run.stdout.startswith("ok: "), run
