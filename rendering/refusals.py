"""The workflow's refusals in the reader's language.

A convention's workflow refuses an answer or an officer's action with a typed refusal
(`schemas.errors.Refusal`: a code, the field at fault, the values its sentence names) beside
its English message; the desks receive both as a `schemas.errors.Reason`. French and Arabic
readers get the sentence of its code, said from its parameters (names and ids isolated, dates
and lists in the locale's form); English readers get the workflow's own message, which the
API gives too (beside the stable code).

    refusal_text(reason, "ar")   # "المهمة ‹x› أُجيب عنها بالفعل (أجاب عنها …)"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from string import Formatter
from typing import Any

from babel.lists import format_list
from pydantic import ValidationError

from rendering.catalogues import N_, gettext, locale_of, supported
from rendering.formats import Said, data, day, number, say, word
from rendering.record import kind_title, workflow_reason
from rendering.zones import DEFAULT_ZONE
from rendering.zones import moment as zoned_moment
from schemas.actors import METHOD_WORDING
from schemas.errors import RefusalCode
from schemas.reasons import ReasonFacts

REFUSALS: Mapping[RefusalCode, str] = {
    RefusalCode.UNKNOWN_TASK: N_("there is no open task {task} (open tasks: {open})"),
    RefusalCode.TASK_DONE: N_("the task {task} has already been answered (by {answered_by})"),
    RefusalCode.TASK_CANCELLED: N_("the task {task} was cancelled"),
    RefusalCode.NOT_OWED: N_("{acting_party} does not owe the task {task}; {assignee} does"),
    RefusalCode.WRONG_ANSWER_KIND: N_(
        "the task {task} expects an answer of another kind ({expected}, not {given})"
    ),
    RefusalCode.NOT_THE_ACTING_PARTY: N_("{party} does not act for {acting_party}"),
    RefusalCode.TASK_REASSIGNED: N_(
        "the task {task} was reassigned to {contact}; {person} may not answer it"
    ),
    RefusalCode.DUE_WITHOUT_TIME_ZONE: N_(
        "give the new due date with its time zone (e.g. 2027-01-31T17:00:00Z)"
    ),
    RefusalCode.DUE_NOT_LATER: N_("{new} is not later than the current due date, {current}"),
    RefusalCode.NOT_A_CONTACT: N_("{contact} is not a contact of {party} (contacts: {contacts})"),
    RefusalCode.ALREADY_WITH_CONTACT: N_("the task {task} is already with {contact}"),
    RefusalCode.TERMINATION_REQUESTED: N_("the convention's end was already asked for: {reason}"),
    RefusalCode.CONVENTION_COMPLETED: N_("the convention {convention} is completed"),
    RefusalCode.CONVENTION_FAILED: N_("the convention {convention} has ended without success"),
    RefusalCode.CONVENTION_TERMINATED: N_("the convention {convention} was terminated"),
    RefusalCode.WRONG_VERSION: N_(
        "version {given} is not the version under review (version {current})"
    ),
    RefusalCode.UNKNOWN_AGENDA_ITEM: N_("{item} is not an item of the mission's agenda"),
    RefusalCode.HELD_AND_CANCELLED: N_("{items}: an item cannot be both held and cancelled"),
    RefusalCode.AGENDA_ITEMS_UNACCOUNTED: N_("say whether {items} were held or cancelled"),
    RefusalCode.UNKNOWN_PLANNED_MILESTONE: N_("{milestone} is not a planned milestone"),
    RefusalCode.MILESTONE_ALREADY_CLOSED: N_(
        "the milestone {milestone} is already reached or cancelled"
    ),
    RefusalCode.MILESTONE_WAS_CANCELLED: N_("the milestone {milestone} was cancelled"),
    RefusalCode.CANCELLED_TWICE: N_("{item} is cancelled twice"),
    RefusalCode.COHORT_ALREADY_CANCELLED: N_("the cohort {cohort} is already cancelled"),
    RefusalCode.COHORT_ALREADY_FINISHED: N_("the cohort {cohort} has already finished"),
    RefusalCode.COHORT_WAS_CANCELLED: N_("the cohort {cohort} was cancelled"),
    RefusalCode.COHORT_ALREADY_STARTED: N_("the cohort {cohort} has already started"),
    RefusalCode.COHORT_NEVER_STARTED: N_("the cohort {cohort} never started"),
    RefusalCode.UNKNOWN_INDICATOR: N_("{indicator} is not an indicator of the plan"),
    RefusalCode.OFFICER_WITHOUT_NAME: N_("give the new officer's name"),
    RefusalCode.OFFICER_WITHOUT_EMAIL: N_(
        "give {name}'s e-mail address: escalations are mailed to it"
    ),
    RefusalCode.SAME_OFFICER: N_("{name} is already the responsible officer"),
    RefusalCode.STILL_STARTING: N_(
        "the convention {convention} is still starting: try again in a moment"
    ),
    RefusalCode.OFFICER_CHANGE_UNSUPPORTED: N_(
        "this convention's run cannot change its responsible officer"
    ),
    RefusalCode.STAGE_RULE: N_("the answer does not meet a rule of this stage"),
}
"""One sentence per code (tests/test_typed_reasons.py: every code, every catalogue). A stage's
rule that raised a plain ValueError has no values to say: STAGE_RULE says that a rule of the
stage refused it (the page places it beside its field; English readers and the API get the
rule's own text)."""

_DATES = frozenset({"new", "current"})
"""Parameters that are dates (ISO text): said in the locale's long form."""
_VERSION_NUMBERS = frozenset({"given", "current"})


_CODES = frozenset(code.value for code in RefusalCode)


def is_refusal(reason: object) -> bool:
    """A Reason carrying one of the workflow's refusal codes."""
    return getattr(reason, "code", None) in _CODES


def refusal_said(reason: Any, language: str, zone: str = DEFAULT_ZONE) -> Said:
    """The refusal in `language`: the workflow's English message to English readers and for
    a code with no sentence; else the code's sentence from its parameters, a due moment
    said in the reader's `zone`."""
    language = supported(language)
    try:
        code = RefusalCode(getattr(reason, "code", ""))
    except ValueError:
        code = None
    template = REFUSALS.get(code) if code is not None else None
    if code is None or template is None or language == "en":
        # The workflow's own words: an unknown code, or the English reader's.
        return word(str(reason) if language == "en" else gettext(language, str(reason)))
    params: Mapping[str, Any] = getattr(reason, "params", None) or {}
    if code is RefusalCode.TASK_CANCELLED and ("reason" in params or "reason_facts" in params):
        return _cancelled_because(params, language)
    values = {name: _value(name, value, code, language, zone) for name, value in params.items()}
    for name in _placeholders(template):
        values.setdefault(name, data("—", language))
    return say(language, template, **values)


def _cancelled_because(params: Mapping[str, Any], language: str) -> Said:
    """A task found cancelled, with why: from the reason's facts when the workflow wrote
    them (typed-reasons), else its English wording read back (what no pattern reads is shown
    as recorded, marked so)."""
    facts = None
    if isinstance(params.get("reason_facts"), dict):
        try:
            facts = ReasonFacts.model_validate(params["reason_facts"])
        except ValidationError:
            facts = None
    why = workflow_reason(str(params.get("reason") or ""), language, facts=facts)
    return say(
        language,
        N_("the task {task} was cancelled: {reason}"),
        task=data(params.get("task", "—"), language),
        reason=why,
    )


def refusal_text(reason: Any, language: str, zone: str = DEFAULT_ZONE) -> str:
    """The refusal's plain text in `language` (names isolated in right-to-left text)."""
    return refusal_said(reason, language, zone).text


def _value(
    name: str, value: Any, code: RefusalCode, language: str, zone: str = DEFAULT_ZONE
) -> Said | str:
    if isinstance(value, list):
        if not value:
            return say(language, N_("none"))
        return data(
            format_list([str(item) for item in value], locale=locale_of(language)), language
        )
    if name in _DATES and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
        # A due moment (ISO with its time) is said with its time in the reader's zone,
        # naming it: two moments of one day ("not later than") must stay apart. A bare
        # date is a calendar date, said as written.
        return zoned_moment(moment, language, zone) if "T" in value else day(moment, language)
    if code is RefusalCode.TASK_DONE and name == "answered_by" and isinstance(value, str):
        return answered_by_said(value, language)
    if code is RefusalCode.WRONG_ANSWER_KIND and name in ("expected", "given"):
        return kind_title(str(value), language)
    if code is RefusalCode.WRONG_VERSION and name in _VERSION_NUMBERS:
        return number(int(value), language)
    return str(value)


_BY_CONTACT = re.compile(r"answered by (?P<person>.+) for (?P<party>[^,]+), (?P<method>.+)")
_BY_OFFICER = re.compile(
    r"entered by officer (?P<officer>.+) on behalf of (?P<party>\S+)(?: \(for (?P<person>.+)\))?"
)
_BY_PARTY = re.compile(r"answered by (?P<party>\S+)")
_METHODS = {wording: method.value for method, wording in METHOD_WORDING.items()}
"""How the workflow words a proof (schemas.actors), back to its code: the receipt's msgid."""


def answered_by_said(recorded: str, language: str) -> Said:
    """Who answered a task, as the workflow recorded it in English ("answered by Awa Diallo
    for bid, e-mailed link confirmed by code", workflows.task_rules.answered_by: a workflow's
    value, not to be changed), said in `language`: the names as written, the words
    translated. A wording none of the three forms reads is shown as recorded, isolated."""
    if found := _BY_CONTACT.fullmatch(recorded):
        method = _METHODS.get(found["method"])
        return say(
            language,
            N_("{person} for {party}, {method}"),
            person=found["person"],
            party=found["party"],
            method=word(gettext(language, method)) if method else found["method"],
        )
    if found := _BY_OFFICER.fullmatch(recorded):
        if found["person"]:
            return say(
                language,
                N_("officer {officer} on behalf of {party} (for {person})"),
                officer=found["officer"],
                party=found["party"],
                person=found["person"],
            )
        return say(
            language,
            N_("officer {officer} on behalf of {party}"),
            officer=found["officer"],
            party=found["party"],
        )
    if found := _BY_PARTY.fullmatch(recorded):
        return data(found["party"], language)
    return data(recorded, language)


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in Formatter().parse(template) if name]
