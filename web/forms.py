"""One form per task kind, described as data: the template draws it, `parse_form` reads it.

A form's inputs are named after the answer's own fields (`granted.amount`, `place.city`), so
the field errors of the answer's validation (the CLI's, `build_answer`) land beside the input
they concern. Labels are gettext message ids, translated in the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from application.partner import TaskView
from schemas.convention import (
    FundingRequestStage,
    ImplementationStage,
    MissionStage,
    StageSpec,
)
from schemas.tasks import TaskKind
from web.i18n import N_


@dataclass(frozen=True)
class Option:
    """A choice: its value, and its label (a message id, or a name shown as written)."""

    value: str
    label: str
    translate: bool = True


DECISIONS: tuple[Option, ...] = (
    Option("approve", N_("Approve")),
    Option("request_changes", N_("Request changes")),
    Option("sign", N_("Sign")),
    Option("refuse", N_("Refuse")),
    Option("withdraw", N_("Withdraw")),
    Option("agree", N_("Agree")),
    Option("disagree", N_("Disagree")),
    Option("reject", N_("Reject")),
    Option("more_information", N_("Ask for more information")),
    Option("retry", N_("Retry")),
    Option("dismiss", N_("Dismiss")),
)
"""Every decision an answer may carry (schemas/tasks.py's `decision` fields), as the office's
"answer for the party" form offers them: the value is the code the workflow reads, the label
the reader's language's."""


@dataclass(frozen=True)
class Field:
    """One input (or group of inputs) of a form."""

    widget: str  # choice, text, textarea, lines, money, place, document, checks, items,
    #              numbers, cohorts, date, files
    name: str
    label: str
    options: list[Option] = field(default_factory=list)
    hint: str | None = None
    required: bool = False


_MONEY_PARTS = ("amount", "currency")
_PLACE_PARTS = ("city", "country", "site")
_DOCUMENT_PARTS = ("uri", "sha256")
COHORT_ROWS = 3


def _stage(view: TaskView, kind: type[Any]) -> Any:
    """The stage spec of the task's stage (a stage run again keeps its spec)."""
    assert view.task is not None
    base = view.task.stage.split("-")[0]
    specs: list[StageSpec] = list(view.convention.stages)
    for spec in specs:
        if spec.stage == base and isinstance(spec, kind):
            return spec
    return None


_ATTACHMENTS = Field("files", "attachments", N_("Attached documents"))
"""Files sent with an answer that has no document field of its own (application/documents.py
stores them and lists them in the answer's `attachments`)."""


def form_for(view: TaskView) -> list[Field]:
    """The inputs of the task's answer, with the convention's items as options."""
    fields = _form_for(view)
    assert view.task is not None
    if view.task.kind in (
        TaskKind.FILE_FINDINGS,
        TaskKind.DECIDE_FUNDING,
        TaskKind.REPORT_PROGRESS,
    ):
        fields.insert(
            len(fields) - 1 if fields[-1].name == "comments" else len(fields), _ATTACHMENTS
        )
    return fields


def _form_for(view: TaskView) -> list[Field]:
    task = view.task
    assert task is not None
    kind = task.kind
    if kind is TaskKind.SIGN:
        return [
            Field(
                "choice",
                "decision",
                N_("Your decision"),
                [
                    Option("sign", N_("Sign")),
                    Option("refuse", N_("Refuse")),
                    Option("withdraw", N_("Withdraw")),
                ],
                required=True,
            ),
            Field("place", "place", N_("Place of signature")),
            Field("textarea", "reason", N_("Reason (to refuse or withdraw)")),
        ]
    if kind is TaskKind.REVIEW_DRAFT:
        return [
            Field(
                "choice",
                "decision",
                N_("Your review"),
                [
                    Option("approve", N_("Approve")),
                    Option("request_changes", N_("Request changes")),
                ],
                required=True,
            ),
            Field("textarea", "comments", N_("Comments (required to request changes)")),
        ]
    if kind is TaskKind.DECIDE_FUNDING:
        return [
            Field(
                "choice",
                "decision",
                N_("Your decision"),
                [
                    Option("approve", N_("Approve")),
                    Option("reject", N_("Reject")),
                    Option("more_information", N_("Ask for more information")),
                ],
                required=True,
            ),
            Field("money", "granted", N_("Amount granted (to approve)")),
            Field("textarea", "comments", N_("Comments (the reason to reject, the question)")),
        ]
    if kind is TaskKind.REPORT_PROGRESS:
        spec: ImplementationStage | None = _stage(view, ImplementationStage)
        milestones = [Option(m.id, m.label, False) for m in (spec.milestones if spec else [])]
        indicators = [
            Option(i.id, f"{i.label} ({i.unit})", False) for i in (spec.indicators if spec else [])
        ]
        return [
            Field("checks", "reached", N_("Planned milestones reached"), milestones),
            Field("numbers", "actuals", N_("Indicator values to date"), indicators),
            Field("money", "spent", N_("Spent to date")),
            Field("cohorts", "cohorts", N_("Cohorts started or finished")),
            Field("textarea", "comments", N_("Comments")),
        ]
    if kind is TaskKind.HOST_MISSION:
        mission: MissionStage | None = _stage(view, MissionStage)
        items = [
            Option(item.id, item.title + (f" — {item.site}" if item.site else ""), False)
            for item in (mission.agenda if mission else [])
        ]
        return [
            Field("items", "agenda", N_("Agenda: held or cancelled"), items),
            Field("textarea", "comments", N_("Comments")),
        ]
    if kind is TaskKind.FILE_MISSION_REPORT:
        return [
            Field("document", "report", N_("The report"), required=True),
            Field("textarea", "summary", N_("Summary"), required=True),
        ]
    if kind is TaskKind.FILE_FINDINGS:
        return [
            Field("lines", "findings", N_("Findings (one per line)"), required=True),
            Field("lines", "recommendations", N_("Recommendations (one per line)")),
            Field("date", "restitution.held_on", N_("Restitution held on")),
            Field("place", "restitution.place", N_("Restitution place")),
            Field("lines", "restitution.attendees", N_("Attendees (one per line)")),
        ]
    if kind is TaskKind.AGREE_OUTCOMES:
        return [
            Field(
                "choice",
                "decision",
                N_("Your position"),
                [Option("agree", N_("Agree")), Option("disagree", N_("Disagree"))],
                required=True,
            ),
            Field("lines", "outcomes", N_("Outcomes agreed (one per line)")),
            Field("textarea", "comments", N_("Comments (required to disagree)")),
        ]
    if kind is TaskKind.FIX_DELIVERY:
        return [
            Field(
                "choice",
                "decision",
                N_("Decision"),
                [Option("retry", N_("Retry")), Option("dismiss", N_("Dismiss"))],
                required=True,
            ),
            Field("textarea", "comments", N_("Comments")),
        ]
    if kind is TaskKind.REVISE_DRAFT:
        return [
            Field("document", "document", N_("The new version"), required=True),
            Field("textarea", "comments", N_("Comments")),
        ]
    if kind is TaskKind.PROVIDE_INFORMATION:
        return [
            Field("document", "document", N_("A document")),
            Field("textarea", "comments", N_("The information"), required=True),
        ]
    return [Field("textarea", "comments", N_("Comments"), required=True)]


def requested_money(view: TaskView) -> dict[str, Any] | None:
    """For a funding decision: the amount requested, shown above the form."""
    spec: FundingRequestStage | None = _stage(view, FundingRequestStage)
    return spec.requested.model_dump(mode="json") if spec else None


def parse_form(view: TaskView, form: dict[str, list[str]]) -> dict[str, Any]:
    """The submitted inputs as the answer's fields (an API body: {"answer": {...}})."""
    answer: dict[str, Any] = {}
    for spec in form_for(view):
        value = _read(spec, form)
        if value is None:
            continue
        if spec.name == "agenda":
            answer.update(value)
            continue
        _put(answer, spec.name, value)
    if view.task is not None and view.task.kind is TaskKind.REVIEW_DRAFT:
        document = view.draft_document()
        if document and document.get("version") is not None:
            answer["version"] = document["version"]
    if view.task is not None and view.task.kind is TaskKind.SIGN:
        # The hash of the text the page showed: a newer version meanwhile is refused.
        shown = _first(form, "document_sha256")
        if shown is not None:
            answer["document_sha256"] = shown
    return {"answer": answer}


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name) or []
    value = values[0].strip() if values else ""
    return value or None


