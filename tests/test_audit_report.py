"""`audit.py report` and `check-bundle`: the PDF an inspector files, and a bundle checked with
no server at all, in which each kind of tampering is named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from lxml import etree
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from application.conventions import start_convention
from application.scenarios import play_scenario
from infra.settings import PROJECT_ROOT
from schemas.convention import Convention
from storage.directory import organisations_by_id
from tests.conftest import DEV_TASK_QUEUE, PlayedScenario, example
from tests.test_audit_replay import run_cli, stack_env
from tests.test_iati import ARABIC_TITLE, arabic_only, script_for

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
# Nothing answers here: check-bundle must need neither Temporal nor PostgreSQL.
NO_SERVERS = {
    "TEMPORAL_ADDRESS": "127.0.0.1:1",
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
}


def pdftotext(pdf: Path) -> str:
    """Poppler's reading of the PDF, in logical order (what a reader copies out)."""
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def render_first_page(pdf: Path, prefix: Path) -> Path:
    """Page 1 as a PNG (kept under tests/artifacts/ for a person to look at)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(prefix),
        ],
        check=True,
    )
    return prefix.with_suffix(".png")


@pytest_asyncio.fixture(scope="module")
async def reported(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Convention, Path, Path]:
    """An Arabic-only convention played to completion, archived, then reported and bundled."""
    convention = arabic_only()
    await play_scenario(
        dev_env.client, DEV_TASK_QUEUE, convention, script_for("cycle-maalam", convention)
    )
    env = stack_env(dev_env, postgres_url)
    code, stdout, stderr = await run_cli("archive", convention.id, env=env)
    assert code == 0, stdout + stderr
    directory = tmp_path_factory.mktemp("report")
    pdf, bundle = directory / "report.pdf", directory / "bundle"
    code, stdout, stderr = await run_cli(
        "report", convention.id, "--out", str(pdf), "--bundle", str(bundle), env=env
    )
    assert code == 0, stdout + stderr
    return convention, pdf, bundle


async def test_the_report_shows_the_arabic_title_the_verdicts_and_both_chain_heads(
    reported: tuple[Convention, Path, Path], db_pool: asyncpg.Pool
) -> None:
    convention, pdf, _ = reported
    milestone_head = await db_pool.fetchval(
        "SELECT hash FROM milestones WHERE convention_id = $1 ORDER BY seq DESC LIMIT 1",
        convention.id,
    )
    archive_head = await db_pool.fetchval(
        "SELECT hash FROM history_archive WHERE convention_id = $1 ORDER BY seq DESC LIMIT 1",
        convention.id,
    )
    assert milestone_head and archive_head
    text = pdftotext(pdf)
    assert ARABIC_TITLE in text
    flat = "".join(text.split())
    # A party's name, shaped and in order: the file's Arabic one, unless the directory holds
    # the organisation (another test may have imported it), whose English name the report's
    # reader (English, the default) is then shown.
    written = "مكتب التكوين المهني وإنعاش الشغل"
    [party] = [party for party in convention.parties if party.name == written]
    held = (await organisations_by_id(db_pool, [party.id])).get(party.id)
    expected = held.name("en") if held is not None else written
    assert "".join(expected.split()) in flat
    assert milestone_head in flat and archive_head in flat
    assert "replays" in text and "agree" in text
    assert convention.id in flat
    # pypdf reads the same hashes: the check-bundle reader finds them too.
    pages = PdfReader(pdf).pages
    assert milestone_head in "".join("".join(page.extract_text().split()) for page in pages)

    png = render_first_page(pdf, ARTIFACTS / "audit-report")
    assert png.stat().st_size > 10_000  # a page with text and a chart, not a blank one


async def test_an_intact_bundle_checks_with_no_server(
    reported: tuple[Convention, Path, Path],
) -> None:
    convention, _, bundle = reported
    assert (bundle / "report.pdf").read_bytes()[:5] == b"%PDF-"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["convention_id"] == convention.id
    assert set(manifest["files"]) >= {"milestones.jsonl", "report.pdf", "histories/run-01.json"}
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 0, stdout + stderr
    assert "FAIL" not in stdout
    assert "replay" in stdout and "chained and agree" in stdout and "heads" in stdout
    assert "1 archive entries chained and match their histories" in stdout


def tampered_copy(bundle: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    return copy


def reseal(bundle: Path, name: str) -> None:
    """Write the file's new SHA-256 into the manifest, as a careful forger would."""
    import hashlib

    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


async def test_one_altered_byte_of_a_history_is_named(
    reported: tuple[Convention, Path, Path], tmp_path: Path
) -> None:
    bundle = tampered_copy(reported[2], tmp_path)
    history = bundle / "histories" / "run-01.json"
    content = bytearray(history.read_bytes())
    # A digit of the first event's time, so the file stays JSON and still parses.
    position = content.index(b'"eventTime": "') + len(b'"eventTime": "') + 3
    content[position] = ord("0") if content[position] != ord("0") else ord("1")
    history.write_bytes(bytes(content))
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1, stdout + stderr
    assert "FAIL  histories/run-01.json: does not match its SHA-256" in stdout


