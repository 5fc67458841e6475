"""The convention editor's form, derived from the convention's own models: every field of
`Convention` and of each stage becomes an input named by its field path (`stages.2.host`),
so the errors of validation (the same models as `starter.py validate`) land beside the input
they concern; lists become rows added, removed and moved by submitting (no script needed).

Three jobs: `build` (the inputs of a document, with its errors placed), `parse` (the posted
inputs back into a document, what was typed kept even when it does not validate: a number
that is not one stays text, for validation to say so), and `apply` (a row added, removed or
moved up). `said` says an error in the reader's language from its code and parameters.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from rendering.validation import reason_text
from schemas.convention import STAGE_PARTY_FIELDS, Convention, StageSpec
from schemas.errors import FieldError
from web.i18n import N_, gettext

STAGE_MODELS: dict[str, type[BaseModel]] = {
    member.model_fields["stage"].default: member for member in get_args(get_args(StageSpec)[0])
}
"""Each stage kind's model, read from the union so a new stage is never forgotten."""
SKIPPED = {"origin"}
"""Fields the editor does not show: set by Pacte itself (a follow-up's origin)."""
PARTY_REFERENCES = {name for names in STAGE_PARTY_FIELDS.values() for name in names} | {"party"}

LABELS = {
    "id": N_("Id"),
    "title": N_("Title"),
    "titles": N_("The title in each language"),
    "names": N_("The name in each language"),
    "fr": N_("In French"),
    "ar": N_("In Arabic"),
    "en": N_("In English"),
    "kind": N_("Kind"),
    "parent": N_("Parent convention"),
    "sector": N_("Sector"),
    "dac_sector": N_("DAC sector code"),
    "reminders": N_("Reminders"),
    "before_due_days": N_("Reminder, days before the due date"),
    "late_every_days": N_("Once late, a reminder every (days)"),
    "officer": N_("Officer in charge"),
    "name": N_("Name"),
    "email": N_("E-mail"),
    "language": N_("Language"),
    "parties": N_("Parties"),
    "country": N_("Country (2 letters)"),
    "contacts": N_("Contacts"),
    "webhook_url": N_("Webhook URL"),
    "iati_role": N_("IATI role (1–4)"),
    "signatories": N_("Signatories"),
    "capacity": N_("Capacity"),
    "party": N_("Party"),
    "stages": N_("Stages"),
    "stage": N_("Stage"),
    "on_failure": N_("On failure (end, or a stage)"),
    "max_attempts": N_("Attempts at most"),
    "document": N_("Document"),
    "uri": N_("Address (URL)"),
    "sha256": N_("SHA-256"),
    "reviewers": N_("Reviewing parties"),
    "due_in_days": N_("Due in (days)"),
    "order": N_("Order"),
    "place": N_("Place"),
    "city": N_("City"),
    "site": N_("Site"),
    "host": N_("Host party"),
    "destination": N_("Destination"),
    "starts_on": N_("Starts on"),
    "ends_on": N_("Ends on"),
    "delegation": N_("Delegation"),
    "agenda": N_("Agenda"),
    "report_by": N_("Report filed by"),
    "report_due_days_after": N_("Report due (days after)"),
    "prepared_by": N_("Findings prepared by"),
    "agreed_by": N_("Outcomes agreed by"),
    "follow_ups": N_("Follow-up conventions (YAML or JSON)"),
    "funder": N_("Funder"),
    "terms_of_reference": N_("Terms of reference"),
    "requested": N_("Amount requested"),
    "amount": N_("Amount"),
    "currency": N_("Currency"),
    "implementer": N_("Implementing party"),
    "budget": N_("Budget"),
    "indicators": N_("Indicators"),
    "label": N_("Label"),
    "unit": N_("Unit"),
    "target": N_("Target"),
    "milestones": N_("Planned milestones"),
    "planned_on": N_("Planned on"),
    "report_every_days": N_("A progress report every (days)"),
}

ROW_LABELS = {
    "parties": N_("Party"),
    "contacts": N_("Contact"),
    "signatories": N_("Signatory"),
    "agenda": N_("Agenda item"),
    "indicators": N_("Indicator"),
    "milestones": N_("Planned milestone"),
    "reviewers": N_("Party"),
    "agreed_by": N_("Party"),
    "delegation": N_("Delegation member"),
}
"""What one row of a list is called ("Party 2" in the list of parties)."""

