"""The catalogues are complete and sound: every message the code and the templates use is in
French, Arabic and English; every milestone and task kind has its rendering in each language;
no translation drops or invents a placeholder (the lint step runs the same check)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from infra.settings import PROJECT_ROOT
from rendering.catalogue_check import load, problems
from rendering.catalogues import LANGUAGES
from rendering.formats import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE
from rendering.record import (
    MILESTONE_RENDERINGS,
    TASK_KINDS_RENDERED,
    milestone_text,
    task_instructions,
)
from schemas.milestones import Milestone, MilestoneKind
from schemas.tasks import TaskKind
from tests.test_milestone_details import recorded_groups, recorded_milestones

KEYWORDS: dict[str, Any] = {
    "N_": None,
    "_": None,
    "gettext": (2,),  # gettext(language, message) in Python
    "ngettext": (2, 3),
    "say": (2,),
    "say_count": (2, 3),
}
"""The same as babel.cfg's `pybabel extract` line."""
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
ISOLATED = re.compile(
    f"{FIRST_STRONG_ISOLATE}[^{POP_DIRECTIONAL_ISOLATE}]*{POP_DIRECTIONAL_ISOLATE}"
)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

# The kinds no recorded history holds yet, as their writers write them.
NOT_RECORDED: dict[MilestoneKind, tuple[str, dict[str, Any]]] = {
    MilestoneKind.CHILD_LINKED: (
        "Specific convention psa-2026 derives from this one: Cursus PSA",
        {"convention_id": "psa-2026", "title": "Cursus PSA", "kind": "specific"},
    ),
    MilestoneKind.COHORT_CANCELLED: (
        "Cohort c3 cancelled: pas de locaux",
        {"cohort": "c3", "reason": "pas de locaux"},
    ),
    MilestoneKind.COHORT_FINISHED: (
        "Cohort c1 finished: 20 trainees, 15 passed (75%)",
        {"id": "c1", "event": "finished", "trainees": 20, "graduates": 15},
    ),
    MilestoneKind.COHORT_STARTED: (
        "Cohort c2 started with 1 trainees",
        {"id": "c2", "event": "started", "trainees": 1},
    ),
    MilestoneKind.CONVENTION_TERMINATED: (
        "Convention terminated by the officer: doublon",
        {"reason": "doublon"},
    ),
    MilestoneKind.DEADLINE_POSTPONED: (
        "Review version 1 of the text — due date moved from 2026-12-01 to 2026-12-15: congés",
        {
            "from": "2026-12-01T00:00:00+00:00",
            "to": "2026-12-15T00:00:00+00:00",
            "reason": "congés",
        },
    ),
    MilestoneKind.IMPLEMENTATION_MILESTONE_CANCELLED: (
        "Cancelled: Atelier de Kayes (pas de budget)",
        {"milestone": "kayes", "reason": "pas de budget"},
    ),
    MilestoneKind.PARTY_WITHDREW: (
        "Mohamed Lacham (amica) withdrew from the convention: plus de budget",
        {"signatory": "amica-p", "reason": "plus de budget"},
    ),
    MilestoneKind.OFFICER_CHANGED: (
        "Responsible officer changed from Nadia Benali to Karim Alaoui by Nadia Benali: congé",
        {
            "changed_by": "Nadia Benali <n.benali@ofppt.example>",
            "from": {"name": "Nadia Benali", "email": "n.benali@ofppt.example"},
            "to": {"name": "Karim Alaoui", "email": "k.alaoui@ofppt.example"},
            "reason": "congé",
        },
    ),
    MilestoneKind.TASK_REASSIGNED: (
        "Review version 1 of the text — reassigned to فاطمة انجاي (mre): absente",
        {"from": None, "to": "فاطمة انجاي", "reason": "absente"},
    ),
}


