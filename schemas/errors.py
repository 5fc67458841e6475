"""Input errors that name the field and the reason, one per problem."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as attribute
from enum import StrEnum
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField


@cache
def _union_tags() -> frozenset[str]:
    """Discriminator values that pydantic inserts in error locations: every stage and answer
    kind, read from the enums and stage models so that a new one is never forgotten."""
    from schemas.convention import StageSpec
    from schemas.tasks import TaskKind

    stages = {member.model_fields["stage"].default for member in get_args(get_args(StageSpec)[0])}
    return frozenset(stages | {kind.value for kind in TaskKind})


def _readable_path(loc: tuple[int | str, ...]) -> list[str]:
    """The location as a reader sees it: without pydantic's union tags, blanks quoted.

    A tag stands right after a list index (stages.0.signature…) or the answer field
    (answer.sign…); anywhere else the same word is a real field name and is kept.
    """
    parts: list[str] = []
    previous: int | str | None = None
    for part in loc:
        is_tag = str(part) in _union_tags() and (isinstance(previous, int) or previous == "answer")
        if not is_tag:
            # A blank key (a stray "" field) is quoted, so the path still shows where it is.
            parts.append(str(part) if str(part).strip() else repr(part))
        previous = part
    return parts


WRONG_CODE = "wrong_code"
"""The code of a one-time code that is not the one sent; its parameter `left` counts the
tries left."""

EMAIL_INVALID = "email_invalid"
"""The code of an e-mail address that is none (the directory's person, an account)."""


class Reason(str):
    """A reason that is also a fact: the English text, and what a reader's language needs to
    say it again (pydantic's error type or Pacte's own code, its parameters, the field).
    Everything that reads a reason as a string keeps working; the desks say it in the
    reader's language (rendering.validation)."""

    code: str
    params: dict[str, Any]
    field: str

    def __new__(
        cls, text: str, code: str, params: dict[str, Any] | None = None, field: str = ""
    ) -> Reason:
        reason = super().__new__(cls, text)
        reason.code = code
        reason.params = dict(params or {})
        reason.field = field
        return reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (Reason, (str(self), self.code, self.params, self.field))


@dataclass(frozen=True)
class FieldError:
    """One problem: where (a dotted field path, '' for the whole input) and why.

    `code` and `params` say the same reason as data (pydantic's error type and context, or
    one of the convention's own checks), so a page can say it in its reader's language;
    `line` and `column` (1-based) say where a file holds the field. None of them takes part
    in comparisons: two errors are the same when their field and reason are."""

    field: str
    reason: str
    code: str = attribute(default="", compare=False)
    params: tuple[tuple[str, str], ...] = attribute(default=(), compare=False)
    line: int | None = attribute(default=None, compare=False)
    column: int | None = attribute(default=None, compare=False)

    def __str__(self) -> str:
        said = f"{self.field}: {self.reason}" if self.field else self.reason
        return said + (f" (line {self.line}, column {self.column})" if self.line else "")


class InputError(Exception):
    """Input refused before anything started or was written; lists every problem."""

    def __init__(self, source: str, errors: list[FieldError]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(str(error) for error in errors))


def field_errors(error: ValidationError, *, prefix: str = "") -> list[FieldError]:
    """Flatten pydantic's errors into field paths, splitting our own 'path: reason' messages."""
    found: list[FieldError] = []
    for detail in error.errors():
        parts = _readable_path(detail["loc"])
        base = ".".join(([prefix] if prefix else []) + parts)
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] != "value_error":
            field = next((str(p) for p in reversed(detail["loc"]) if isinstance(p, str)), "")
            context = {key: str(value) for key, value in (detail.get("ctx") or {}).items()}
            found.append(
                FieldError(
                    base,
                    Reason(message, detail["type"], context, field),
                    detail["type"],
                    tuple(context.items()),
                )
            )
            continue
        for piece in message.split("; "):
            field, separator, reason = piece.partition(": ")
            if separator and " " not in field:
                found.append(FieldError(".".join(p for p in (base, field) if p), reason))
            else:
                found.append(FieldError(base, piece))
    return found


# --- the workflow's refusals ----------------------------------------------------------------