MESSAGES = {
    "missing": N_("Required."),
    "string_too_short": N_("Required."),
    "string_too_long": N_("At most %(max_length)s characters."),
    "too_long": N_("At most %(max_length)s rows."),
    "too_short": N_("At least %(min_length)s rows."),
    "string_pattern_mismatch": N_("Not in the expected form."),
    "greater_than_equal": N_("At least %(ge)s."),
    "less_than_equal": N_("At most %(le)s."),
    "enum": N_("Choose one of: %(expected)s."),
    "literal_error": N_("Choose one of: %(expected)s."),
    "union_tag_invalid": N_("Unknown stage %(tag)s."),
    "extra_forbidden": N_("Not a field of this form."),
    "date_from_datetime_parsing": N_("Not a date (YYYY-MM-DD)."),
    "date_parsing": N_("Not a date (YYYY-MM-DD)."),
    "date_type": N_("Not a date (YYYY-MM-DD)."),
    "int_parsing": N_("Not a whole number."),
    "int_from_float": N_("Not a whole number."),
    "float_parsing": N_("Not a number."),
    "decimal_parsing": N_("Not a number."),
    "decimal_max_places": N_("At most %(decimal_places)s decimals."),
    "decimal_max_digits": N_("At most %(max_digits)s digits."),
    "url_parsing": N_("Not a web address (https://…)."),
    "url_scheme": N_("Not a web address (https://…)."),
    "appears_twice": N_("%(value)s appears twice."),
    "unknown_party": N_("Unknown party %(party)s: add it to the parties first."),
    "unknown_signatory": N_("Unknown signatory %(signatory)s: add it to the signatories first."),
    "on_failure_unknown": N_("%(value)s is neither 'end' nor a declared stage."),
    "one_training_office": N_(
        "Exactly one party of kind training office is required (found %(found)s)."
    ),
    "own_parent": N_("A convention cannot be its own parent."),
    "follow_up_id": N_("A follow-up needs its own id."),
    "ends_before_start": N_("Ends before it starts (%(start)s)."),
}
EMAIL = N_("Not an e-mail address.")
ENDS_BEFORE = N_("Ends before it starts (%(start)s).")
STALE = N_("Another officer changed this draft since you opened it: nothing was saved.")
POSITION = N_("line %(line)s, column %(column)s")


def _isolated(text: str) -> str:
    return f"\u2068{text}\u2069"


def said(error: FieldError, language: str) -> str:
    """The error's reason in the reader's language (the convention's own checks by their
    code here; pydantic's error types as rendering.validation says them; else the reason as
    the catalogue has it), with its line and column if known."""
    template = MESSAGES.get(error.code)
    if template is None and error.reason.startswith("value is not a valid email address"):
        template = EMAIL
    if template is not None:
        # Values are isolated (FSI … PDI): an id keeps its order inside an Arabic sentence;
        # pydantic's "'a', 'b' or 'c'" loses its English "or".
        params = {key: _isolated(value.replace("' or '", "', '")) for key, value in error.params}
        try:
            text = gettext(language, template) % params
        except (KeyError, TypeError, ValueError):
            text = reason_text(error.reason, language)
    else:
        # pydantic's own error types, said by the record's one rendering (rendering.validation)
        text = reason_text(error.reason, language)
    if error.line:
        position = gettext(language, POSITION) % {"line": error.line, "column": error.column}
        text = f"{text} ({position})"
    return text


# --- shapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a field holds, as the form sees it."""

    widget: str  # text, date, int, number, decimal, select, fixed, json, group, rows, list,
    #              stages
    model: type[BaseModel] | None = None
    options: tuple[str, ...] = ()
    item: Shape | None = None


def shape_of(annotation: Any) -> Shape:
    """The form's shape of a field's type."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return shape_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return shape_of(members[0])
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            return Shape("stage")
        return Shape("text")
    if origin is list:
        item = shape_of(get_args(annotation)[0])
        if item.widget == "stage":
            return Shape("stages", item=item)
        if item.widget == "group" and item.model is Convention:
            return Shape("json")
        if item.widget == "group":
            return Shape("rows", model=item.model, item=item)
        return Shape("list", item=item)
    if origin is dict:
        key = get_args(annotation)[0] if get_args(annotation) else None
        if isinstance(key, type) and issubclass(key, Enum):
            # A text per language (a title in French, Arabic, English): one input each.
            return Shape("languages", options=tuple(str(m.value) for m in key))
        # Another mapping: written as YAML in one box, its keys the reader's own.
        return Shape("json")
    if origin is Literal:
        return Shape("fixed", options=tuple(str(a) for a in get_args(annotation)))
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return Shape("group", model=annotation)
        if issubclass(annotation, Enum):
            return Shape("select", options=tuple(str(m.value) for m in annotation))
        if issubclass(annotation, bool):
            return Shape("text")
        if issubclass(annotation, int):
            return Shape("int")
        if issubclass(annotation, float):
            return Shape("number")
        if issubclass(annotation, Decimal):
            return Shape("decimal")
        if issubclass(annotation, date):
            return Shape("date")
    return Shape("text")


def _fields(model: type[BaseModel]) -> list[tuple[str, Shape, bool]]:
    return [
        (name, shape_of(info.annotation), info.is_required())
        for name, info in model.model_fields.items()
        if name not in SKIPPED
    ]


# --- building the inputs ------------------------------------------------------------------


@dataclass
class Input:
    """One input, group or list of rows of the form, with the errors placed on it."""

    path: str
    name: str
    widget: str
    value: Any = ""
    required: bool = False
    options: tuple[str, ...] = ()
    children: list[Input] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    suggest: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        """The element's id: its path, dots as dashes."""
        return "f-" + self.path.replace(".", "-")

    @property
    def label(self) -> str:
        """Its label's message id (a row is labelled by its number)."""
        last = self.path.rsplit(".", 1)[-1]
        return LABELS.get(self.name, self.name) if not last.isdigit() else ""

    @property
    def row_label(self) -> str:
        """The message id naming one row of this list."""
        return ROW_LABELS.get(self.name, LABELS.get(self.name, self.name))

    @property
    def number(self) -> int:
        """A row's number, from 1."""
        last = self.path.rsplit(".", 1)[-1]
        return int(last) + 1 if last.isdigit() else 0


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build(document: dict[str, Any]) -> list[Input]:
    """The inputs of a convention's document, in the models' order."""
    return _model_inputs(Convention, document, "")


