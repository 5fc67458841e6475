"""A convention file: the parties, signatories and stages an officer declares."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

from schemas.errors import FieldError
from schemas.values import (
    DocumentRef,
    Frozen,
    Identifier,
    Language,
    Money,
    OptionalShortText,
    Place,
    ShortText,
    Title,
    in_language,
    refuse_bad_languages,
    split_languages,
)

# Counts, chosen with the text bounds of schemas/values.py so that the largest file (with its
# follow-ups) stays far under Temporal's 2 MB payload limit; tests/test_bounds.py measures it.
MAX_PARTIES = 50
MAX_CONTACTS = 10
MAX_SIGNATORIES = 50
MAX_AGENDA_ITEMS = 60
MAX_DELEGATION = 40
MAX_INDICATORS = 40
MAX_PLANNED_MILESTONES = 60
MAX_FOLLOW_UPS = 3
MAX_CONVENTION_BYTES = 256 * 1024
"""A convention travels whole in the workflow's input and again at every continue-as-new,
beside the bounded state (Temporal refuses a payload over 2 MB): the file, follow-ups
included, may take a quarter of a megabyte once validated, as JSON."""


def _without_credentials(url: AnyHttpUrl) -> AnyHttpUrl:
    if url.username or url.password:
        raise ValueError(
            "a webhook URL carries no credentials (user:password@): they would end in logs, "
            "and the partner authenticates Pacte by the signature"
        )
    return url


WebhookUrl = Annotated[AnyHttpUrl, AfterValidator(_without_credentials)]
"""An http(s) URL without credentials; https and a public address are required where the
request is made (infra/outbound.py), on the deployment's terms."""


class ConventionKind(StrEnum):
    """The four kinds of convention the office signs."""

    FRAMEWORK = "framework"
    SPECIFIC = "specific"
    GOVERNANCE = "governance"
    PARTNERSHIP = "partnership"


class PartyKind(StrEnum):
    """What sort of body a party is."""

    TRAINING_OFFICE = "training_office"
    MINISTRY = "ministry"
    COMPANY = "company"
    ASSOCIATION = "association"
    AGENCY = "agency"
    FOREIGN_ADMINISTRATION = "foreign_administration"
    NETWORK = "network"
    FUNDER = "funder"


class Contact(Frozen):
    """A person reached for a party's tasks."""

    name: ShortText
    email: EmailStr | None = None
    language: Language = Language.FRENCH
    title: OptionalShortText | None = Field(
        default=None, description="Role in the party, e.g. 'Directeur'."
    )


