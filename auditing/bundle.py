"""An inspector's bundle: a convention's histories, milestones and audit report, checkable
with neither Temporal nor PostgreSQL.

DIR/histories/ holds every run as `export` writes it; DIR/milestones.jsonl every milestone
row, one JSON object per line, as PostgreSQL holds it (with its prev_hash and hash);
DIR/report.pdf the audit report; DIR/documents/<sha256> every document of the convention
(texts, attachments, the sealed original), listed in DIR/documents.jsonl; DIR/anchors/ the
timestamp tokens over the chain's heads, listed in DIR/anchors.jsonl; DIR/certificates/ the
roots the seal and the tokens chain to; DIR/manifest.json the SHA-256 of each of them and the
head hashes of the milestone chain and of the archive chain. `check_bundle` replays the
histories (the SDK's Replayer, offline), re-chains the milestones with the very functions that
wrote them (activities/milestones.py), compares them with the histories as `verify` does,
hashes every document, validates the sealed original with pyHanko, checks each token against
the milestone it pins, and reads the report's text for the heads: each failure named.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import asyncpg
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from auditing.export import export_convention
from auditing.histories import ConventionHistory, FileHistories, InvalidRequest
from auditing.replay import replay_conventions
from auditing.verify import _against_history, _history_milestones, chain_findings
from documents.anchoring import anchored_text
from documents.sealing import verify_sealed
from documents.timestamps import check_token, sha256_digest
from records.archive_store import ENTRY_FIELDS, ArchiveEntry, entry_hash
from records.chain import GENESIS_HASH, canonical_time, chain_hash
from schemas.milestones import Milestone
from storage.documents import AnchorRow, DocumentRow
from storage.milestones import stored_rows

MANIFEST = "manifest.json"
MILESTONES = "milestones.jsonl"
ARCHIVE = "archive.jsonl"
REPORT = "report.pdf"
HISTORIES = "histories"
DOCUMENTS = "documents"
DOCUMENT_LIST = "documents.jsonl"
ANCHORS = "anchors"
ANCHOR_LIST = "anchors.jsonl"
CERTIFICATES = "certificates"
BUNDLE_FORMAT = "pacte-audit-bundle/1"
SEALED_TASK = "sealed-original"
"""The task id the sealed original is kept under (application/sealing.py)."""


@dataclass(frozen=True)
class BundledDocument:
    """One document of the convention as the bundle carries it: its row and its bytes (None
    when the store could not give them back intact: the bundle then lacks it, and says so)."""

    row: DocumentRow
    content: bytes | None


def document_line(row: DocumentRow) -> str:
    """A document's row as one JSON line (what it is, who uploaded it, for which task)."""
    values = {
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "media_type": row.media_type,
        "file_name": row.file_name,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": canonical_time(row.uploaded_at),
        "task_id": row.task_id,
        "sealed_original": row.task_id == SEALED_TASK,
    }
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def anchor_line(anchor: AnchorRow) -> str:
    """A token's row as one JSON line; the token itself is anchors/<seq>.tst (DER)."""
    values = {
        "head_seq": anchor.head_seq,
        "head_hash": anchor.head_hash,
        "tsa_url": anchor.tsa_url,
        "gen_time": canonical_time(anchor.gen_time),
        "token": f"{ANCHORS}/{anchor.head_seq}.tst",
    }
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def stored_milestones(pool: asyncpg.Pool, convention_id: str) -> list[dict[str, Any]]:
    """Every milestone row of the convention, in seq order, as PostgreSQL holds it."""
    return await stored_rows(pool, convention_id)


def as_milestone(row: Mapping[str, Any]) -> Milestone:
    """A stored row read as the milestone it records (its chain's columns left aside).

    For readers of the record's meaning (IATI, reports); the bundle and `verify` keep the
    rows whole and raw, since they check them byte for byte, and an altered row must be
    reported, not refused by the model.
    """
    return Milestone.model_validate({name: row[name] for name in Milestone.model_fields})


def chain_head(rows: Sequence[Mapping[str, Any]]) -> str:
    """The hash of the last row (the chain's head), or the genesis value with no row."""
    return str(rows[-1]["hash"]) if rows and rows[-1].get("hash") else GENESIS_HASH


