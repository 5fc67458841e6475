"""Verification without Pacte: the inspector's bundle carries every document of the
convention, the sealed original, the timestamp tokens over the chain's heads and the trust
roots; `audit.py check-bundle` verifies them with no server (the hash of each document, the
PAdES seal through pyHanko's validation, each token against the milestone it pins), and names
one byte changed in a document, in the sealed PDF, or a record rewritten with its chain
recomputed end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

pytest.importorskip(
    "pyhanko", reason="pyHanko is not installed in this interpreter (see docs/guides/documents.md)"
)

from application.conventions import answer_open_task, officer_on_behalf, start_convention
from application.documents import store_of
from application.sealing import seal_signed_original
from auditing.timeline import describe_answer
from devkit.polling import eventually
from documents.anchoring import anchor_convention
from documents.certificates import DevelopmentPki, development_pki
from documents.timestamps import LocalTimestampAuthority
from records.chain import GENESIS_HASH, chain_hash
from schemas.convention import Convention
from tests.conftest import DEV_TASK_QUEUE
from tests.document_samples import pdf_with_text
from tests.partner_stack import make_desk, registered
from tests.test_audit_replay import run_cli, stack_env
from tests.test_audit_report import NO_SERVERS
from tests.test_documents_desk import REVIEWER, drafting_and_signature

TEXT = ["Convention cadre", "Article unique - 150 stagiaires"]
ANNEX = ["Annexe - budget", "Ligne 1 - 20 000 MAD"]


@dataclass
class Bundled:
    convention: Convention
    pki: DevelopmentPki
    bundle: Path
    text_sha256: str
    annex_sha256: str
    sealed_sha256: str


@pytest_asyncio.fixture(scope="module")
async def bundled(
    dev_env: WorkflowEnvironment,
    db_pool: asyncpg.Pool,
    postgres_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Bundled:
    """A convention whose stored text was signed, sealed and anchored; then bundled."""
    state = tmp_path_factory.mktemp("bundle-state")
    pki = development_pki(state)
    text, annex = pdf_with_text(TEXT), pdf_with_text(ANNEX)
    sha256 = hashlib.sha256(text).hexdigest()
    data = drafting_and_signature(REVIEWER).model_dump(mode="json")
    desk = make_desk(dev_env.client, db_pool)
    store = store_of(desk)
    await store.put(text, file_name="cadre.pdf", uploaded_by="tests", convention_id=data["id"])
    annex_row = await store.put(
        annex,
        file_name="annexe budget.pdf",
        uploaded_by="k.benali@dmk.example",
        convention_id=data["id"],
        task_id="drafting.review.v1.dmk",
    )
    data["stages"][0]["document"] = {"uri": f"archive:documents/{sha256}", "sha256": sha256}
    convention = await registered(db_pool, Convention.model_validate(data))
    await start_convention(dev_env.client, convention, DEV_TASK_QUEUE)
    for party in ("mre-ministry", "dmk"):
        await answer_open_task(
            dev_env.client,
            convention.id,
            f"drafting.review.v1.{party}",
            party,
            {"decision": "approve", "version": 1},
            wait_seconds=30,
        )
    for signatory, party in (("ofppt-dg", "ofppt"), ("dmk-representant", "dmk")):
        await answer_open_task(
            dev_env.client,
            convention.id,
            f"signature.sign.{signatory}",
            party,
            {"decision": "sign", "document_sha256": sha256},
            wait_seconds=30,
            principal=officer_on_behalf("awa", party),
        )
    await eventually(
        lambda: db_pool.fetchval(
            "SELECT count(*) FROM milestones WHERE convention_id = $1 "
            "AND kind = 'entered_into_force'",
            convention.id,
        ),
        bool,
    )
    tsa = LocalTimestampAuthority(pki.tsa_certificate, pki.tsa_key)
    tsa_url = await tsa.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PACTE_STATE_DIR", str(state))
            sealed = await seal_signed_original(desk, convention.id, "tests", tsa_url=tsa_url)
        await anchor_convention(db_pool, convention.id, tsa_url)
    finally:
        await tsa.stop()
    bundle = tmp_path_factory.mktemp("bundle") / "bundle"
    env = {
        **stack_env(dev_env, postgres_url),
        "PACTE_STATE_DIR": str(state),
        "PACTE_TRUST_ROOTS": str(pki.ca_certificate),
    }
    code, stdout, stderr = await run_cli("report", convention.id, "--bundle", str(bundle), env=env)
    assert code == 0, stdout + stderr
    assert "3 document(s), 1 anchor(s)" in stdout, stdout
    return Bundled(convention, pki, bundle, sha256, annex_row.sha256, sealed.sha256)


def copy_of(bundled: Bundled, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundled.bundle, copy)
    return copy


def flip_byte(path: Path, marker: bytes, replacement: bytes) -> None:
    content = path.read_bytes()
    assert content.count(marker) == 1, marker
    path.write_bytes(content.replace(marker, replacement))


def reseal(bundle: Path, name: str) -> None:
    """What a forger does next: the manifest's hash of the changed file, recomputed."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest), encoding="utf-8")


