"""The partners' REST API contract: what each route returns (the response models), the answer
body it takes, and RFC 9457 problems. `/api/openapi.json` is generated from these, so a client
generated from it gets typed models, not dictionaries."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.actors import Principal
from schemas.channels import InboxEntry
from schemas.errors import RefusalCode, RefusalValue
from schemas.tasks import (
    Answer,
    EscalationAnswer,
    FindingsAnswer,
    FixDeliveryAnswer,
    FundingDecisionAnswer,
    HostMissionAnswer,
    InformationAnswer,
    MissionReportAnswer,
    OutcomesAnswer,
    ProgressReportAnswer,
    ReviewAnswer,
    RevisedFundingRequest,
    RevisionAnswer,
    SignAnswer,
    Task,
)
from schemas.values import ShortText

EVENT_TYPE = "pacte.task.answer"


class ProblemField(BaseModel):
    """One field at fault and why."""

    field: str = Field(description="The field's dotted path ('answer.granted'), '' for the body.")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[ProblemField] | None = Field(
        default=None, description="The fields at fault, when fields are (422 mostly)."
    )
    code: RefusalCode | None = Field(
        default=None,
        description=(
            "Why the convention's workflow refused (409), as a stable machine code; `detail` "
            "says it in English."
        ),
    )
    params: dict[str, RefusalValue] | None = Field(
        default=None, description="The values the refusal names (ids, names, ISO dates)."
    )


class ApiReceipt(BaseModel):
    """An accepted answer: the task, when, who (the principal the server set) and what."""

    convention_id: str
    task_id: str
    accepted_at: datetime
    principal: Principal
    answer: Answer = Field(
        description="The answer as the workflow accepted it, its `kind` the task's."
    )


class TaskList(BaseModel):
    """The key's party and a page of its open tasks, overdue first, then by due date."""

    party: str
    tasks: list[InboxEntry]
    next: str | None = Field(
        default=None,
        description="The next page's URL (relative to the server: `limit` and `cursor` set),"
        " or null on the last page. Follow it until null to read every open task.",
    )


class ConventionRef(BaseModel):
    """The convention a task belongs to."""

    id: str
    title: str


class TaskDocument(BaseModel):
    """One of the party's tasks: open (with the task), or closed (with its receipt)."""

    convention: ConventionRef
    status: Literal["open", "answered", "closed"] | None
    task: Task | None = Field(description="The task while it is open; null once closed.")
    answered_by: str | None
    receipt: ApiReceipt | None = Field(description="The desk's receipt, once it carried one.")
    answer_path: str = Field(description="Where to POST the answer.")


class EventRef(BaseModel):
    """The CloudEvent an answer came in."""

    source: str
    id: str


class EventReceipt(ApiReceipt):
    """The receipt of an event's answer (the same for a repeated source + id)."""

    event: EventRef


AnyAnswer = (
    ReviewAnswer
    | RevisionAnswer
    | SignAnswer
    | HostMissionAnswer
    | MissionReportAnswer
    | FindingsAnswer
    | OutcomesAnswer
    | FundingDecisionAnswer
    | InformationAnswer
    | RevisedFundingRequest
    | ProgressReportAnswer
    | FixDeliveryAnswer
    | EscalationAnswer
)
"""The answer's fields for the task's kind; `kind` may be left out (the task's is taken)."""


class AnswerBody(BaseModel):
    """The body of an answer: `answer` (its fields for the task's kind), and optionally
    `actor`. The task comes from the URL and the party from the key: `task_id` and
    `acting_party` may be sent only with those values; the principal is the server's."""

    model_config = ConfigDict(extra="forbid")

    answer: AnyAnswer
    actor: ShortText | None = Field(
        default=None, description="The person acting for the party (the key's name if none)."
    )
    task_id: str | None = Field(default=None, description="If sent: the URL's task id.")
    acting_party: str | None = Field(default=None, description="If sent: the key's party.")


class EventAnswerData(BaseModel):
    """A `pacte.task.answer` event's `data`: the task, and the answer as in `AnswerBody`."""

    model_config = ConfigDict(extra="forbid")

    convention_id: str
    task_id: str
    answer: AnyAnswer
    actor: ShortText | None = None
    acting_party: str | None = Field(default=None, description="If sent: the signing party.")


class AnswerEvent(BaseModel):
    """A CloudEvent 1.0 in structured mode (`application/cloudevents+json`), the only mode
    accepted: its attributes are inside the signed body. Binary mode is refused (415): its
    `ce-*` headers are outside a Standard Webhooks signature."""

    specversion: Literal["1.0"]
    id: str
    source: str
    type: Literal["pacte.task.answer"]
    time: datetime | None = None
    datacontenttype: Literal["application/json"] | None = None
    data: EventAnswerData