class RefusalCode(StrEnum):
    """Why a convention's workflow refused an answer or an officer's action: a stable machine
    code (the API gives it beside the English message), said in each reader's language by
    rendering.refusals from its parameters."""

    UNKNOWN_TASK = "unknown_task"
    TASK_DONE = "task_done"
    TASK_CANCELLED = "task_cancelled"
    NOT_OWED = "not_owed"
    WRONG_ANSWER_KIND = "wrong_answer_kind"
    NOT_THE_ACTING_PARTY = "not_the_acting_party"
    TASK_REASSIGNED = "task_reassigned"
    DUE_WITHOUT_TIME_ZONE = "due_without_time_zone"
    DUE_NOT_LATER = "due_not_later"
    NOT_A_CONTACT = "not_a_contact"
    ALREADY_WITH_CONTACT = "already_with_contact"
    TERMINATION_REQUESTED = "termination_requested"
    CONVENTION_COMPLETED = "convention_completed"
    CONVENTION_FAILED = "convention_failed"
    CONVENTION_TERMINATED = "convention_terminated"
    WRONG_VERSION = "wrong_version"
    UNKNOWN_AGENDA_ITEM = "unknown_agenda_item"
    HELD_AND_CANCELLED = "held_and_cancelled"
    AGENDA_ITEMS_UNACCOUNTED = "agenda_items_unaccounted"
    UNKNOWN_PLANNED_MILESTONE = "unknown_planned_milestone"
    MILESTONE_ALREADY_CLOSED = "milestone_already_closed"
    MILESTONE_WAS_CANCELLED = "milestone_was_cancelled"
    CANCELLED_TWICE = "cancelled_twice"
    COHORT_ALREADY_CANCELLED = "cohort_already_cancelled"
    COHORT_ALREADY_FINISHED = "cohort_already_finished"
    COHORT_WAS_CANCELLED = "cohort_was_cancelled"
    COHORT_ALREADY_STARTED = "cohort_already_started"
    COHORT_NEVER_STARTED = "cohort_never_started"
    UNKNOWN_INDICATOR = "unknown_indicator"
    OFFICER_WITHOUT_NAME = "officer_without_name"
    OFFICER_WITHOUT_EMAIL = "officer_without_email"
    SAME_OFFICER = "same_officer"
    STILL_STARTING = "still_starting"
    OFFICER_CHANGE_UNSUPPORTED = "officer_change_unsupported"
    """A run recorded before the responsible officer could be changed (never taken)."""
    STAGE_RULE = "stage_rule"
    """A stage's rule that raised a plain ValueError rather than its own code (every rule the
    stages have has one): said as "does not meet the stage's rule", its field placed, the
    English text given to English readers and on the API."""


RefusalValue = str | int | list[str]


class Refusal(BaseModel):
    """A workflow's refusal as data: its code, the field at fault (a dotted path, '' for the
    whole request) and the values its sentence names (ids, names, dates as ISO text, counts).
    The English message travels beside it; rendering.refusals says it in the reader's
    language."""

    model_config = ConfigDict(frozen=True)

    code: RefusalCode
    field: str = ""
    params: dict[str, RefusalValue] = PydanticField(default_factory=dict)

    def reason(self, text: str) -> Reason:
        """The refusal as a Reason: `text` (the English message) for whatever reads a string,
        the code and parameters for whatever says it again."""
        return Reason(text, self.code.value, dict(self.params), self.field)


# --- the desks' details -----------------------------------------------------------------------


class DetailCode(StrEnum):
    """A refusal's detail that names values (a convention, a task, a date): a code, so the
    desks' error pages say it in their reader's language (rendering.details). A detail with
    nothing to fill is its own code: its English text is a catalogue message."""

    LINK_WITHDRAWN = "link_withdrawn"
    LINK_REASSIGNED = "link_reassigned"
    LINK_EXPIRED = "link_expired"
    CONVENTION_UNKNOWN = "convention_unknown"
    NO_TASK_FOR_YOU = "no_task_for_you"
    NO_DOCUMENT = "no_document"
    DOCUMENT_UNREADABLE = "document_unreadable"
    NO_SEALED_ORIGINAL = "no_sealed_original"
    NO_TABLE = "no_table"
    NO_EXPORT = "no_export"
    NO_PERSON_ACTING = "no_person_acting"
    NO_ORGANISATION = "no_organisation"
    ROLE_MAY_NOT = "role_may_not"
    CODE_NOT_SENT = "code_not_sent"
    CONVENTION_CLOSED = "convention_closed"
    NOT_IN_FORCE = "not_in_force"
    TEXT_NOT_HELD = "text_not_held"
    CERTIFICATE_CANNOT_SEAL = "certificate_cannot_seal"
    NOT_CONVERTED = "not_converted"
    NOT_SEALABLE_TYPE = "not_sealable_type"
    NOT_SEALED = "not_sealed"
    NO_ACTIVE_PERSON = "no_active_person"
    NO_PERSON = "no_person"
    NO_SUCH_CAPACITY = "no_such_capacity"
    ORGANISATION_EXISTS = "organisation_exists"
    ADDRESS_CONFIRMED = "address_confirmed"
    TASK_NOT_OPEN = "task_not_open"
    NO_OPEN_TASK = "no_open_task"
    NO_DRAFT = "no_draft"
    NO_KEPT_FILE = "no_kept_file"
    ADDRESS_TAKEN = "address_taken"
    NO_ADDRESS = "no_address"
    ENDS_BEFORE_START = "ends_before_start"


def coded_detail(code: DetailCode, text: str, **params: str) -> Reason:
    """A refusal's detail: `text` in English for the API, the logs and English readers, its
    code and values for the pages that say it again."""
    return Reason(text, code.value, params)