def milestone_line(row: Mapping[str, Any]) -> str:
    """A row as one JSON line: times in the chain's canonical text, so it re-hashes alike."""
    values = dict(row)
    if values.get("occurred_at") is not None:
        values["occurred_at"] = canonical_time(values["occurred_at"])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def archive_line(entry: ArchiveEntry) -> str:
    """An archive entry as one JSON line: its chained fields, prev_hash and hash."""
    values: dict[str, Any] = {
        **entry.fields(),
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
    for name in ("started_at", "closed_at", "archived_at"):
        values[name] = canonical_time(values[name])
    return json.dumps(values, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class BundleHeads:
    """The chains' heads the report prints and the manifest records."""

    milestone_head: str
    milestones: int
    archive_head: str | None
    archive_entries: int


def write_bundle(
    directory: Path,
    history: ConventionHistory,
    rows: Sequence[Mapping[str, Any]],
    report_pdf: bytes,
    heads: BundleHeads,
    archive_entries: Sequence[ArchiveEntry] = (),
    *,
    documents: Sequence[BundledDocument] = (),
    anchors: Sequence[AnchorRow] = (),
    certificates: Sequence[Path] = (),
) -> Path:
    """Write the bundle into directory (created); returns the manifest's path."""
    directory.mkdir(parents=True, exist_ok=True)
    export = export_convention(history, directory / HISTORIES)
    (directory / MILESTONES).write_text(
        "".join(milestone_line(row) + "\n" for row in rows), encoding="utf-8"
    )
    (directory / ARCHIVE).write_text(
        "".join(archive_line(entry) + "\n" for entry in archive_entries), encoding="utf-8"
    )
    (directory / REPORT).write_bytes(report_pdf)
    extra = _write_evidence(directory, documents, anchors, certificates)
    files = sorted(
        [f"{HISTORIES}/{run.file}" for run in export.runs] + [MILESTONES, ARCHIVE, REPORT, *extra]
    )
    manifest = {
        "format": BUNDLE_FORMAT,
        "convention_id": history.convention_id,
        "workflow_id": history.workflow_id,
        "source": history.source,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": [run.model_dump(mode="json") for run in export.runs],
        "files": {name: _sha256(directory / name) for name in files},
        "milestone_chain_head": heads.milestone_head,
        "milestones": heads.milestones,
        "archive_chain_head": heads.archive_head,
        "archive_entries": heads.archive_entries,
    }
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _write_evidence(
    directory: Path,
    documents: Sequence[BundledDocument],
    anchors: Sequence[AnchorRow],
    certificates: Sequence[Path],
) -> list[str]:
    """The documents, the tokens and the trust roots; the names written, for the manifest."""
    written: list[str] = [DOCUMENT_LIST, ANCHOR_LIST]
    (directory / DOCUMENTS).mkdir(exist_ok=True)
    for document in documents:
        name = f"{DOCUMENTS}/{document.row.sha256}"
        if document.content is not None and name not in written:
            (directory / name).write_bytes(document.content)
            written.append(name)
    (directory / DOCUMENT_LIST).write_text(
        "".join(document_line(document.row) + "\n" for document in documents), encoding="utf-8"
    )
    (directory / ANCHORS).mkdir(exist_ok=True)
    for anchor in anchors:
        name = f"{ANCHORS}/{anchor.head_seq}.tst"
        (directory / name).write_bytes(anchor.token)
        written.append(name)
    (directory / ANCHOR_LIST).write_text(
        "".join(anchor_line(anchor) + "\n" for anchor in anchors), encoding="utf-8"
    )
    (directory / CERTIFICATES).mkdir(exist_ok=True)
    for number, path in enumerate(certificates, start=1):
        name = f"{CERTIFICATES}/root-{number:02d}.pem"
        (directory / name).write_bytes(path.read_bytes())
        written.append(name)
    return written


@dataclass(frozen=True)
class BundleCheck:
    """What check-bundle found: one message per failure, and what held."""

    convention_id: str | None
    failures: list[str]
    passed: list[str]

    @property
    def ok(self) -> bool:
        """No failure."""
        return not self.failures


def _read_rows(path: Path, failures: list[str]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(f"{MILESTONES} line {number}: not JSON: {error}")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("seq"), int):
            failures.append(f"{MILESTONES} line {number}: not a milestone row (no seq)")
            continue
        rows[row["seq"]] = row
    return rows


def _history_paths(directory: Path) -> list[Path]:
    return sorted((directory / HISTORIES).glob("run-*.json"))


def pdf_text(pdf: bytes) -> str:
    """The report's text, as a reader copies it out of the PDF."""
    # pypdf logs what it repairs; check-bundle reports an unreadable PDF itself, once.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    reader = PdfReader(BytesIO(pdf))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


async def check_bundle(
    directory: Path,
    converter: DataConverter = pydantic_data_converter,
    trust: Sequence[Path] | None = None,
) -> BundleCheck:
    """Every check a bundle allows, offline; never stops at the first failure.

    `trust`: the roots the seal and the tokens must chain to, the auditor's own; None: the
    bundle's certificates/ (which prove nothing against whoever wrote the bundle: said)."""
    failures: list[str] = []
    passed: list[str] = []
    manifest_path = directory / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return BundleCheck(None, [f"{MANIFEST}: unreadable: {error}"], [])
    convention_id = manifest.get("convention_id")
    if not isinstance(convention_id, str):
        return BundleCheck(None, [f"{MANIFEST}: no convention_id"], [])

    # 1. Every file against its SHA-256; every history file listed.
    listed: dict[str, str] = manifest.get("files") or {}
    for name, digest in sorted(listed.items()):
        path = directory / name
        if not path.exists():
            failures.append(f"{name}: missing from the bundle")
        elif _sha256(path) != digest:
            failures.append(f"{name}: does not match its SHA-256 in {MANIFEST}: altered")
    on_disk = {f"{HISTORIES}/{path.name}" for path in (directory / HISTORIES).glob("*.json")}
    on_disk.discard(f"{HISTORIES}/manifest.json")
    for name in sorted(on_disk - set(listed)):
        failures.append(f"{name}: a history file the manifest does not list")
    for required in (MILESTONES, REPORT):
        if required not in listed:
            failures.append(f"{required}: not listed in {MANIFEST}")
    if not failures:
        passed.append(f"{len(listed)} files match their SHA-256")

    # 2. The histories: this convention's, and they replay.
    history: ConventionHistory | None = None
    paths = _history_paths(directory)
    try:
        if not paths:
            raise InvalidRequest(f"no history file (run-NN.json) in {directory / HISTORIES}")
        chains = (await FileHistories.load(paths, converter)).chains
        others = sorted({chain.convention_id for chain in chains} - {convention_id})
        if others:
            failures.append(
                f"{HISTORIES}: holds the history of another convention ({', '.join(others)}), "
                f"not only {convention_id}'s"
            )
        ours = [chain for chain in chains if chain.convention_id == convention_id]
        if len(ours) == 1:
            history = ours[0]
        elif not ours:
            failures.append(f"{HISTORIES}: no history of {convention_id}")
        else:
            failures.append(f"{HISTORIES}: {len(ours)} different workflows of {convention_id}")
    except (InvalidRequest, LookupError) as error:
        failures.append(f"{HISTORIES}: {error}")
    if history is not None:
        async for result in replay_conventions(_single(history), data_converter=converter):
            failure = result.first_failure
            if failure is None:
                events = sum(run.events for run in result.runs)
                passed.append(f"{len(result.runs)} run(s), {events} events replay")
            else:
                failures.append(
                    f"{HISTORIES}: run {failure.run_id} does not replay: event "
                    f"{failure.event_id} {failure.event_type}: {failure.detail}"
                )

    # 3. The milestones: their chain, and against the history.
    rows = _read_rows(directory / MILESTONES, failures) if (directory / MILESTONES).exists() else {}
    chain = chain_findings(convention_id, rows)
    failures += [f"{MILESTONES}: {finding.message}" for finding in chain]
    if history is not None:
        expected, _ = await _history_milestones(history, converter)
        findings = _against_history(convention_id, expected, rows, set())
        failures += [f"{MILESTONES}: {finding.message}" for finding in findings]
        if not chain and not findings:
            passed.append(f"{len(rows)} milestones chained and agree with the history")
    head = chain_head([rows[seq] for seq in sorted(rows)])
    if head != manifest.get("milestone_chain_head"):
        failures.append(
            f"{MILESTONES}: the chain's head is {head}, the manifest says "
            f"{manifest.get('milestone_chain_head')}"
        )
    # Recomputed from the rows themselves: the head is what the whole chain hashes to.
    ordered = [rows[seq] for seq in sorted(rows)]
    if ordered and all(row.get("hash") for row in ordered):
        previous = GENESIS_HASH
        for row in ordered:
            previous = chain_hash(previous, row)
        if previous != head:
            failures.append(f"{MILESTONES}: the rows re-chained end at {previous}, not {head}")

    # 4. The archive's entries: their chain, and the histories they vouch for.
    archive_head = _check_archive(directory, manifest, failures, passed)

    # 5. The documents, the sealed original and the anchors, against the trust roots.
    roots = list(trust) if trust is not None else sorted((directory / CERTIFICATES).glob("*.pem"))
    if trust is None and roots:
        passed.append(
            f"trust roots: the bundle's own {CERTIFICATES}/ (give --trust to check the seal "
            "and the tokens against roots you hold yourself)"
        )
    await _check_documents(directory, listed, roots, failures, passed)
    await _check_anchors(directory, convention_id, rows, roots, failures, passed)

    # 6. The report prints the heads the bundle holds.
    report = directory / REPORT
    if report.exists():
        try:
            text = "".join(pdf_text(report.read_bytes()).split())
        except (PdfReadError, ValueError, OSError) as error:
            failures.append(f"{REPORT}: not a readable PDF: {error}")
        else:
            wanted = {"milestone chain head": head}
            if archive_head is not None:
                wanted["archive chain head"] = archive_head
            for label, value in wanted.items():
                if value not in text:
                    failures.append(f"{REPORT}: does not show the {label} {value}")
            if convention_id not in text:
                failures.append(f"{REPORT}: is not the report of {convention_id}")
            if all(value in text for value in wanted.values()):
                passed.append(f"{REPORT} shows the chains' heads")
    elif REPORT in listed:
        pass  # named already, with the other files the manifest lists
    else:
        failures.append(f"{REPORT}: missing from the bundle")
    return BundleCheck(convention_id, failures, passed)


def _check_archive(
    directory: Path, manifest: Mapping[str, Any], failures: list[str], passed: list[str]
) -> str | None:
    """Re-chain the archive entries and match each with its history file; their head."""
    path = directory / ARCHIVE
    if not path.exists():
        if manifest.get("archive_chain_head"):
            failures.append(f"{ARCHIVE}: missing, yet the manifest names an archive chain head")
        return None
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(f"{ARCHIVE} line {number}: not JSON: {error}")
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int):
            entries.append(entry)
        else:
            failures.append(f"{ARCHIVE} line {number}: not an archive entry (no seq)")
    files_of_runs = {run["run_id"]: run["file"] for run in manifest.get("runs") or []}
    previous, before = GENESIS_HASH, 0
    problems = len(failures)
    for entry in sorted(entries, key=lambda item: int(item["seq"])):
        where = f"{ARCHIVE}: entry #{entry['seq']} (run {entry.get('run_id')})"
        if entry["seq"] != before + 1:
            failures.append(f"{where}: entry #{before + 1} is missing before it")
        elif entry.get("prev_hash") != previous:
            failures.append(f"{where}: prev_hash does not match the hash of the entry before it")
        fields = {name: entry.get(name) for name in ENTRY_FIELDS}
        if entry_hash(str(entry.get("prev_hash") or ""), fields) != entry.get("hash"):
            failures.append(f"{where}: its fields do not match its hash: edited")
        run_file = files_of_runs.get(str(entry.get("run_id")))
        if run_file is None:
            failures.append(f"{where}: the archived run is not among the bundle's histories")
        elif (directory / HISTORIES / run_file).exists() and _sha256(
            directory / HISTORIES / run_file
        ) != entry.get("history_sha256"):
            failures.append(
                f"{where}: {HISTORIES}/{run_file} is not the history archived (sha256 differs)"
            )
        previous, before = str(entry.get("hash")), int(entry["seq"])
    head = previous if entries else None
    if head != manifest.get("archive_chain_head"):
        failures.append(
            f"{ARCHIVE}: the chain's head is {head}, the manifest says "
            f"{manifest.get('archive_chain_head')}"
        )
    if len(failures) == problems and entries:
        passed.append(f"{len(entries)} archive entries chained and match their histories")
    return head


def _json_lines(path: Path, failures: list[str]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    if not path.exists():
        return lines
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            failures.append(f"{path.name} line {number}: not JSON: {error}")
            continue
        if isinstance(value, dict):
            lines.append(value)
        else:
            failures.append(f"{path.name} line {number}: not an object")
    return lines


async def _check_documents(
    directory: Path,
    listed: Mapping[str, str],
    roots: Sequence[Path],
    failures: list[str],
    passed: list[str],
) -> None:
    """Each listed document's bytes against the hash that names it; the sealed original
    validated by pyHanko against the roots."""
    before = len(failures)
    documents = _json_lines(directory / DOCUMENT_LIST, failures)
    sealed = 0
    for document in documents:
        sha256 = str(document.get("sha256"))
        name = f"{DOCUMENTS}/{sha256}"
        what = f"{name} ({document.get('file_name')}, {document.get('task_id') or 'convention'})"
        path = directory / name
        if not path.exists():
            failures.append(f"{what}: missing from the bundle")
            continue
        content = path.read_bytes()
        found = hashlib.sha256(content).hexdigest()
        if found != sha256:
            failures.append(f"{what}: its bytes hash to {found}: altered")
        if document.get("sealed_original"):
            sealed += 1
            check = await verify_sealed(content, roots)
            failures += [f"{what}, the sealed original: {problem}" for problem in check.problems]
            if check.ok:
                when = f"{check.timestamp:%Y-%m-%d %H:%M} UTC" if check.timestamp else "?"
                passed.append(
                    f"{name}: the sealed original's seal holds (PAdES, {check.signer}, "
                    f"timestamped {when})"
                )
    unlisted = {
        name
        for name in listed
        if name.startswith(f"{DOCUMENTS}/")
        and name.removeprefix(f"{DOCUMENTS}/") not in {str(d.get("sha256")) for d in documents}
    }
    failures += [f"{name}: a document {DOCUMENT_LIST} does not list" for name in sorted(unlisted)]
    if documents and len(failures) == before:
        passed.append(
            f"{len(documents)} document(s) match their SHA-256"
            + (f", {sealed} sealed original(s) validated" if sealed else "")
        )


async def _check_anchors(
    directory: Path,
    convention_id: str,
    rows: Mapping[int, Mapping[str, Any]],
    roots: Sequence[Path],
    failures: list[str],
    passed: list[str],
) -> None:
    """Each token over the milestone it pins: the row's hash now, and the token's signature."""
    before = len(failures)
    anchors = _json_lines(directory / ANCHOR_LIST, failures)
    for anchor in anchors:
        seq, pinned = anchor.get("head_seq"), str(anchor.get("head_hash"))
        where = f"{ANCHORS}/{seq}.tst (milestone #{seq}, timestamped {anchor.get('gen_time')})"
        token_path = directory / ANCHORS / f"{seq}.tst"
        if not isinstance(seq, int) or not token_path.exists():
            failures.append(f"{where}: missing from the bundle")
            continue
        row = rows.get(seq)
        if row is None:
            failures.append(f"{where}: the anchored milestone is not in {MILESTONES}")
        elif row.get("hash") != pinned:
            failures.append(
                f"{where}: milestone {seq} now hashes to {row.get('hash')}, but {pinned} was "
                "timestamped: the record was rewritten after it was anchored"
            )
        digest = sha256_digest(anchored_text(convention_id, seq, pinned))
        check = await check_token(token_path.read_bytes(), digest, list(roots))
        failures += [f"{where}: token: {problem}" for problem in check.problems]
    if anchors and len(failures) == before:
        passed.append(f"{len(anchors)} anchor(s) hold: tokens valid over the chain's heads")


async def _single(history: ConventionHistory) -> AsyncIterator[ConventionHistory]:
    yield history