def _model_inputs(model: type[BaseModel], values: Any, prefix: str) -> list[Input]:
    values = values if isinstance(values, dict) else {}
    inputs = []
    for name, shape, required in _fields(model):
        path = _join(prefix, name)
        inputs.append(_input(name, path, shape, values.get(name), required))
    return inputs


def _input(name: str, path: str, shape: Shape, value: Any, required: bool) -> Input:
    widget = shape.widget
    suggest = "parties" if name in PARTY_REFERENCES else ""
    if widget == "group":
        assert shape.model is not None
        children = _model_inputs(shape.model, value, path)
        return Input(path, name, "group", required=required, children=children)
    if widget == "rows":
        assert shape.model is not None
        rows = value if isinstance(value, list) else []
        children = [
            Input(
                f"{path}.{i}", name, "row", children=_model_inputs(shape.model, row, f"{path}.{i}")
            )
            for i, row in enumerate(rows)
        ]
        return Input(path, name, "rows", required=required, children=children)
    if widget == "stages":
        rows = value if isinstance(value, list) else []
        children = []
        for i, row in enumerate(rows):
            kind = row.get("stage") if isinstance(row, dict) else None
            model = STAGE_MODELS.get(kind) if isinstance(kind, str) else None
            row_path = f"{path}.{i}"
            inner = (
                _model_inputs(model, row, row_path)
                if model is not None
                else [Input(f"{row_path}.stage", "stage", "fixed", _scalar(kind))]
            )
            children.append(Input(row_path, "stage", "stage", _scalar(kind), children=inner))
        return Input(
            path, name, "stages", required=required, children=children, options=tuple(STAGE_MODELS)
        )
    if widget == "list":
        assert shape.item is not None
        rows = value if isinstance(value, list) else []
        if name == "signatories":
            suggest = "signatories"
        children = [
            Input(f"{path}.{i}", name, "item", _scalar(item), suggest=suggest)
            for i, item in enumerate(rows)
        ]
        return Input(path, name, "list", required=required, children=children, suggest=suggest)
    if widget == "languages":
        given = value if isinstance(value, dict) else {}
        # The languages given first, in their order (the first is the original), then the
        # others empty; a key that is no language (an imported file's) kept as typed.
        order = [str(k) for k in given] + [o for o in shape.options if o not in given]
        children = [Input(f"{path}.{key}", key, "text", _scalar(given.get(key))) for key in order]
        return Input(path, name, "group", required=required, children=children)
    if widget == "json":
        text = "" if not value else yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
        return Input(path, name, "json", value if isinstance(value, str) else text)
    if widget == "fixed":
        return Input(path, name, "fixed", _scalar(value) or shape.options[0])
    return Input(
        path,
        name,
        widget,
        _scalar(value),
        required=required,
        options=shape.options,
        suggest=suggest,
    )


def walk(inputs: list[Input]) -> list[Input]:
    """Every input of the tree, depth first."""
    found: list[Input] = []
    for one in inputs:
        found.append(one)
        found.extend(walk(one.children))
    return found


def place_errors(inputs: list[Input], errors: list[FieldError], language: str) -> list[str]:
    """Put each error on the input of its field (or the nearest one holding it, naming the
    rest of the path); those of no input (the whole file) are returned for the page's top."""
    by_path = {one.path: one for one in walk(inputs)}
    top: list[str] = []
    for error in errors:
        parts = error.field.split(".") if error.field else []
        for cut in range(len(parts), 0, -1):
            owner = by_path.get(".".join(parts[:cut]))
            if owner is not None:
                rest = ".".join(parts[cut:])
                text = said(error, language)
                owner.errors.append(f"{rest}: {text}" if rest else text)
                break
        else:
            top.append(said(error, language))
    return top