async def test_a_removed_milestone_line_is_named_even_with_the_manifest_resealed(
    reported: tuple[Convention, Path, Path], tmp_path: Path
) -> None:
    bundle = tampered_copy(reported[2], tmp_path)
    path = bundle / "milestones.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    removed = json.loads(lines[2])
    path.write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1, stdout + stderr
    assert "milestones.jsonl: does not match its SHA-256" in stdout
    reseal(bundle, "milestones.jsonl")
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1, stdout + stderr
    convention_id = reported[0].id
    assert f"{convention_id} #{removed['seq']}: missing" in stdout
    assert f"#{removed['seq'] + 1}: its predecessor #{removed['seq']} is missing" in stdout
    assert "does not match its SHA-256" not in stdout


async def test_a_history_swapped_for_another_conventions_is_named(
    reported: tuple[Convention, Path, Path],
    played_scenarios: dict[str, PlayedScenario],
    dev_env: WorkflowEnvironment,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    other = played_scenarios["cycle-maalam"].convention
    exported = tmp_path / "other"
    code, stdout, stderr = await run_cli(
        "export", other.id, "--out", str(exported), env=stack_env(dev_env, postgres_url)
    )
    assert code == 0, stdout + stderr
    bundle = tampered_copy(reported[2], tmp_path)
    shutil.copy(next(exported.glob("*/run-01.json")), bundle / "histories" / "run-01.json")
    reseal(bundle, "histories/run-01.json")  # even resealed, it is not this convention's
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1, stdout + stderr
    assert f"holds the history of another convention ({other.id})" in stdout
    assert f"no history of {reported[0].id}" in stdout


async def test_an_edited_archive_entry_is_named(
    reported: tuple[Convention, Path, Path], tmp_path: Path
) -> None:
    bundle = tampered_copy(reported[2], tmp_path)
    path = bundle / "archive.jsonl"
    entry = json.loads(path.read_text(encoding="utf-8"))
    entry["closed_as"] = "terminated"
    path.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    reseal(bundle, "archive.jsonl")
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1, stdout + stderr
    assert "archive.jsonl: entry #1" in stdout and "do not match its hash: edited" in stdout


async def test_a_report_on_a_tampered_convention_says_so_and_fails(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool, postgres_url: str, tmp_path: Path
) -> None:
    convention = example("cycle-maalam")
    await play_scenario(
        dev_env.client, DEV_TASK_QUEUE, convention, script_for("cycle-maalam", convention)
    )
    await db_pool.execute(
        "UPDATE milestones SET summary = summary || ' (corrigé)' WHERE convention_id = $1 "
        "AND seq = 3",
        convention.id,
    )
    pdf = tmp_path / "report.pdf"
    code, stdout, stderr = await run_cli(
        "report", convention.id, "--out", str(pdf), env=stack_env(dev_env, postgres_url)
    )
    assert code == 1, stdout + stderr
    text = " ".join(pdftotext(pdf).split())
    assert "replays" in text  # the history itself is intact
    assert "2 findings" in text  # counted with the language's plural forms
    assert f"{convention.id} #3 summary: PostgreSQL has" in text
    assert "#3: the row's content does not match its hash" in text


async def test_check_bundle_on_a_directory_that_is_no_bundle(tmp_path: Path) -> None:
    code, _, stderr = await run_cli("check-bundle", str(tmp_path), env=NO_SERVERS)
    assert code == 4
    assert "not a bundle" in stderr


async def test_a_report_of_an_unknown_convention_is_not_found_in_one_line(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    pdf = tmp_path / "report.pdf"
    code, stdout, stderr = await run_cli(
        "report", "never-started-x", "--out", str(pdf), env=stack_env(dev_env, postgres_url)
    )
    assert code == 4, stdout + stderr
    assert stderr.startswith("not found:") and "Traceback" not in stderr
    assert not pdf.exists()


async def test_a_convention_of_several_runs_bundles_and_checks_whole(
    dev_env: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    """Continue-as-new every 80 events: every run in the bundle, replayed and agreed with."""
    convention = example("cycle-maalam")
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE, history_limit=50)
    await play_scenario(
        dev_env.client, DEV_TASK_QUEUE, convention, script_for("cycle-maalam", convention)
    )
    env = stack_env(dev_env, postgres_url)
    code, stdout, stderr = await run_cli("archive", convention.id, env=env)
    assert code == 0, stdout + stderr
    bundle = tmp_path / "bundle"
    code, stdout, stderr = await run_cli("report", convention.id, "--bundle", str(bundle), env=env)
    assert code == 0, stdout + stderr
    runs = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["runs"]
    assert len(runs) > 1
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 0, stdout + stderr
    assert f"ok    {len(runs)} run(s)" in stdout
    assert f"{len(runs)} archive entries chained and match their histories" in stdout
    # IATI reads the file from the first run and the milestones of every run.
    out = tmp_path / "activities.xml"
    code, stdout, stderr = await run_cli(
        "iati", convention.id, "--out", str(out), env={**env, "PACTE_IATI_ORG_REF": "MA-X"}
    )
    assert code == 0, stdout + stderr
    periods = etree.parse(str(out)).findall("iati-activity/result/indicator[1]/period")
    assert [at_value(period) for period in periods] == ["600", "1000", "1465", "3000"]


def at_value(period: etree._Element) -> str | None:
    actual = period.find("actual")
    return actual.get("value") if actual is not None else None
