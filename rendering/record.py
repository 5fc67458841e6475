"""The record's facts in the reader's language: one rendering per milestone kind and per
task kind.

A milestone is rendered from its kind, its typed details (`schemas.milestone_details`) and
its own fields (stage, party, actor). A task is rendered from its facts (`schemas.tasks.
TaskFacts`: the version reviewed, the signatory's name and capacity, the mission's place and
dates, the amount asked for…), which the workflows write into the Task and into its
milestones' details since `typed-task-facts`. A task assigned before carries none: its title
is read back from the workflow's own fixed wording, by one pattern per kind. Where neither
is there (details left out of a workflow's bounded copy, a title no pattern reads), the
stored English text is shown, flagged `as_recorded` (never in English, where the stored text
is the reader's).

    milestone_text(milestone, "ar")      # Said: .text (plain), .html (<bdi> names)
    task_title(task, "fr")
    task_instructions(task, "fr")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rendering.catalogues import N_, gettext, supported
from rendering.formats import (
    Said,
    data,
    day,
    joined,
    money,
    number,
    say,
    say_count,
    word,
)
from rendering.zones import DEFAULT_ZONE, day_in
from schemas.milestone_details import (
    ChildLinkedDetails,
    CohortCancelledDetails,
    ConventionFailedDetails,
    ConventionStartedDetails,
    ConventionTerminatedDetails,
    DeadlinePostponedDetails,
    DraftApprovedDetails,
    DraftVersionDetails,
    EnteredIntoForceDetails,
    FindingsFiledDetails,
    FollowUpStartedDetails,
    FundingDecidedDetails,
    FundingRequestedDetails,
    FundingRequestRevisedDetails,
    HistoryContinuedDetails,
    ImplementationMilestoneCancelledDetails,
    ImplementationMilestoneReachedDetails,
    MilestoneDetails,
    MissionHeldDetails,
    MissionReportFiledDetails,
    OfficerChangedDetails,
    OutcomesAgreedDetails,
    ParentLinkedDetails,
    PartyWithdrewDetails,
    ProgressReportedDetails,
    RestitutionHeldDetails,
    SignatureRefusedDetails,
    SignatureStandsDetails,
    SignedDetails,
    StageFailedDetails,
    TaskAnsweredDetails,
    TaskAssignedDetails,
    TaskCancelledDetails,
    TaskReassignedDetails,
    TaskRemindedDetails,
    UnreadableDetails,
    _Cohort,
    details_of,
)
from schemas.milestones import Milestone, MilestoneKind
from schemas.reasons import ReasonCode, ReasonFacts
from schemas.tasks import TaskFacts, TaskKind
from schemas.values import Money, Place

# --- names --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyNames:
    """Organisations' names by party id, in the reader's language (the directory's, else the
    convention file's): what a sentence says where the record holds an id. An id it does not
    know is said as it is. Hashable, so a rendering with names is cached like one without."""

    pairs: tuple[tuple[str, str], ...] = ()
    people: tuple[tuple[str, str], ...] = ()
    """The directory's people's names by person id (an answer's principal names its person
    by the directory's id): the name the directory holds now, removed people's included."""
    # Worked out once: the names are a cache key on every line of a timeline, and a tuple
    # of pairs does not keep its hash.
    _hash: int = field(init=False, repr=False, compare=False)
    _names: dict[str, str] = field(init=False, repr=False, compare=False)
    _people: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.pairs, self.people)))
        object.__setattr__(self, "_names", _lookup_of(self.pairs))
        object.__setattr__(self, "_people", _lookup_of(self.people))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, names: Mapping[str, str], people: Mapping[str, str] | None = None) -> PartyNames:
        """From a mapping of party id to name, and of person id to name (empty names are
        left out)."""
        return cls(
            tuple(sorted((key, value) for key, value in names.items() if value)),
            tuple(sorted((key, value) for key, value in (people or {}).items() if value)),
        )

    def __call__(self, party_id: str) -> str:
        return self._names.get(party_id, party_id)

    def person(self, person_id: str | None, recorded: str) -> str:
        """A person's name: the directory's for this id when the reader has it, else the
        name the record holds (`recorded`: the principal's, as it acted)."""
        if person_id is None:
            return recorded
        return self._people.get(person_id, recorded)

    def as_dict(self) -> dict[str, str]:
        """The names, by party id."""
        return dict(self._names)


@lru_cache(maxsize=256)
def _lookup_of(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return dict(pairs)


NO_NAMES = PartyNames()
"""Ids said as they are (a reader with no directory at hand)."""


# --- tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recorded:
    """A task without facts (assigned before typed-task-facts): its kind (None when unknown)
    and its recorded title, read back by the patterns below."""

    kind: TaskKind | None
    title: str


_TitleRenderer = Callable[[re.Match[str], str, "PartyNames"], Said]


def _place(city: str, country: str) -> str:
    return f"{city} ({country})"


_TASK_TITLES: list[tuple[TaskKind, re.Pattern[str], _TitleRenderer]] = [
    (
        TaskKind.REVIEW_DRAFT,
        re.compile(r"Review version (?P<version>\d+) of the text"),
        lambda m, lang, names: say(
            lang,
            N_("Review version {version} of the text"),
            version=number(int(m["version"]), lang),
        ),
    ),
    (
        TaskKind.REVISE_DRAFT,
        re.compile(r"Revise the text as (?P<party>.+?) asked: (?P<comments>.*)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("Revise the text as {party} asked: {comments}"),
            party=names(m["party"]),
            comments=m["comments"],
        ),
    ),
    (
        TaskKind.SIGN,
        re.compile(r"Sign the convention as (?P<name>.+?), (?P<capacity>.+)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("Sign the convention as {name}, {capacity}"),
            name=m["name"],
            capacity=m["capacity"],
        ),
    ),
    (
        TaskKind.HOST_MISSION,
        re.compile(
            r"Host the mission in (?P<place>.+ \([A-Z]{2}\)), "
            r"(?P<start>\d{4}-\d\d-\d\d) to (?P<end>\d{4}-\d\d-\d\d)"
        ),
        lambda m, lang, names: say(
            lang,
            N_("Host the mission in {place}, from {start} to {end}"),
            place=m["place"],
            # A mission's days are calendar days where it is held: never shifted.
            start=day(m["start"], lang),
            end=day(m["end"], lang),
        ),
    ),
    (
        TaskKind.FILE_MISSION_REPORT,
        re.compile(r"File the report of the mission in (?P<place>.+)", re.S),
        lambda m, lang, names: say(
            lang, N_("File the report of the mission in {place}"), place=m["place"]
        ),
    ),
    (
        TaskKind.FILE_FINDINGS,
        re.compile(r"File the diagnostic's findings and recommendations \(round (?P<round>\d+)\)"),
        lambda m, lang, names: say(
            lang,
            N_("File the diagnostic's findings and recommendations (round {round})"),
            round=number(int(m["round"]), lang),
        ),
    ),
    (
        TaskKind.FILE_FINDINGS,
        re.compile(r"File the diagnostic's findings and recommendations"),
        lambda m, lang, names: say(lang, N_("File the diagnostic's findings and recommendations")),
    ),
    (
        TaskKind.AGREE_OUTCOMES,
        re.compile(r"Agree the diagnostic's outcomes"),
        lambda m, lang, names: say(lang, N_("Agree the diagnostic's outcomes")),
    ),
    (
        TaskKind.DECIDE_FUNDING,
        re.compile(r"Decide on the funding request of (?P<amount>[\d.]+) (?P<currency>\S+)"),
        lambda m, lang, names: say(
            lang,
            N_("Decide on the funding request of {amount}"),
            amount=money(m["amount"], m["currency"], lang),
        ),
    ),
    (
        TaskKind.PROVIDE_INFORMATION,
        re.compile(r"Answer (?P<funder>\S+)'s request: (?P<comments>.*)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("Answer the request of {funder}: {comments}"),
            funder=names(m["funder"]),
            comments=m["comments"],
        ),
    ),
    (
        TaskKind.REVISE_FUNDING_REQUEST,
        re.compile(
            r"Revise the funding request to (?P<funder>\S+) "
            r"\(new amount, terms of reference, note\)"
        ),
        lambda m, lang, names: say(
            lang,
            N_("Revise the funding request to {funder} (new amount, terms of reference, note)"),
            funder=names(m["funder"]),
        ),
    ),
    (
        TaskKind.REPORT_PROGRESS,
        re.compile(r"Report progress of the implementation \(report (?P<number>\d+)\)"),
        lambda m, lang, names: say(
            lang,
            N_("Report progress of the implementation (report {number})"),
            number=number(int(m["number"]), lang),
        ),
    ),
    (
        TaskKind.FIX_DELIVERY,
        re.compile(
            r"Fix delivery: (?P<event>\S+) to (?P<party>\S+) by (?P<channel>\S+) failed "
            r"\((?P<reason>.*)\) — (?P<what>.*)",
            re.S,
        ),
        lambda m, lang, names: say(
            lang,
            N_("Fix delivery: {event} to {party} by {channel} failed ({reason}) — {what}"),
            event=m["event"],
            party=names(m["party"]),
            channel=m["channel"],
            reason=m["reason"],
            what=_title(_Recorded(None, m["what"]), lang, names),
        ),
    ),
    (
        TaskKind.RESOLVE_ESCALATION,
        re.compile(
            r"Late: (?P<title>.*) \(owed by (?P<party>\S+), due (?P<due>\d{4}-\d\d-\d\d)\)",
            re.S,
        ),
        lambda m, lang, names: say(
            lang,
            N_("Late: {title} (owed by {party}, due {due})"),
            title=_title(_Recorded(None, m["title"]), lang, names),
            party=names(m["party"]),
            # The late task's due day as the workflow wrote it (its UTC date): the moment
            # is not in the title, so there is nothing to move to the reader's zone.
            due=day(m["due"], lang),
        ),
    ),
]

TASK_KINDS_RENDERED = frozenset(kind for kind, _, _ in _TASK_TITLES)


def _match(kind: TaskKind | None, title: str) -> tuple[re.Match[str], _TitleRenderer] | None:
    for its_kind, pattern, render in _TASK_TITLES:
        if kind is not None and its_kind is not kind:
            continue
        found = pattern.fullmatch(title)
        if found is not None:
            return found, render
    return None


def _matches(kind: TaskKind | None, title: str) -> bool:
    return _match(kind, title) is not None


def _title(facts: _Recorded, language: str, names: PartyNames | None = None) -> Said:
    """A task's title in `language`, its parties named by `names`."""
    return _said_title(facts, language, names or NO_NAMES)


@lru_cache(maxsize=4096)
def _said_title(facts: _Recorded, language: str, names: PartyNames) -> Said:
    # A convention's tasks are named again and again in its timeline: each said once.
    found = _match(facts.kind, facts.title)
    if found is None:
        return as_recorded(facts.title, language)
    match, render = found
    return render(match, language, names)


@lru_cache(maxsize=4096)
def facts_title(
    facts: TaskFacts, language: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said:
    """A task's title in `language`, from the facts the workflow wrote (typed-task-facts),
    its parties said by their `names`, a moment it states (a late task's due moment) as its
    day in the reader's `zone`; a fact the title needs and the facts lack falls back to the
    bare kind's wording."""
    render = _FACT_TITLES.get(facts.kind)
    said = render(facts, language, names, zone) if render is not None else None
    return said if said is not None else say(language, _KIND_TITLES[facts.kind])


def _about(
    facts: TaskFacts, language: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said:
    """The task an escalation or a delivery to fix is about."""
    if facts.about is not None:
        return facts_title(facts.about, language, names, zone)
    return _title(_Recorded(None, facts.about_title or ""), language, names)


def _review_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.version is None:
        return None
    return say(lang, N_("Review version {version} of the text"), version=number(f.version, lang))


def _revise_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.party is None:
        return None
    return say(
        lang,
        N_("Revise the text as {party} asked: {comments}"),
        party=names(f.party),
        comments=f.comments or "",
    )


def _sign_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.signatory_name is None:
        return None
    return say(
        lang,
        N_("Sign the convention as {name}, {capacity}"),
        name=f.signatory_name,
        capacity=f.capacity or "",
    )


def _host_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.place is None or f.starts_on is None or f.ends_on is None:
        return None
    return say(
        lang,
        N_("Host the mission in {place}, from {start} to {end}"),
        place=_place_of(f.place),
        # Calendar days of the mission where it is held: the same day for every reader.
        start=day(f.starts_on, lang),
        end=day(f.ends_on, lang),
    )


def _mission_report_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.place is None:
        return None
    return say(lang, N_("File the report of the mission in {place}"), place=_place_of(f.place))


def _findings_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.round is None or f.round <= 1:
        return None
    return say(
        lang,
        N_("File the diagnostic's findings and recommendations (round {round})"),
        round=number(f.round, lang),
    )


def _decide_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.amount is None:
        return None
    return say(lang, N_("Decide on the funding request of {amount}"), amount=_money(f.amount, lang))


def _information_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.funder is None:
        return None
    return say(
        lang,
        N_("Answer the request of {funder}: {comments}"),
        funder=names(f.funder),
        comments=f.comments or "",
    )


def _revise_funding_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.funder is None:
        return None
    return say(
        lang,
        N_("Revise the funding request to {funder} (new amount, terms of reference, note)"),
        funder=names(f.funder),
    )


def _report_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.report is None:
        return None
    return say(
        lang,
        N_("Report progress of the implementation (report {number})"),
        number=number(f.report, lang),
    )


def _fix_delivery_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.event is None or f.channel is None:
        return None
    return say(
        lang,
        N_("Fix delivery: {event} to {party} by {channel} failed ({reason}) — {what}"),
        event=f.event,
        party=names(f.party) if f.party else "",
        channel=f.channel,
        reason=f.reason or "",
        what=_about(f, lang, names, zone),
    )


def _escalation_title(
    f: TaskFacts, lang: str, names: PartyNames = NO_NAMES, zone: str = DEFAULT_ZONE
) -> Said | None:
    if f.due_at is not None:
        # The late task's due moment (escalation-due-moment): the day it is in the reader's
        # zone, as the task's own due date is said (23:59 UTC is the next day in Riyadh).
        due = day_in(f.due_at, lang, zone)
    elif f.due_on is not None:
        # An escalation recorded before carries only the moment's UTC date: a date, said
        # as written whatever the reader's zone.
        due = day(f.due_on, lang)
    else:
        return None
    return say(
        lang,
        N_("Late: {title} (owed by {party}, due {due})"),
        title=_about(f, lang, names, zone),
        party=names(f.party) if f.party else "",
        due=due,
    )


_FACT_TITLES: Mapping[TaskKind, Callable[[TaskFacts, str, PartyNames, str], Said | None]] = {
    TaskKind.REVIEW_DRAFT: _review_title,
    TaskKind.REVISE_DRAFT: _revise_title,
    TaskKind.SIGN: _sign_title,
    TaskKind.HOST_MISSION: _host_title,
    TaskKind.FILE_MISSION_REPORT: _mission_report_title,
    TaskKind.FILE_FINDINGS: _findings_title,
    TaskKind.DECIDE_FUNDING: _decide_title,
    TaskKind.PROVIDE_INFORMATION: _information_title,
    TaskKind.REVISE_FUNDING_REQUEST: _revise_funding_title,
    TaskKind.REPORT_PROGRESS: _report_title,
    TaskKind.FIX_DELIVERY: _fix_delivery_title,
    TaskKind.RESOLVE_ESCALATION: _escalation_title,
}
"""A title per kind from its facts (and the reader's zone); None when a fact it needs is
missing."""

_KIND_TITLES: Mapping[TaskKind, str] = {
    TaskKind.REVIEW_DRAFT: N_("Review the text"),
    TaskKind.REVISE_DRAFT: N_("Revise the text"),
    TaskKind.SIGN: N_("Sign the convention"),
    TaskKind.HOST_MISSION: N_("Host the mission"),
    TaskKind.FILE_MISSION_REPORT: N_("File the mission report"),
    TaskKind.FILE_FINDINGS: N_("File the diagnostic's findings and recommendations"),
    TaskKind.AGREE_OUTCOMES: N_("Agree the diagnostic's outcomes"),
    TaskKind.DECIDE_FUNDING: N_("Decide on the funding request"),
    TaskKind.PROVIDE_INFORMATION: N_("Answer the funder's request"),
    TaskKind.REVISE_FUNDING_REQUEST: N_("Revise the funding request"),
    TaskKind.REPORT_PROGRESS: N_("Report progress of the implementation"),
    TaskKind.FIX_DELIVERY: N_("Fix a delivery"),
    TaskKind.RESOLVE_ESCALATION: N_("Resolve a late task"),
}
"""Each kind's title when its facts lack what the full title says (and the kinds whose title
states no fact: agreeing the outcomes, a first round's findings)."""


def kind_title(kind: str, language: str) -> Said:
    """A task kind said as its bare title ("Sign the convention"); an unknown kind as
    written."""
    try:
        return say(supported(language), _KIND_TITLES[TaskKind(kind)])
    except ValueError:
        return data(kind, language)


def as_recorded(text: str, language: str) -> Said:
    """The stored English text, for want of the facts; flagged unless the reader reads
    English."""
    said = data(text, language)
    if supported(language) == "en":
        return said
    return said.marked_as_recorded()


def _kind_of(task: Any) -> TaskKind | None:
    kind = getattr(task, "kind", None)
    try:
        return TaskKind(kind) if kind is not None else None
    except ValueError:
        return None


def task_title(
    task: Any, language: str, names: PartyNames | None = None, zone: str = DEFAULT_ZONE
) -> Said:
    """A task's title (a Task, an inbox entry: anything with `kind` and `title`, and `facts`
    when the workflow wrote them); the parties it names by id are said by their `names` when
    given, a moment it states as its day in the reader's `zone`."""
    facts = getattr(task, "facts", None)
    if isinstance(facts, TaskFacts):
        return facts_title(facts, supported(language), names or NO_NAMES, zone)
    return _title(_Recorded(_kind_of(task), str(task.title)), supported(language), names)


_INSTRUCTIONS: Mapping[TaskKind, str] = {
    TaskKind.REVIEW_DRAFT: N_(
        "Read the version of the text, then approve it or ask for changes (say which)."
    ),
    TaskKind.REVISE_DRAFT: N_("Submit a new version of the text that answers the changes asked."),
    TaskKind.SIGN: N_(
        "Sign the convention, or refuse or withdraw your party with a reason. Say where you sign."
    ),
    TaskKind.HOST_MISSION: N_("Say which agenda items were held and which were cancelled."),
    TaskKind.FILE_MISSION_REPORT: N_("File the mission report and its summary."),
    TaskKind.FILE_FINDINGS: N_(
        "File the findings and recommendations, and the restitution session if it was held."
    ),
    TaskKind.AGREE_OUTCOMES: N_("Agree the outcomes, or disagree and say why."),
    TaskKind.DECIDE_FUNDING: N_(
        "Approve the request with the amount granted, reject it, or ask for more information."
    ),
    TaskKind.PROVIDE_INFORMATION: N_("Answer the funder's questions, with a document if needed."),
    TaskKind.REVISE_FUNDING_REQUEST: N_(
        "Give the new amount, the revised terms of reference and what changed."
    ),
    TaskKind.REPORT_PROGRESS: N_(
        "Report the milestones reached, the indicators' values, the cohorts and the spending."
    ),
    TaskKind.FIX_DELIVERY: N_(
        "Try the delivery again once its cause is fixed, or say how the party was told."
    ),
    TaskKind.RESOLVE_ESCALATION: N_("Say what was done about the late task."),
}


def task_instructions(task: Any, language: str) -> Said:
    """What the task asks of its party, by kind."""
    kind = _kind_of(task)
    if kind is None:
        return word("")
    return say(supported(language), _INSTRUCTIONS[kind])


@lru_cache(maxsize=1024)
def stage_name(stage: str | None, language: str) -> Said:
    """A stage by its name in the catalogues ("signature-2": its second run)."""
    if not stage:
        return word("")
    base, _, attempt = stage.partition("-")
    name = say(language, base) if base.isidentifier() else data(stage, language)
    if attempt.isdigit():
        return say(language, N_("{stage} (run {attempt})"), stage=name, attempt=attempt)
    return name


# --- the workflow's own reasons ----------------------------------------------------------

_Reasoned = Callable[[re.Match[str], str, "PartyNames"], Said]

# The reasons the workflows write (a task cancelled, a stage failed, the convention ended),
# in their fixed English wording; what people wrote inside them stays as written.
_REASONS: list[tuple[re.Pattern[str], _Reasoned]] = [
    (
        # First: the failure it wraps may itself end with a parenthesis.
        re.compile(
            r"(?P<reason>.+) \(stage (?P<stage>\S+) already ran (?P<runs>\d+) times, "
            r"the most its max_attempts allows\)",
            re.S,
        ),
        lambda m, lang, names: say(
            lang,
            N_(
                "{reason} (stage {stage} already ran {runs} times, the most its max_attempts "
                "allows)"
            ),
            reason=workflow_reason(m["reason"], lang, names),
            stage=stage_name(m["stage"], lang),
            runs=number(int(m["runs"]), lang),
        ),
    ),
    (
        re.compile(r"(?P<person>.+) \((?P<party>[^()]+)\) refused to sign: (?P<reason>.*)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("{person} ({party}) refused to sign: {reason}"),
            person=m["person"],
            party=names(m["party"]),
            reason=m["reason"],
        ),
    ),
    (
        re.compile(
            r"(?P<person>.+) \((?P<party>[^()]+)\) withdrew from the convention: (?P<reason>.*)",
            re.S,
        ),
        lambda m, lang, names: say(
            lang,
            N_("{person} ({party}) withdrew from the convention: {reason}"),
            person=m["person"],
            party=names(m["party"]),
            reason=m["reason"],
        ),
    ),
    (
        re.compile(r"(?P<funder>\S+) rejected the request: (?P<comments>.*)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("{funder} rejected the request: {comments}"),
            funder=names(m["funder"]),
            comments=m["comments"],
        ),
    ),
    (
        re.compile(r"(?P<party>\S+) asked for changes to version (?P<version>\d+)"),
        lambda m, lang, names: say(
            lang,
            N_("{party} asked for changes to version {version}"),
            party=names(m["party"]),
            version=number(int(m["version"]), lang),
        ),
    ),
    (
        re.compile(r"(?P<party>\S+) disagrees: (?P<comments>.*)", re.S),
        lambda m, lang, names: say(
            lang,
            N_("{party} disagrees: {comments}"),
            party=names(m["party"]),
            comments=m["comments"],
        ),
    ),
    (
        re.compile(r"(?P<task>\S+) was cancelled"),
        lambda m, lang, names: say(lang, N_("{task} was cancelled"), task=m["task"]),
    ),
    (
        re.compile(r"(?P<task>\S+) was answered"),
        lambda m, lang, names: say(lang, N_("{task} was answered"), task=m["task"]),
    ),
    (
        re.compile(r"its deadline was postponed"),
        lambda m, lang, names: say(lang, N_("its deadline was postponed")),
    ),
    (
        re.compile(r"no version approved after (?P<count>\d+) versions of the text"),
        lambda m, lang, names: say(
            lang,
            N_("no version approved after {count} versions of the text"),
            count=number(int(m["count"]), lang),
        ),
    ),
    (
        re.compile(r"no agreement on the outcomes after (?P<count>\d+) rounds"),
        lambda m, lang, names: say(
            lang,
            N_("no agreement on the outcomes after {count} rounds"),
            count=number(int(m["count"]), lang),
        ),
    ),
    (
        re.compile(r"no decision after (?P<count>\d+) requests for information"),
        lambda m, lang, names: say(
            lang,
            N_("no decision after {count} requests for information"),
            count=number(int(m["count"]), lang),
        ),
    ),
    (
        re.compile(r"convention terminated: (?P<reason>.*)", re.S),
        lambda m, lang, names: say(lang, N_("convention terminated: {reason}"), reason=m["reason"]),
    ),
    (
        re.compile(r"convention ended: (?P<reason>.*)", re.S),
        lambda m, lang, names: say(
            lang, N_("convention ended: {reason}"), reason=workflow_reason(m["reason"], lang, names)
        ),
    ),
]


def workflow_reason(
    reason: str,
    language: str,
    names: PartyNames | None = None,
    facts: ReasonFacts | None = None,
) -> Said:
    """A reason a workflow wrote, in `language`: from its facts when it has them (since
    typed-reasons), else read back from its English wording; flagged as recorded when that
    wording is not one the workflows use."""
    if facts is not None:
        return reason_said(facts, language, names)
    for pattern, render in _REASONS:
        found = pattern.fullmatch(reason)
        if found is not None:
            return render(found, language, names or NO_NAMES)
    return as_recorded(reason, language)


REASONS: Mapping[ReasonCode, str] = {
    ReasonCode.CHANGES_REQUESTED: N_("{party} asked for changes to version {version}"),
    ReasonCode.SIGNATURE_REFUSED: N_("{person} ({party}) refused to sign: {reason}"),
    ReasonCode.PARTY_WITHDREW: N_("{person} ({party}) withdrew from the convention: {reason}"),
    ReasonCode.OUTCOMES_DISPUTED: N_("{party} disagrees: {comments}"),
    ReasonCode.FUNDING_REJECTED: N_("{funder} rejected the request: {comments}"),
    ReasonCode.NO_VERSION_APPROVED: N_("no version approved after {count} versions of the text"),
    ReasonCode.NO_OUTCOMES_AGREED: N_("no agreement on the outcomes after {count} rounds"),
    ReasonCode.NO_FUNDING_DECISION: N_("no decision after {count} requests for information"),
    ReasonCode.ATTEMPTS_EXHAUSTED: N_(
        "{reason} (stage {stage} already ran {runs} times, the most its max_attempts allows)"
    ),
    ReasonCode.CONVENTION_TERMINATED: N_("convention terminated: {reason}"),
    ReasonCode.CONVENTION_ENDED: N_("convention ended: {reason}"),
    ReasonCode.ESCALATED_TASK_CANCELLED: N_("{task} was cancelled"),
    ReasonCode.ESCALATED_TASK_ANSWERED: N_("{task} was answered"),
    ReasonCode.DEADLINE_POSTPONED: N_("its deadline was postponed"),
}
"""One sentence per reason code, in the workflow's English wording (the msgid): said again
from the reason's facts in every language (tests/test_typed_reasons.py checks each code has
its sentence in every catalogue)."""

_PARTY_PARAMS = frozenset({"party", "funder"})
"""Parameters that are party ids: said by the organisation's name."""
_NUMBER_PARAMS = frozenset({"version", "count", "runs"})


def reason_said(facts: ReasonFacts, language: str, names: PartyNames | None = None) -> Said:
    """A reason the workflow gave, from its facts (code, values, the reason it wraps), in
    `language`: party ids said by their names, counts in the locale's digits, what people
    wrote as written (isolated), a missing value as a dash."""
    language = supported(language)
    names = names or NO_NAMES
    values: dict[str, Said | str] = {}
    for name, value in facts.params.items():
        if name in _NUMBER_PARAMS and isinstance(value, int):
            values[name] = number(value, language)
        elif name in _PARTY_PARAMS:
            values[name] = names(str(value))
        elif name == "stage":
            values[name] = stage_name(str(value), language)
        else:
            values[name] = str(value)
    if facts.cause is not None:
        values["reason"] = reason_said(facts.cause, language, names)
    template = REASONS[facts.code]
    for name in _placeholders(template):
        values.setdefault(name, data("—", language))
    return say(language, template, **values)


@lru_cache(maxsize=64)
def _placeholders(template: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\{(\w+)\}", template))


# --- milestones ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    milestone: Milestone
    language: str
    names: PartyNames = NO_NAMES
    zone: str = DEFAULT_ZONE
    """The reader's IANA zone: a moment the sentence says (a due date, a signature's day)
    is said as the day it is there."""

    def moment_day(self, value: Any) -> Said:
        """The day of a moment (a datetime the record keeps in UTC) in the reader's zone: a
        task due at 23:00 UTC is due the next day in Riyadh, as the page's own times say."""
        return day_in(value, self.language, self.zone)

    @property
    def summary(self) -> str:
        return self.milestone.summary

    def task(self, kind: TaskKind | str | None = None, facts: TaskFacts | None = None) -> Said:
        """The task a milestone is about: from its facts (typed-task-facts), else its title
        before the workflow's ' — '."""
        if facts is not None:
            return facts_title(facts, self.language, self.names, self.zone)
        try:
            task_kind = TaskKind(kind) if kind else None
        except ValueError:
            task_kind = None
        # A title may hold ' — ' itself (a delivery to fix quotes its task): the longest
        # prefix that reads as a task title is the title.
        pieces = self.summary.split(" — ")
        for end in range(len(pieces) - 1, 0, -1):
            title = " — ".join(pieces[:end])
            if _matches(task_kind, title):
                return _title(_Recorded(task_kind, title), self.language, self.names)
        title = pieces[0] if len(pieces) > 1 else self.summary
        return as_recorded(title, self.language)

    def party(self) -> str:
        """The party's name (its id when no name is known)."""
        return self.names(self.milestone.party) if self.milestone.party else ""

    def who(self) -> str:
        return self.milestone.actor or self.party()


def _in_language(given: Mapping[str, str] | None, language: str) -> str | None:
    """What people wrote in several languages: the reader's, if they gave it."""
    return (given or {}).get(language)


def _after(summary: str, prefix: str) -> str | None:
    return summary.removeprefix(prefix) if summary.startswith(prefix) else None


def _place_of(place: Place) -> str:
    return _place(place.city, place.country)


def _money(value: Money, language: str) -> Said:
    return money(value.amount, value.currency.value, language)


def _list(items: list[str], language: str, names: PartyNames = NO_NAMES) -> Said:
    return joined([data(names(item), language) for item in items], language)


Renderer = Callable[[_Context, Any], Said]


def _convention_started(c: _Context, d: ConventionStartedDetails) -> Said:
    title = (
        _in_language(d.titles, c.language) or d.title or _after(c.summary, "Convention started: ")
    )
    if title is None:
        return say(c.language, N_("Convention started"))
    return say(c.language, N_("Convention started: {title}"), title=title)


def _stage_entered(c: _Context, d: MilestoneDetails) -> Said:
    return say(
        c.language, N_("Stage {stage} entered"), stage=stage_name(c.milestone.stage, c.language)
    )


def _stage_completed(c: _Context, d: MilestoneDetails) -> Said:
    return say(
        c.language, N_("Stage {stage} completed"), stage=stage_name(c.milestone.stage, c.language)
    )


def _task_assigned(c: _Context, d: TaskAssignedDetails) -> Said:
    return say(
        c.language,
        N_("{task} — owed by {party}, due {due}"),
        task=c.task(d.kind, d.task),
        party=c.party(),
        due=c.moment_day(d.due_at),
    )


CAPACITY_WORDS = {
    "sign": N_("signing authority"),
    "decide_funding": N_("authority to decide on funding"),
    "review": N_("authority to review drafts"),
    "answer": N_("authority to answer tasks"),
}
"""Each capacity of the directory, as a reader says it (an unknown one is said as it is)."""
_ANSWERED_IN_CAPACITY = N_("{task} — answered by {person} ({capacity}, for {party})")
_ACTED_IN_CAPACITY = {
    "sign": N_("{task} — signed by {person} ({capacity}, for {party})"),
    "decide_funding": N_("{task} — decided by {person} ({capacity}, for {party})"),
}


def capacity_words(capacity: str, language: str) -> str:
    """The capacity the directory checked, in `language`."""
    wording = CAPACITY_WORDS.get(capacity)
    return capacity if wording is None else gettext(language, wording)


def directory_people(details: Iterable[Any]) -> list[str]:
    """The directory's person ids the answers among these milestones' details name (each
    once): what a reader looks up to say their names."""
    found: dict[str, None] = {}
    for detail in details:
        principal = detail.get("principal") if isinstance(detail, Mapping) else None
        check = principal.get("directory") if isinstance(principal, Mapping) else None
        person = check.get("person") if isinstance(check, Mapping) else None
        if isinstance(person, str) and person:
            found[person] = None
    return list(found)


def _task_answered(c: _Context, d: TaskAnsweredDetails) -> Said:
    task = c.task(d.answer.kind, d.task)
    principal = d.principal
    if principal is not None and principal.method.value == "officer_on_behalf":
        return say(
            c.language,
            N_("{task} — entered by officer {officer} on behalf of {party}"),
            task=task,
            officer=principal.name,
            party=c.party(),
        )
    check = principal.directory if principal is not None else None
    if principal is not None and check is not None and check.person:
        # A person the directory vouched for: named with the capacity it checked.
        return say(
            c.language,
            _ACTED_IN_CAPACITY.get(check.capacity, _ANSWERED_IN_CAPACITY),
            task=task,
            person=c.names.person(check.person, principal.name),
            capacity=word(capacity_words(check.capacity, c.language)),
            party=c.names(check.organisation),
        )
    if c.milestone.actor and c.milestone.actor != c.party():
        return say(
            c.language,
            N_("{task} — answered by {person} for {party}"),
            task=task,
            person=c.milestone.actor,
            party=c.party(),
        )
    return say(c.language, N_("{task} — answered by {party}"), task=task, party=c.party())


def _task_overdue(c: _Context, d: Any) -> Said:
    return say(
        c.language,
        N_("{task} — overdue since {due}"),
        task=c.task(facts=d.task),
        due=c.moment_day(d.due_at),
    )


def _task_reminded(c: _Context, d: TaskRemindedDetails) -> Said:
    if d.occurrence == "before-due":
        return say(
            c.language,
            N_("{task} — {party} reminded before the due date ({due})"),
            task=c.task(facts=d.task),
            party=c.party(),
            due=c.moment_day(d.due_at),
        )
    return say(
        c.language,
        N_("{task} — {party} reminded, late since {due}"),
        task=c.task(facts=d.task),
        party=c.party(),
        due=c.moment_day(d.due_at),
    )


def _task_cancelled(c: _Context, d: TaskCancelledDetails) -> Said:
    return say(
        c.language,
        N_("{task} — cancelled: {reason}"),
        task=c.task(facts=d.task),
        reason=(
            reason_said(d.reason_facts, c.language, c.names)
            if d.reason_facts is not None
            else _reason(d.reason, c.language, c.names)
        ),
    )


def _reason(reason: str, language: str, names: PartyNames) -> Said:
    """A reason the workflow wrote in its own wording, said; one a person wrote, as written."""
    said = workflow_reason(reason, language, names)
    return data(reason, language) if said.as_recorded else said


def cancelled_because(task: Any, language: str, names: PartyNames | None = None) -> Said | None:
    """Why a cancelled task was cancelled, in `language`: from its facts (typed-reasons), else
    its English reason read back (what the pattern cannot read, as written); None for a task
    not cancelled or cancelled without a reason."""
    if getattr(task, "status", None) != "cancelled":
        return None
    facts = getattr(task, "closed_reason_facts", None)
    if facts is not None:
        return reason_said(facts, language, names)
    reason = getattr(task, "closed_reason", None)
    return _reason(reason, supported(language), names or NO_NAMES) if reason else None


def _deadline_postponed(c: _Context, d: DeadlinePostponedDetails) -> Said:
    return say(
        c.language,
        N_("{task} — due date moved from {old} to {new}: {reason}"),
        task=c.task(facts=d.task),
        old=c.moment_day(d.from_),
        new=c.moment_day(d.to),
        reason=d.reason,
    )


def _task_reassigned(c: _Context, d: TaskReassignedDetails) -> Said:
    return say(
        c.language,
        N_("{task} — reassigned to {contact}: {reason}"),
        task=c.task(facts=d.task),
        contact=d.to,
        reason=d.reason,
    )


def _draft_version(c: _Context, d: DraftVersionDetails) -> Said:
    return say(
        c.language,
        N_("Version {version} of the text submitted for review"),
        version=number(d.version, c.language),
    )


def _draft_approved(c: _Context, d: DraftApprovedDetails) -> Said:
    return say(
        c.language,
        N_("Version {version} approved by {parties}"),
        version=number(d.version, c.language),
        parties=_list(d.approved_by, c.language, c.names),
    )


def _signed(c: _Context, d: SignedDetails) -> Said:
    said = say(
        c.language,
        N_("Signed by {person}, {capacity}, for {party}"),
        person=c.milestone.actor or d.signatory,
        capacity=d.capacity,
        party=c.party(),
    )
    if d.replacing:
        said = say(
            c.language, N_("{sentence}, in place of {name}"), sentence=said, name=d.replacing
        )
    if d.place is not None:
        said = say(c.language, N_("{sentence}, at {city}"), sentence=said, city=d.place.city)
    return said


def _signature_refused(c: _Context, d: SignatureRefusedDetails) -> Said:
    return say(
        c.language,
        N_("{person} ({party}) refused to sign: {reason}"),
        person=c.who() or d.signatory,
        party=c.party(),
        reason=d.reason or "",
    )


def _party_withdrew(c: _Context, d: PartyWithdrewDetails) -> Said:
    return say(
        c.language,
        N_("{person} ({party}) withdrew from the convention: {reason}"),
        person=c.who() or d.signatory,
        party=c.party(),
        reason=d.reason or "",
    )


def _entered_into_force(c: _Context, d: EnteredIntoForceDetails) -> Said:
    return say(
        c.language,
        N_("Every signature is in: the convention is in force from {date}"),
        # The day the convention is in force: the workflow wrote the UTC date of the last
        # signature, and a convention's date of entry into force is one date for every
        # party (a legal date, not a moment): not shifted.
        date=day(d.in_force_on, c.language),
    )


def _signature_stands(c: _Context, d: SignatureStandsDetails) -> Said:
    return say(
        c.language,
        N_(
            "The signature of {person} ({signatory}) given on {date} stands: the text has not "
            "changed"
        ),
        person=c.who() or d.signatory,
        signatory=d.signatory,
        date=c.moment_day(d.signed_at),
    )


def _mission_held(c: _Context, d: MissionHeldDetails) -> Said:
    lang = c.language
    return say(
        lang,
        N_("Mission held in {place}, from {start} to {end}: {held}, {cancelled}"),
        place=_place_of(d.destination),
        # The mission's calendar days where it is held: not shifted.
        start=day(d.starts_on, lang),
        end=day(d.ends_on, lang),
        held=say_count(lang, "{count} agenda item held", "{count} agenda items held", len(d.held)),
        cancelled=say_count(lang, "{count} cancelled", "{count} cancelled", len(d.cancelled)),
    )


def _mission_report_filed(c: _Context, d: MissionReportFiledDetails) -> Said:
    return say(c.language, N_("Mission report filed: {summary}"), summary=d.summary)


def _findings_filed(c: _Context, d: FindingsFiledDetails) -> Said:
    lang = c.language
    return say(
        lang,
        N_("{findings} and {recommendations} filed"),
        findings=say_count(lang, "{count} finding", "{count} findings", len(d.findings)),
        recommendations=say_count(
            lang,
            "{count} recommendation",
            "{count} recommendations",
            len(d.recommendations),
        ),
    )


def _restitution_held(c: _Context, d: RestitutionHeldDetails) -> Said:
    lang = c.language
    attendees = say_count(lang, "{count} attendee", "{count} attendees", len(d.attendees))
    if d.place is not None:
        return say(
            lang,
            N_("Restitution session on {date} in {city} with {attendees}"),
            # The session's calendar day: not shifted.
            date=day(d.held_on, lang),
            city=d.place.city,
            attendees=attendees,
        )
    return say(
        lang,
        N_("Restitution session on {date} with {attendees}"),
        date=day(d.held_on, lang),
        attendees=attendees,
    )


def _outcomes_agreed(c: _Context, d: OutcomesAgreedDetails) -> Said:
    return say(
        c.language,
        N_("Outcomes agreed by {parties}"),
        parties=_list(d.agreed_by, c.language, c.names),
    )


def _follow_up_started(c: _Context, d: FollowUpStartedDetails) -> Said:
    title = d.title
    if title is None:  # written before typed-task-facts: the summary's
        title = c.summary.rpartition(": ")[2] if ": " in c.summary else ""
    message = (
        N_("Follow-up convention {id} started: {title}")
        if d.started
        else N_("Follow-up convention {id} was already running: {title}")
    )
    return say(c.language, message, id=d.convention_id, title=title)


def _child_linked(c: _Context, d: ChildLinkedDetails) -> Said:
    return say(
        c.language,
        N_("Specific convention {id} derives from this one: {title}"),
        id=d.convention_id,
        title=d.title,
    )


def _parent_linked(c: _Context, d: ParentLinkedDetails) -> Said:
    if d.linked:
        return say(c.language, N_("Linked to framework convention {id}"), id=d.parent)
    return say(
        c.language,
        N_("Framework convention {id} is not running here; the link is kept on this side only"),
        id=d.parent,
    )


def _funding_requested(c: _Context, d: FundingRequestedDetails) -> Said:
    amount = _money(d.requested, c.language)
    if d.revision_note:
        return say(
            c.language,
            N_("Funding of {amount} requested from {funder} (revised: {note})"),
            amount=amount,
            funder=c.names(d.funder),
            note=d.revision_note,
        )
    return say(
        c.language,
        N_("Funding of {amount} requested from {funder}"),
        amount=amount,
        funder=c.names(d.funder),
    )


def _funding_decided(c: _Context, d: FundingDecidedDetails) -> Said:
    funder = c.party()
    if d.decision == "approve" and d.granted is not None:
        return say(
            c.language,
            N_("{funder} approved {amount}"),
            funder=funder,
            amount=_money(d.granted, c.language),
        )
    if d.decision == "reject":
        return say(
            c.language,
            N_("{funder} rejected the request: {comments}"),
            funder=funder,
            comments=d.comments or "",
        )
    return say(
        c.language,
        N_("{funder} asks for more information: {comments}"),
        funder=funder,
        comments=d.comments or "",
    )


def _funding_request_revised(c: _Context, d: FundingRequestRevisedDetails) -> Said:
    return say(
        c.language,
        N_("Request revised to {amount}: {note}"),
        amount=_money(d.requested, c.language),
        note=d.note,
    )


def _progress_reported(c: _Context, d: ProgressReportedDetails) -> Said:
    lang = c.language
    if not d.actuals:
        return say(lang, N_("Progress report {number}: no figures"), number=number(d.report, lang))
    figures = joined(
        [
            say(lang, N_("{indicator} {value}"), indicator=key, value=number(value, lang))
            for key, value in d.actuals.items()
        ],
        lang,
    )
    return say(
        lang,
        N_("Progress report {number}: {figures}"),
        number=number(d.report, lang),
        figures=figures,
    )


def _implementation_reached(c: _Context, d: ImplementationMilestoneReachedDetails) -> Said:
    label = d.label or _after(c.summary, "Reached: ") or d.milestone
    return say(c.language, N_("Reached: {milestone}"), milestone=label)


def _implementation_cancelled(c: _Context, d: ImplementationMilestoneCancelledDetails) -> Said:
    label = d.label or d.milestone
    rest = _after(c.summary, "Cancelled: ")
    if d.label is None and rest is not None and " (" in rest:
        label = rest[: rest.rfind(" (" + d.reason[:20])] or label
    return say(
        c.language, N_("Cancelled: {milestone} ({reason})"), milestone=label, reason=d.reason
    )


def _cohort_started(c: _Context, d: _Cohort) -> Said:
    lang = c.language
    return say(
        lang,
        N_("Cohort {id} started with {trainees}"),
        id=d.id,
        trainees=say_count(lang, "{count} trainee", "{count} trainees", d.trainees),
    )


def _cohort_finished(c: _Context, d: _Cohort) -> Said:
    lang = c.language
    trainees = say_count(lang, "{count} trainee", "{count} trainees", d.trainees)
    if d.graduates is not None and d.trainees:
        return say(
            lang,
            N_("Cohort {id} finished: {trainees}, {graduates} passed ({share})"),
            id=d.id,
            trainees=trainees,
            graduates=number(d.graduates, lang),
            share=word(_percent(d.graduates / d.trainees, lang)),
        )
    return say(lang, N_("Cohort {id} finished: {trainees}"), id=d.id, trainees=trainees)


def _percent(share: float, language: str) -> str:
    from babel.numbers import format_percent

    from rendering.catalogues import locale_of

    return format_percent(share, locale=locale_of(language))


def _cohort_cancelled(c: _Context, d: CohortCancelledDetails) -> Said:
    return say(c.language, N_("Cohort {id} cancelled: {reason}"), id=d.cohort, reason=d.reason)


def _convention_completed(c: _Context, d: MilestoneDetails) -> Said:
    return say(c.language, N_("Every stage completed"))


def _convention_failed(c: _Context, d: ConventionFailedDetails) -> Said:
    if d.reason_facts is not None:
        return say(
            c.language,
            N_("Convention ended: {reason}"),
            reason=reason_said(d.reason_facts, c.language, c.names),
        )
    reason = _after(c.summary, "Convention ended: ")
    if reason is None:
        return as_recorded(c.summary, c.language)
    return say(
        c.language,
        N_("Convention ended: {reason}"),
        reason=workflow_reason(reason, c.language, c.names),
    )


def _convention_terminated(c: _Context, d: ConventionTerminatedDetails) -> Said:
    if d.by_temporal:
        return say(
            c.language,
            N_("Convention terminated by the officer through Temporal: {reason}"),
            reason=d.reason,
        )
    return say(c.language, N_("Convention terminated by the officer: {reason}"), reason=d.reason)


def _stage_failed(c: _Context, d: StageFailedDetails) -> Said:
    return say(
        c.language,
        N_("Stage {stage} failed: {reason}"),
        stage=stage_name(c.milestone.stage, c.language),
        reason=workflow_reason(d.reason, c.language, c.names, d.reason_facts),
    )


def _history_continued(c: _Context, d: HistoryContinuedDetails) -> Said:
    return say(c.language, N_("History continued in run {run}"), run=number(d.run, c.language))


def _officer_changed(c: _Context, d: OfficerChangedDetails) -> Said:
    if d.reason:
        return say(
            c.language,
            N_("Responsible officer changed from {before} to {after} by {by}: {reason}"),
            before=d.from_.name,
            after=d.to.name,
            by=d.changed_by,
            reason=d.reason,
        )
    return say(
        c.language,
        N_("Responsible officer changed from {before} to {after} by {by}"),
        before=d.from_.name,
        after=d.to.name,
        by=d.changed_by,
    )


MILESTONE_RENDERINGS: Mapping[MilestoneKind, Renderer] = {
    MilestoneKind.CONVENTION_STARTED: _convention_started,
    MilestoneKind.STAGE_ENTERED: _stage_entered,
    MilestoneKind.STAGE_COMPLETED: _stage_completed,
    MilestoneKind.TASK_ASSIGNED: _task_assigned,
    MilestoneKind.TASK_ANSWERED: _task_answered,
    MilestoneKind.TASK_OVERDUE: _task_overdue,
    MilestoneKind.DRAFT_VERSION: _draft_version,
    MilestoneKind.DRAFT_APPROVED: _draft_approved,
    MilestoneKind.SIGNED: _signed,
    MilestoneKind.SIGNATURE_REFUSED: _signature_refused,
    MilestoneKind.ENTERED_INTO_FORCE: _entered_into_force,
    MilestoneKind.MISSION_HELD: _mission_held,
    MilestoneKind.MISSION_REPORT_FILED: _mission_report_filed,
    MilestoneKind.FINDINGS_FILED: _findings_filed,
    MilestoneKind.OUTCOMES_AGREED: _outcomes_agreed,
    MilestoneKind.FUNDING_REQUESTED: _funding_requested,
    MilestoneKind.FUNDING_DECIDED: _funding_decided,
    MilestoneKind.PROGRESS_REPORTED: _progress_reported,
    MilestoneKind.IMPLEMENTATION_MILESTONE_REACHED: _implementation_reached,
    MilestoneKind.CONVENTION_COMPLETED: _convention_completed,
    MilestoneKind.CONVENTION_FAILED: _convention_failed,
    MilestoneKind.CONVENTION_TERMINATED: _convention_terminated,
    MilestoneKind.TASK_REMINDED: _task_reminded,
    MilestoneKind.DEADLINE_POSTPONED: _deadline_postponed,
    MilestoneKind.TASK_REASSIGNED: _task_reassigned,
    MilestoneKind.TASK_CANCELLED: _task_cancelled,
    MilestoneKind.STAGE_FAILED: _stage_failed,
    MilestoneKind.PARTY_WITHDREW: _party_withdrew,
    MilestoneKind.RESTITUTION_HELD: _restitution_held,
    MilestoneKind.FOLLOW_UP_STARTED: _follow_up_started,
    MilestoneKind.CHILD_LINKED: _child_linked,
    MilestoneKind.PARENT_LINKED: _parent_linked,
    MilestoneKind.COHORT_STARTED: _cohort_started,
    MilestoneKind.COHORT_FINISHED: _cohort_finished,
    MilestoneKind.HISTORY_CONTINUED: _history_continued,
    MilestoneKind.SIGNATURE_STANDS: _signature_stands,
    MilestoneKind.FUNDING_REQUEST_REVISED: _funding_request_revised,
    MilestoneKind.IMPLEMENTATION_MILESTONE_CANCELLED: _implementation_cancelled,
    MilestoneKind.COHORT_CANCELLED: _cohort_cancelled,
    MilestoneKind.OFFICER_CHANGED: _officer_changed,
}
"""One rendering per kind (tests/test_catalogues.py checks every kind has one)."""


SAID_KEPT = 10_000
"""Milestones said and kept, per process: a milestone never changes once chained, and a page
or a timeline read again says the same ones again (the oldest said are dropped first)."""
_said: dict[tuple[Any, ...], Said] = {}


def milestone_text(
    milestone: Milestone,
    language: str,
    names: PartyNames | None = None,
    zone: str = DEFAULT_ZONE,
) -> Said:
    """What the milestone says, in `language` (English when it is none of the three); the
    stored summary, flagged, when its details do not carry what the sentence needs. Parties
    are said by their `names` where given (the directory's), else by their ids; a moment it
    names (a due date, the day of a signature) is said as the day it is in `zone` (the
    reader's IANA zone), a calendar date (a mission's days) as written.

    Kept by its place in its convention's chain (a seq is written once: the chain refuses
    another), the names, and what the sentence rests on but its details, whose number of
    fields tells the workflow's bounded copy (details left out) from the written one: a
    milestone read again costs a look-up."""
    language = supported(language)
    details = milestone.details
    key = kept_key(
        milestone.convention_id,
        milestone.seq,
        milestone.kind,
        milestone.stage,
        milestone.party,
        milestone.actor,
        milestone.summary,
        len(details) if isinstance(details, dict) else details,
        language,
        names,
        zone,
    )
    said = _said.get(key)
    if said is None:
        said = _milestone_said(milestone, language, names or NO_NAMES, zone)
        if len(_said) >= SAID_KEPT:
            del _said[next(iter(_said))]
        _said[key] = said
    return said


def kept_key(*fields: Any) -> tuple[Any, ...]:
    """How a said milestone is kept: convention, seq, kind, stage, party, actor, summary,
    its details' number of fields, language (supported), names, the reader's zone."""
    return fields


def kept_said(key: tuple[Any, ...]) -> Said | None:
    """The milestone said already under `key` (`kept_key`), if kept: a timeline line that
    is a milestone is looked up before it is built into one."""
    return _said.get(key)


def forget_said() -> None:
    """Drop what was kept (a benchmark's cold reads)."""
    _said.clear()


def _milestone_said(
    milestone: Milestone, language: str, names: PartyNames, zone: str = DEFAULT_ZONE
) -> Said:
    try:
        details = details_of(milestone)
    except UnreadableDetails:
        return as_recorded(milestone.summary, language)
    render = MILESTONE_RENDERINGS.get(milestone.kind)
    if render is None:
        return as_recorded(milestone.summary, language)
    return render(_Context(milestone, language, names or NO_NAMES, zone), details)