def _read(spec: Field, form: dict[str, list[str]]) -> Any:
    name = spec.name
    if spec.widget in {"choice", "text", "textarea", "date"}:
        return _first(form, name)
    if spec.widget == "lines":
        text = _first(form, name)
        return [line.strip() for line in text.splitlines() if line.strip()] if text else None
    if spec.widget in {"money", "place", "document"}:
        parts = {"money": _MONEY_PARTS, "place": _PLACE_PARTS, "document": _DOCUMENT_PARTS}
        group = {
            part: value
            for part in parts[spec.widget]
            if (value := _first(form, f"{name}.{part}")) is not None
        }
        if "amount" in group:
            # "1 250 000,50" as people type it; the decimal keeps its precision as text.
            group["amount"] = _amount(group["amount"])
        return group or None
    if spec.widget == "checks":
        chosen = [v for v in form.get(name, []) if v]
        return chosen or None
    if spec.widget == "numbers":
        numbers: dict[str, Any] = {}
        for option in spec.options:
            raw = _first(form, f"{name}.{option.value}")
            if raw is not None:
                numbers[option.value] = _number(raw)
        return numbers or None
    if spec.widget == "items":
        held = [o.value for o in spec.options if _first(form, f"{name}.{o.value}") == "held"]
        cancelled = [
            o.value for o in spec.options if _first(form, f"{name}.{o.value}") == "cancelled"
        ]
        return {"held": held, "cancelled": cancelled}
    if spec.widget == "cohorts":
        rows = []
        for index in range(COHORT_ROWS):
            row = {
                part: raw
                for part in ("id", "event", "trainees", "graduates", "cities")
                if (raw := _first(form, f"{name}.{index}.{part}")) is not None
            }
            if row:
                for number in ("trainees", "graduates", "cities"):
                    if number in row:
                        row[number] = _number(row[number])
                rows.append(row)
        return rows or None
    return None


def _amount(raw: str) -> str:
    """An amount without its group separators, with a decimal point."""
    return raw.replace(" ", "").replace("\u202f", "").replace("\xa0", "").replace(",", ".")


def _number(raw: str) -> Any:
    """A typed number as JSON would carry it; left as text for validation to refuse."""
    cleaned = _amount(raw)
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        return float(cleaned)
    except ValueError:
        return raw


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def errors_by_field(
    errors: list[tuple[str, str]], fields: list[Field]
) -> dict[str, list[tuple[str, str]]]:
    """Each error under the form field it concerns ('' for the form as a whole), as (the part
    of the field at fault, or '', the reason): the reason is translated where it is shown."""
    placed: dict[str, list[tuple[str, str]]] = {}
    names = sorted((f.name for f in fields), key=len, reverse=True)
    for path, reason in errors:
        path = path.removeprefix("answer.").removeprefix("answer")
        if path.startswith(("held", "cancelled")):
            path = "agenda"
        owner = next((n for n in names if path == n or path.startswith(n + ".")), "")
        part = path.removeprefix(owner).removeprefix(".") if owner else path
        placed.setdefault(owner, []).append((part, reason))
    return placed