class Party(Frozen):
    """A body bound by the convention or owing it work."""

    id: Identifier
    name: ShortText = Field(
        description=(
            "The name as written; a file may give it in several languages "
            "(`name: {fr: …, ar: …}`): the first is then the original, and `names` holds each. "
            "The directory's names, where it holds the party, come first."
        )
    )
    names: dict[Language, ShortText] = Field(
        default_factory=dict,
        description="The name in each language it was given in (empty: only `name`).",
        # Left out of a dump when empty: a recorded file serialises as it always did.
        exclude_if=lambda value: not value,
    )
    kind: PartyKind
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = Field(
        default="MA", description="ISO 3166-1 alpha-2 country code."
    )
    contacts: list[Contact] = Field(default_factory=list, max_length=MAX_CONTACTS)
    webhook_url: WebhookUrl | None = Field(
        default=None,
        description=(
            "Where the party receives its tasks as signed CloudEvents (Standard Webhooks). "
            "The signing secret is never written here: operators set it in "
            "PACTE_WEBHOOK_SECRET_<PARTY> or the secrets file."
        ),
    )
    language: Language | None = Field(
        default=None,
        description="The language of its webhooks; by default its first contact's language.",
    )
    iati_role: int | None = Field(
        default=None,
        ge=1,
        le=4,
        description=(
            "Its IATI participating-org role in `audit.py iati` (1 Funding, 2 Accountable, "
            "3 Extending, 4 Implementing); by default the one its kind implies."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _name_in_several_languages(cls, data: Any) -> Any:
        return split_languages(data, "name", "names")

    @field_validator("name", mode="before")
    @classmethod
    def _name_languages_known(cls, value: Any) -> Any:
        return refuse_bad_languages(value)

    def name_in(self, language: str) -> str:
        """The name the file gave in the reader's language, else the original (the
        directory's names, where it holds the party, are chosen before this one)."""
        return in_language(self.name, self.names, language)


class Signatory(Frozen):
    """A named person who signs for a party, in a stated capacity."""

    id: Identifier
    name: ShortText
    capacity: ShortText = Field(description="e.g. 'Directeur Général', 'Ministre'.")
    party: Identifier = Field(description="The id of the party this person signs for.")


class ReminderPolicy(Frozen):
    """When the party owing a task is reminded; the officer is escalated to at the due date."""

    before_due_days: int | None = Field(
        default=3,
        ge=1,
        le=365,
        description="One reminder this many days before the due date (none if null).",
    )
    late_every_days: int = Field(
        default=7, ge=1, le=365, description="Once late, a reminder every so many days."
    )


class StageRules(Frozen):
    """What every stage may declare: its reminders and the path it takes when it fails."""

    reminders: ReminderPolicy | None = Field(
        default=None, description="Overrides the convention's reminders for this stage."
    )
    on_failure: str = Field(
        default="end",
        description=(
            "When the stage fails (a refusal, a rejection): 'end' ends the convention with the "
            "reason; the name of a declared stage goes back (or on) to that stage."
        ),
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="How often the stage may run before it ends it all."
    )


class DraftingStage(StageRules):
    """The text is written and reviewed until every reviewing party approves one version."""

    stage: Literal["drafting"] = "drafting"
    document: DocumentRef = Field(description="The first version of the text.")
    reviewers: list[Identifier] = Field(
        min_length=1, max_length=MAX_PARTIES, description="Parties that must approve."
    )
    due_in_days: int = Field(default=30, ge=1, le=3650)


class SignatureOrder(StrEnum):
    """Signatories sign all at once, or one after the other in the listed order."""

    PARALLEL = "parallel"
    SEQUENTIAL = "sequential"


class SignatureStage(StageRules):
    """Every required signatory signs; the convention then enters into force."""

    stage: Literal["signature"] = "signature"
    signatories: list[Identifier] = Field(
        min_length=1, max_length=MAX_SIGNATORIES, description="Signatory ids required."
    )
    order: SignatureOrder = SignatureOrder.PARALLEL
    place: Place | None = Field(default=None, description="Where the signing ceremony is held.")
    due_in_days: int = Field(default=30, ge=1, le=3650)


class AgendaItemKind(StrEnum):
    """What a delegation does on a mission."""

    MEETING = "meeting"
    WORK_SESSION = "work_session"
    FIELD_VISIT = "field_visit"


class AgendaItem(Frozen):
    """One item of a mission's agenda."""

    id: Identifier
    kind: AgendaItemKind
    title: Title
    site: OptionalShortText | None = Field(
        default=None, description="The site visited, for a field visit."
    )


class MissionStage(StageRules):
    """A delegation travels, holds its agenda, then files a report."""

    stage: Literal["mission"] = "mission"
    host: Identifier = Field(description="The party hosting the mission.")
    destination: Place
    starts_on: date
    ends_on: date
    delegation: list[ShortText] = Field(min_length=1, max_length=MAX_DELEGATION)
    agenda: list[AgendaItem] = Field(default_factory=list, max_length=MAX_AGENDA_ITEMS)
    report_by: Identifier = Field(description="The party that owes the mission report.")
    report_due_days_after: int = Field(default=15, ge=1, le=365)

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> Self:
        if self.ends_on < self.starts_on:
            raise ValueError(f"ends_on: {self.ends_on} is before starts_on ({self.starts_on})")
        return self


class DiagnosticStage(StageRules):
    """Findings are filed, restituted to the parties, and outcomes agreed."""

    stage: Literal["diagnostic"] = "diagnostic"
    prepared_by: Identifier = Field(description="The party that files findings.")
    agreed_by: list[Identifier] = Field(
        min_length=1, max_length=MAX_PARTIES, description="Parties that agree outcomes."
    )
    due_in_days: int = Field(default=30, ge=1, le=3650)
    follow_ups: list[Convention] = Field(
        default_factory=list,
        max_length=MAX_FOLLOW_UPS,
        description=(
            "Conventions the agreed outcomes lead to (e.g. a new framework convention): each "
            "starts as its own workflow once the outcomes are agreed, linked to this one."
        ),
    )


class FundingRequestStage(StageRules):
    """Terms of reference go to a funder, who decides."""

    stage: Literal["funding_request"] = "funding_request"
    funder: Identifier
    terms_of_reference: DocumentRef
    requested: Money
    due_in_days: int = Field(default=90, ge=1, le=3650)


class Indicator(Frozen):
    """A measured quantity of an implementation, with its target."""

    id: Identifier
    label: ShortText
    unit: ShortText = Field(description="e.g. 'seats', 'trainees', '%', 'MAD'.")
    target: float | None = Field(default=None, ge=0)


class PlannedMilestone(Frozen):
    """A dated step of an implementation plan: construction, equipment, first intake…"""

    id: Identifier
    label: ShortText
    planned_on: date | None = None


class ImplementationStage(StageRules):
    """The implementing party reports progress until every planned milestone is reached."""

    stage: Literal["implementation"] = "implementation"
    implementer: Identifier = Field(description="The party that reports progress.")
    budget: Money | None = None
    indicators: list[Indicator] = Field(default_factory=list, max_length=MAX_INDICATORS)
    milestones: list[PlannedMilestone] = Field(min_length=1, max_length=MAX_PLANNED_MILESTONES)
    report_every_days: int = Field(default=90, ge=1, le=3650)


StageSpec = Annotated[
    DraftingStage
    | SignatureStage
    | MissionStage
    | DiagnosticStage
    | FundingRequestStage
    | ImplementationStage,
    Field(discriminator="stage"),
]


class Officer(Frozen):
    """The cooperation officer in charge; late tasks escalate to them."""

    name: ShortText
    email: EmailStr | None = None
    language: Language = Language.FRENCH


class Convention(Frozen):
    """A convention file, as an officer writes it."""

    id: Identifier
    title: Title = Field(
        description=(
            "The title as written; a file may give it in several languages "
            "(`title: {fr: …, ar: …}`): the first is then the original, and `titles` holds each."
        )
    )
    titles: dict[Language, Title] = Field(
        default_factory=dict,
        description="The title in each language it was given in (empty: only `title`).",
    )
    kind: ConventionKind
    parent: Identifier | None = Field(
        default=None, description="The framework convention this one derives from."
    )
    origin: Identifier | None = Field(
        default=None,
        description="The convention whose diagnostic led to this one (set when it starts it).",
    )
    sector: OptionalShortText | None = None
    dac_sector: Annotated[str, Field(pattern=r"^[0-9]{5}$")] | None = Field(
        default=None,
        description=(
            "The OECD DAC 5-digit purpose code `audit.py iati` reports (IATI sector "
            "vocabulary 1); by default 11330, vocational training."
        ),
    )
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    officer: Officer
    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)
    signatories: list[Signatory] = Field(default_factory=list, max_length=MAX_SIGNATORIES)
    stages: list[StageSpec] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _title_in_several_languages(cls, data: Any) -> Any:
        """`title: {fr: …, ar: …}` is the original (the first given) and each language's."""
        return split_languages(data, "title", "titles")

    @field_validator("title", mode="before")
    @classmethod
    def _title_languages_known(cls, value: Any) -> Any:
        return refuse_bad_languages(value)

    def title_in(self, language: str) -> str:
        """The title in the reader's language, else the original."""
        return in_language(self.title, self.titles, language)

    def names_in(self, language: str) -> dict[str, str]:
        """Each party's name as the file gave it in `language` (else its original), by id:
        what a reader sees where the directory does not hold the party."""
        return {party.id: party.name_in(language) for party in self.parties}

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems = reference_problems(self)
        if problems:
            raise ValueError("; ".join(str(problem) for problem in problems))
        return self

    @model_validator(mode="after")
    def _fits_in_a_payload(self) -> Self:
        size = len(self.model_dump_json().encode())
        if size > MAX_CONVENTION_BYTES:
            raise ValueError(
                f"the convention takes {size:,} bytes once validated, more than the "
                f"{MAX_CONVENTION_BYTES:,} a convention may take (it travels whole in "
                "Temporal's 2 MB payloads): shorten its texts or split it"
            )
        return self

    @property
    def office(self) -> Party:
        """The training office: the officer acts for it and owes its tasks."""
        return next(party for party in self.parties if party.kind == PartyKind.TRAINING_OFFICE)

    def party(self, party_id: str) -> Party:
        """The party with this id."""
        return next(party for party in self.parties if party.id == party_id)

    def signatory(self, signatory_id: str) -> Signatory:
        """The signatory with this id."""
        return next(s for s in self.signatories if s.id == signatory_id)


STAGE_PARTY_FIELDS: dict[str, tuple[str, ...]] = {
    "drafting": ("reviewers",),
    "signature": (),
    "mission": ("host", "report_by"),
    "diagnostic": ("prepared_by", "agreed_by"),
    "funding_request": ("funder",),
    "implementation": ("implementer",),
}
"""The fields of each stage that name a party (a list field names one per item)."""


def _get(value: Any, name: str) -> Any:
    """A field of a validated model or of a raw mapping (None when absent)."""
    if isinstance(value, dict):
        return value.get(name)
    if isinstance(value, BaseModel):
        return getattr(value, name, None)
    return None


def _items(value: Any) -> list[Any] | None:
    return list(value) if isinstance(value, list | tuple) else None


def _day(value: Any) -> date | None:
    """A date, from a model or from a file's text (None when it is not one)."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _problem(field: str, reason: str, code: str, **params: str) -> FieldError:
    return FieldError(field, reason, code, tuple(params.items()))


def _duplicates(field_name: str, values: list[str]) -> list[FieldError]:
    seen: set[str] = set()
    reported: set[str] = set()
    problems: list[FieldError] = []
    for value in values:
        if value in seen and value not in reported:
            problems.append(
                _problem(field_name, f"{value!r} appears twice", "appears_twice", value=value)
            )
            reported.add(value)
        seen.add(value)
    return problems


def reference_problems(convention: Any, prefix: str = "") -> list[FieldError]:
    """Every reference of a convention that does not resolve, every id given twice, and a
    mission that ends before it starts.

    Reads a validated Convention or the raw mapping of a file whose fields may be wrong
    (a list that is not one, a value of the wrong type): what cannot be read is left to the
    field's own error, so one mistake is said once, and every other reference is still
    checked (a bad date does not hide an unknown party)."""
    problems: list[FieldError] = []
    parties = _items(_get(convention, "parties"))
    signatories = _items(_get(convention, "signatories"))
    stages = _items(_get(convention, "stages")) or []
    party_ids = [i for i in (_get(p, "id") for p in parties or []) if isinstance(i, str)]
    signatory_ids = [i for i in (_get(s, "id") for s in signatories or []) if isinstance(i, str)]
    stage_names = [n for n in (_get(spec, "stage") for spec in stages) if isinstance(n, str)]
    # Party ids are matched without regard to case in searches (`list --party PSA`).
    problems += _duplicates("parties", [party_id.lower() for party_id in party_ids])
    problems += _duplicates("signatories", signatory_ids)
    problems += _duplicates("stages", stage_names)
    known_parties = set(party_ids) if parties is not None else None
    known_signatories = set(signatory_ids) if signatories is not None else None

    def unknown_party(where: str, value: Any) -> None:
        if known_parties is not None and isinstance(value, str) and value not in known_parties:
            problems.append(
                _problem(where, f"unknown party {value!r}", "unknown_party", party=value)
            )

    for index, signatory in enumerate(signatories or []):
        unknown_party(f"signatories.{index}.party", _get(signatory, "party"))
    every_stage_known = len(stage_names) == len(stages) and set(stage_names) <= set(
        STAGE_PARTY_FIELDS
    )
    declared = set(stage_names)
    own_id = _get(convention, "id")
    for index, spec in enumerate(stages):
        where = f"stages.{index}"
        name = _get(spec, "stage")
        on_failure = _get(spec, "on_failure")
        if (
            every_stage_known
            and isinstance(on_failure, str)
            and on_failure != "end"
            and on_failure not in declared
        ):
            listed = ", ".join(sorted(declared))
            problems.append(
                _problem(
                    f"{where}.on_failure",
                    f"{on_failure!r} is neither 'end' nor a declared stage ({listed})",
                    "on_failure_unknown",
                    value=on_failure,
                    stages=listed,
                )
            )
        for field_name in STAGE_PARTY_FIELDS.get(name, ()) if isinstance(name, str) else ():
            value = _get(spec, field_name)
            if isinstance(value, list | tuple):
                for position, party_id in enumerate(value):
                    unknown_party(f"{where}.{field_name}.{position}", party_id)
            else:
                unknown_party(f"{where}.{field_name}", value)
        if name == "signature" and known_signatories is not None:
            for position, signatory_id in enumerate(_items(_get(spec, "signatories")) or []):
                if isinstance(signatory_id, str) and signatory_id not in known_signatories:
                    problems.append(
                        _problem(
                            f"{where}.signatories.{position}",
                            f"unknown signatory {signatory_id!r}",
                            "unknown_signatory",
                            signatory=signatory_id,
                        )
                    )
        if name == "mission":
            starts, ends = _day(_get(spec, "starts_on")), _day(_get(spec, "ends_on"))
            if starts is not None and ends is not None and ends < starts:
                problems.append(
                    _problem(
                        f"{where}.ends_on",
                        f"{ends} is before starts_on ({starts})",
                        "ends_before_start",
                        start=str(starts),
                    )
                )
        if name == "diagnostic":
            for position, follow_up in enumerate(_items(_get(spec, "follow_ups")) or []):
                there = f"{where}.follow_ups.{position}"
                if isinstance(own_id, str) and _get(follow_up, "id") == own_id:
                    problems.append(
                        _problem(f"{there}.id", "a follow-up needs its own id", "follow_up_id")
                    )
                if isinstance(follow_up, dict):  # a validated one checked itself
                    problems += reference_problems(follow_up, f"{there}.")
    kinds = [_get(party, "kind") for party in parties or []]
    if parties is not None and all(isinstance(k, str) and k in set(PartyKind) for k in kinds):
        offices = [kind for kind in kinds if kind == PartyKind.TRAINING_OFFICE]
        if len(offices) != 1:
            problems.append(
                _problem(
                    "parties",
                    "exactly one party of kind 'training_office' is required "
                    f"(the officer's own body), found {len(offices)}",
                    "one_training_office",
                    found=str(len(offices)),
                )
            )
    if isinstance(own_id, str) and _get(convention, "parent") == own_id:
        problems.append(_problem("parent", "a convention cannot be its own parent", "own_parent"))
    if prefix:
        problems = [FieldError(f"{prefix}{p.field}", p.reason, p.code, p.params) for p in problems]
    return problems


DiagnosticStage.model_rebuild()
Convention.model_rebuild()