# --- reading the posted form --------------------------------------------------------------

Form = dict[str, list[str]]


def _first(form: Form, name: str) -> str:
    values = form.get(name) or []
    return values[0].strip() if values else ""


def _indexes(form: Form, path: str) -> list[int]:
    prefix = path + "."
    found = set()
    for key in form:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def parse(form: Form) -> dict[str, Any]:
    """The posted inputs as a convention's document (what was typed, valid or not)."""
    return _parse_model(Convention, form, "")


def _parse_model(model: type[BaseModel], form: Form, prefix: str) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for name, shape, _required in _fields(model):
        value = _parse(shape, form, _join(prefix, name))
        if value is not None:
            document[name] = value
    return document


def _number(raw: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(raw.replace(" ", "").replace("\u202f", "").replace(",", "."))
    except ValueError:
        return raw  # said beside the field by validation


def _parse(shape: Shape, form: Form, path: str) -> Any:
    widget = shape.widget
    if widget in ("text", "select", "date", "fixed"):
        return _first(form, path) or None
    if widget == "int":
        raw = _first(form, path)
        return _number(raw, int) if raw else None
    if widget == "number":
        raw = _first(form, path)
        return _number(raw, float) if raw else None
    if widget == "decimal":
        raw = _first(form, path)
        cleaned = raw.replace(" ", "").replace("\u202f", "").replace("\xa0", "").replace(",", ".")
        return cleaned or None
    if widget == "languages":
        prefix = path + "."
        given = {key[len(prefix) :]: _first(form, key) for key in form if key.startswith(prefix)}
        return {language: text for language, text in given.items() if text} or None
    if widget == "json":
        raw = _first(form, path)
        if not raw:
            return None
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw
    if widget == "group":
        assert shape.model is not None
        return _parse_model(shape.model, form, path) or None
    if widget == "rows":
        assert shape.model is not None
        rows = [_parse_model(shape.model, form, f"{path}.{i}") for i in _indexes(form, path)]
        return [row for row in rows if row] or None
    if widget == "stages":
        stages = []
        for i in _indexes(form, path):
            kind = _first(form, f"{path}.{i}.stage")
            model = STAGE_MODELS.get(kind)
            row = _parse_model(model, form, f"{path}.{i}") if model else {"stage": kind}
            stages.append(row)
        return stages or None
    if widget == "list":
        items = [_first(form, f"{path}.{i}") for i in _indexes(form, path)]
        return [item for item in items if item] or None
    return None


# --- adding, removing, moving rows --------------------------------------------------------


def _container(document: dict[str, Any], path: str, *, create: bool) -> list[Any] | None:
    target: Any = document
    parts = path.split(".")
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(target, dict):
            if part not in target and create:
                target[part] = [] if last else {}
            target = target.get(part)
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target if isinstance(target, list) else None


def _shape_at(path: str, document: dict[str, Any]) -> Shape | None:
    """The shape of the list field at a path of the document."""
    model: type[BaseModel] | None = Convention
    shape: Shape | None = None
    parts = path.split(".")
    target: Any = document
    for part in parts:
        if part.isdigit():
            target = target[int(part)] if isinstance(target, list) else None
            if shape is not None and shape.widget == "stages" and isinstance(target, dict):
                model = STAGE_MODELS.get(str(target.get("stage")))
            elif shape is not None and shape.widget == "rows":
                model = shape.model
            continue
        if model is None or part not in model.model_fields:
            return None
        shape = shape_of(model.model_fields[part].annotation)
        target = target.get(part) if isinstance(target, dict) else None
        model = shape.model if shape.widget == "group" else None
    return shape


def apply(document: dict[str, Any], action: str, extra: dict[str, Any] | None = None) -> bool:
    """Do a row action on the document: `add:<list>` (a blank row, or `extra` as the row),
    `remove:<list>.<i>`, `up:<list>.<i>`. False for an action that names no list."""
    verb, _, path = action.partition(":")
    if verb == "add":
        shape = _shape_at(path, document)
        if shape is None or shape.widget not in ("rows", "list", "stages"):
            return False
        rows = _container(document, path, create=True)
        if rows is None:
            return False
        rows.append(extra if extra is not None else ("" if shape.widget == "list" else {}))
        return True
    if verb in ("remove", "up"):
        parent, _, index = path.rpartition(".")
        rows = _container(document, parent, create=False) if index.isdigit() else None
        if rows is None or int(index) >= len(rows):
            return False
        position = int(index)
        if verb == "remove":
            rows.pop(position)
        elif position > 0:
            rows[position - 1], rows[position] = rows[position], rows[position - 1]
        return True
    return False