async def test_the_bundle_carries_documents_seal_tokens_and_roots_and_checks_offline(
    bundled: Bundled,
) -> None:
    bundle = bundled.bundle
    for sha256 in (bundled.text_sha256, bundled.annex_sha256, bundled.sealed_sha256):
        assert hashlib.sha256((bundle / "documents" / sha256).read_bytes()).hexdigest() == sha256
    listed = [json.loads(line) for line in (bundle / "documents.jsonl").read_text().splitlines()]
    annex = next(d for d in listed if d["sha256"] == bundled.annex_sha256)
    assert (annex["file_name"], annex["task_id"]) == ("annexe budget.pdf", "drafting.review.v1.dmk")
    assert [d["sealed_original"] for d in listed].count(True) == 1
    assert (bundle / "anchors" / "1.tst").exists() is False  # the head anchored, not seq 1
    assert len(list((bundle / "anchors").glob("*.tst"))) == 1
    assert (bundle / "certificates" / "root-01.pem").read_bytes() == (
        bundled.pki.ca_certificate.read_bytes()
    )
    code, stdout, stderr = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 0, stdout + stderr
    assert "3 document(s) match their SHA-256, 1 sealed original(s) validated" in stdout
    assert "the sealed original's seal holds (PAdES" in stdout
    assert "1 anchor(s) hold" in stdout
    assert "give --trust" in stdout  # the bundle's own roots: said
    code, stdout, stderr = await run_cli(
        "check-bundle", str(bundle), "--trust", str(bundled.pki.ca_certificate), env=NO_SERVERS
    )
    assert code == 0 and "give --trust" not in stdout, stdout + stderr


async def test_one_byte_changed_in_a_document_is_named(bundled: Bundled, tmp_path: Path) -> None:
    bundle = copy_of(bundled, tmp_path)
    name = f"documents/{bundled.annex_sha256}"
    flip_byte(bundle / name, b"20 000", b"90 000")
    reseal(bundle, name)
    code, stdout, _ = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1
    assert f"FAIL  {name} (annexe budget.pdf, drafting.review.v1.dmk): its bytes hash to" in stdout


async def test_one_byte_changed_in_the_sealed_pdf_is_named_by_hash_and_by_the_seal(
    bundled: Bundled, tmp_path: Path
) -> None:
    bundle = copy_of(bundled, tmp_path)
    name = f"documents/{bundled.sealed_sha256}"
    flip_byte(bundle / name, b"150 stagiaires", b"190 stagiaires")
    reseal(bundle, name)
    code, stdout, _ = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1
    failures = [line for line in stdout.splitlines() if line.startswith(f"FAIL  {name}")]
    assert any("its bytes hash to" in line for line in failures), stdout
    assert any(
        "the sealed original: seal 'PacteOfficeSeal': the bytes it covers were changed" in line
        for line in failures
    ), stdout


async def test_a_seal_or_a_token_from_another_authority_is_named(
    bundled: Bundled, tmp_path: Path
) -> None:
    other = development_pki(tmp_path / "elsewhere").ca_certificate
    code, stdout, _ = await run_cli(
        "check-bundle", str(bundled.bundle), "--trust", str(other), env=NO_SERVERS
    )
    assert code == 1
    assert "the sealed original: seal 'PacteOfficeSeal': the certificate" in stdout
    assert "does not chain to a given trust root" in stdout
    assert "token: the timestamp authority does not chain to a given trust root" in stdout


async def test_a_record_rewritten_with_its_chain_recomputed_fails_on_its_anchor(
    bundled: Bundled, tmp_path: Path
) -> None:
    """Every row re-hashed and the manifest resealed: the chain holds, the anchor does not."""
    bundle = copy_of(bundled, tmp_path)
    path = bundle / "milestones.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[1]["summary"] = rows[1]["summary"] + " (rewritten)"
    previous = GENESIS_HASH
    for row in rows:
        row["prev_hash"], row["hash"] = previous, chain_hash(previous, row)
        previous = row["hash"]
    path.write_text(
        "".join(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n" for row in rows),
        encoding="utf-8",
    )
    reseal(bundle, "milestones.jsonl")
    code, stdout, _ = await run_cli("check-bundle", str(bundle), env=NO_SERVERS)
    assert code == 1
    head = rows[-1]["seq"]
    assert (
        f"FAIL  anchors/{head}.tst (milestone #{head}, timestamped" in stdout
        and "the record was rewritten after it was anchored" in stdout
    ), stdout
    assert "chain_broken" not in stdout and "does not match its hash" not in stdout


def test_the_timeline_lists_an_answers_attachments_and_the_signed_texts_hash() -> None:
    stored = "archive:documents/" + "b" * 64
    said = describe_answer(
        {
            "kind": "progress_report",
            "attachments": [{"uri": stored}, {"uri": "https://ofppt.ma/evidence.pdf"}],
            "terms_of_reference": {"uri": "archive:ofppt/tdr.pdf"},
        }
    )
    assert f"attachments {stored}, https://ofppt.ma/evidence.pdf" in said
    assert "terms_of_reference archive:ofppt/tdr.pdf" in said
    signed = describe_answer({"kind": "sign", "decision": "sign", "document_sha256": "c" * 64})
    assert signed == f"sign; on the text of SHA-256 {'c' * 64}"