@cache
def used_messages() -> dict[str | tuple[str, ...], str]:
    """Every message id the code and the templates use, extracted as babel.cfg says."""
    with (PROJECT_ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    found: dict[str | tuple[str, ...], str] = {}
    for path, line, message, _, _ in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=()
    ):
        found.setdefault(message, f"{path}:{line}")
    return found


@cache
def catalogue(language: str) -> Catalog:
    return load(language)


@cache
def one_of_each_kind() -> list[Milestone]:
    """A milestone of every kind: the recorded histories' first, else as its writer writes it."""
    import asyncio

    async def recorded() -> dict[str, dict[str, Any]]:
        first: dict[str, dict[str, Any]] = {}
        for group in recorded_groups():
            for milestone in await recorded_milestones(group):
                first.setdefault(milestone["kind"], milestone)
        return first

    first = asyncio.run(recorded())
    milestones = []
    for kind in MilestoneKind:
        if kind.value in first:
            milestones.append(Milestone.model_validate(first[kind.value]))
            continue
        summary, details = NOT_RECORDED[kind]
        milestones.append(
            Milestone(
                convention_id="rabat-2026",
                seq=1,
                kind=kind,
                stage="implementation",
                task_id="implementation.report.1",
                party="amica",
                actor="Mohamed Lacham",
                occurred_at=NOW,
                summary=summary,
                details=details,
            )
        )
    return milestones


def test_the_extraction_finds_the_messages_of_code_templates_and_renderings() -> None:
    used = used_messages()
    for message in (
        "Tasks awaiting your answer",  # a template
        "Your Pacte confirmation code",  # web/i18n.py, gettext(language, …)
        "Review version {version} of the text",  # rendering/record.py
        ("wrong code ({count} try left)", "wrong code ({count} tries left)"),
        ("{count} finding", "{count} findings"),
    ):
        assert message in used, message


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_used_is_in_the_catalogue(language: str) -> None:
    catalog = catalogue(language)
    missing = []
    for message, where in used_messages().items():
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        # English is the source language: an entry may leave the message id as the text.
        if entry is None or (language != "en" and not entry.string):
            missing.append(f"{where}: {message!r}")
        elif isinstance(message, tuple) and not isinstance(entry.id, tuple):
            missing.append(f"{where}: {message!r} has no plural forms")
    assert missing == []


def test_every_milestone_and_task_kind_has_a_rendering() -> None:
    assert set(MILESTONE_RENDERINGS) == set(MilestoneKind)
    assert set(TaskKind) == TASK_KINDS_RENDERED
    assert set(NOT_RECORDED) <= set(MilestoneKind)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_milestone_kind_renders_in_every_language(language: str) -> None:
    for milestone in one_of_each_kind():
        said = milestone_text(milestone, language)
        assert not said.as_recorded, (milestone.kind, milestone.summary)
        assert said.text.strip(), milestone.kind
        if language == "ar":
            outside = ISOLATED.sub("", said.text)
            assert not LATIN_WORD.search(outside), (milestone.kind, said.text)
        if language == "fr":
            assert said.text != milestone_text(milestone, "en").text, milestone.kind
    for kind in TaskKind:
        instructions = task_instructions(type("T", (), {"kind": kind})(), language).text
        assert instructions, kind


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogues_pass_babels_checkers_and_keep_every_placeholder(language: str) -> None:
    assert list(problems(language)) == []


def test_a_translation_that_drops_or_invents_a_placeholder_is_caught() -> None:
    broken = Catalog(locale="fr")
    broken.add("Version {version} approved by {parties}", "Version approuvée par {parties}")
    broken.add("Stage {stage} entered", "Entrée dans l'étape {étape} {stage}")
    broken.add(
        ("{count} finding", "{count} findings"),
        ("{count} constat", "{nombre} constats", "{count} constats"),
    )
    found = list(problems("fr", broken))
    assert len(found) == 2 + 1, found
    assert any("'Version {version} approved by {parties}'" in line for line in found)
    assert any("form 1: unknown {'nombre'}" in line for line in found)
