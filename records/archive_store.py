"""Where closed runs' histories are kept once Temporal's retention has deleted them.

One entry per workflow run, written once: the history as `temporal workflow show --output
json` writes it (the bytes `audit.py export` writes), gzip-compressed, with the sha256 of the
uncompressed bytes. Entries are chained per convention like the milestones,

    hash = sha256(prev_hash || canonical JSON of the entry's fields)

with prev_hash the hash of the convention's entry seq - 1 (64 zeros for seq 1), so an
edited, removed or inserted entry breaks the chain and `audit.py verify` names it. The chain
covers the content's sha256, not the compressed bytes: an archive recompressed, or moved
from PostgreSQL to a directory, keeps its chain.

Two stores with the same behaviour: PostgreSQL (table `history_archive`, migration 004), the
default, or a directory (PACTE_ARCHIVE_DIR) the operator backs up or ships elsewhere:

    DIR/convention-<id>/000001.<run id>.json.gz      the history; `gunzip` gives the CLI's file
    DIR/convention-<id>/000001.<run id>.entry.json   the entry: its fields, prev_hash, hash
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import tempfile
import zlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from temporalio.client import WorkflowHistory

from infra.settings import ArchiveSettings
from records.chain import GENESIS_HASH, canonical_time
from records.history_events import closed_as, history_file_bytes, started_workflow_id
from schemas.contract import workflow_id_for

ENTRY_FIELDS = (
    "convention_id",
    "seq",
    "workflow_id",
    "run_id",
    "first_run_id",
    "closed_as",
    "started_at",
    "closed_at",
    "events",
    "size_bytes",
    "history_sha256",
    "archived_at",
)
"""What an entry's hash covers: a fixed list, so a field added later leaves old hashes alone."""

_TIME_FIELDS = ("started_at", "closed_at", "archived_at")


class ArchiveUnavailable(RuntimeError):
    """The archive cannot be read or written: PostgreSQL without migration 004, no directory."""


class ArchiveDamaged(ValueError):
    """An archived entry cannot be read back as the history it recorded; says which entry."""


class NotArchivable(ValueError):
    """A history that is not a closed run (still running, or empty): nothing to archive yet."""


@dataclass(frozen=True)
class ArchiveEntry:
    """One archived run: its identity, how it closed, its content's hash, and its chain."""

    convention_id: str
    seq: int
    workflow_id: str
    run_id: str
    first_run_id: str
    closed_as: str
    started_at: datetime
    closed_at: datetime
    events: int
    size_bytes: int
    history_sha256: str
    archived_at: datetime
    prev_hash: str
    hash: str

    def fields(self) -> dict[str, Any]:
        """The chained fields (not the hashes)."""
        return {name: getattr(self, name) for name in ENTRY_FIELDS}


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the store holds it, with its compressed history (None if it is gone)."""

    entry: ArchiveEntry
    blob: bytes | None
    location: str


@dataclass(frozen=True)
class UnreadableEntry:
    """Something in the store that should be an entry and cannot be read as one."""

    seq: int | None
    location: str
    reason: str


@dataclass(frozen=True)
class ArchiveContents:
    """Every entry of one convention, by seq, and whatever could not be read."""

    entries: list[StoredEntry]
    unreadable: list[UnreadableEntry]


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256(prev_hash || canonical JSON of the entry's fields), lowercase hex."""
    canonical: dict[str, Any] = {name: fields.get(name) for name in ENTRY_FIELDS}
    for name in _TIME_FIELDS:
        if canonical[name] is not None:
            canonical[name] = canonical_time(canonical[name])
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def compress(content: bytes) -> bytes:
    """gzip with a zero timestamp: the same history always compresses to the same bytes."""
    return gzip.compress(content, compresslevel=9, mtime=0)


def decompress(entry: ArchiveEntry, blob: bytes, location: str) -> bytes:
    """The history's JSON bytes, checked against the entry's sha256; ArchiveDamaged if not."""
    try:
        content = gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as error:
        raise ArchiveDamaged(
            f"archive entry #{entry.seq} of {entry.convention_id} (run {entry.run_id}, "
            f"{location}): the history does not decompress: {error}"
        ) from error
    if hashlib.sha256(content).hexdigest() != entry.history_sha256:
        raise ArchiveDamaged(
            f"archive entry #{entry.seq} of {entry.convention_id} (run {entry.run_id}, "
            f"{location}): the history does not match its sha256: altered after it was archived"
        )
    return content


def read_history(stored: StoredEntry) -> WorkflowHistory:
    """The archived run as a history, once its content matches its hash."""
    entry = stored.entry
    if stored.blob is None:
        raise ArchiveDamaged(
            f"archive entry #{entry.seq} of {entry.convention_id} (run {entry.run_id}): "
            f"its history is missing ({stored.location})"
        )
    content = decompress(entry, stored.blob, stored.location)
    try:
        return WorkflowHistory.from_json(entry.workflow_id, json.loads(content))
    except Exception as error:  # matches its hash yet does not parse: written by another tool
        raise ArchiveDamaged(
            f"archive entry #{entry.seq} of {entry.convention_id} (run {entry.run_id}): "
            f"not a Temporal history: {error}"
        ) from error


@dataclass(frozen=True)
class PreparedRun:
    """A closed run ready to be archived: its fields (less seq and chain) and its blob."""

    convention_id: str
    workflow_id: str
    run_id: str
    first_run_id: str
    closed_as: str
    started_at: datetime
    closed_at: datetime
    events: int
    size_bytes: int
    history_sha256: str
    blob: bytes

    def entry(self, seq: int, prev_hash: str, archived_at: datetime) -> ArchiveEntry:
        """The entry this run becomes at seq, chained to prev_hash."""
        fields = {name: value for name, value in asdict(self).items() if name in ENTRY_FIELDS} | {
            "seq": seq,
            "archived_at": archived_at,
        }
        return ArchiveEntry(**fields, prev_hash=prev_hash, hash=entry_hash(prev_hash, fields))


def prepare_run(convention_id: str, workflow_id: str, history: WorkflowHistory) -> PreparedRun:
    """Serialize and compress a closed run; NotArchivable if it has not closed."""
    events = list(history.events)
    closed = closed_as(events[-1]) if events else None
    if closed is None or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise NotArchivable(f"run {history.run_id} of {workflow_id} has not closed")
    recorded_id = started_workflow_id(events)
    if recorded_id is not None and recorded_id != workflow_id:
        raise NotArchivable(f"run {history.run_id} belongs to {recorded_id}, not {workflow_id}")
    content = history_file_bytes(history)
    started = events[0].workflow_execution_started_event_attributes
    return PreparedRun(
        convention_id=convention_id,
        workflow_id=workflow_id,
        run_id=history.run_id,
        first_run_id=started.first_execution_run_id or history.run_id,
        closed_as=closed,
        started_at=events[0].event_time.ToDatetime(tzinfo=UTC),
        closed_at=events[-1].event_time.ToDatetime(tzinfo=UTC),
        events=len(events),
        size_bytes=len(content),
        history_sha256=hashlib.sha256(content).hexdigest(),
        blob=compress(content),
    )


class ArchiveStore(Protocol):
    """Archived runs, one entry each, chained per convention."""

    @property
    def description(self) -> str:
        """Which archive this is, for the auditor (never a password)."""
        ...

    async def archived(self, runs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (workflow id, run id) are archived already."""
        ...

    async def add(self, run: PreparedRun) -> tuple[ArchiveEntry, bool]:
        """Append the run to its convention's chain; (its entry, False) if it was there."""
        ...

    async def entries(self, convention_id: str) -> list[ArchiveEntry]:
        """The convention's entries as stored, by seq (no content, nothing checked)."""
        ...

    async def contents(self, convention_id: str) -> ArchiveContents:
        """The convention's entries with their compressed histories, nothing checked."""
        ...

    async def convention_ids(self) -> list[str]:
        """Every convention with at least one entry, sorted."""
        ...


# --- PostgreSQL -------------------------------------------------------------------------

_COLUMNS = ", ".join((*ENTRY_FIELDS, "prev_hash", "hash"))
_ARCHIVED = "SELECT workflow_id, run_id FROM history_archive WHERE run_id = ANY($1::text[])"
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('pacte-archive/' || $1, 0))"
_BY_RUN = f"SELECT {_COLUMNS} FROM history_archive WHERE workflow_id = $1 AND run_id = $2"
_LAST = "SELECT seq, hash FROM history_archive WHERE convention_id = $1 ORDER BY seq DESC LIMIT 1"
_INSERT = (
    f"INSERT INTO history_archive ({_COLUMNS}, history_gzip) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
)
_ENTRIES = f"SELECT {_COLUMNS} FROM history_archive WHERE convention_id = $1 ORDER BY seq"
_CONTENTS = (
    f"SELECT {_COLUMNS}, history_gzip FROM history_archive WHERE convention_id = $1 ORDER BY seq"
)
_CONVENTIONS = "SELECT DISTINCT convention_id FROM history_archive ORDER BY convention_id"


def _entry_of(row: Mapping[str, Any]) -> ArchiveEntry:
    return ArchiveEntry(**{name: row[name] for name in (*ENTRY_FIELDS, "prev_hash", "hash")})


@contextlib.contextmanager
def _migrated() -> Iterator[None]:
    try:
        yield
    except asyncpg.UndefinedTableError as error:
        raise ArchiveUnavailable(
            f"PostgreSQL: {error} (the worker applies migration 004 at its next start)"
        ) from error


class PostgresArchive:
    """The archive in PostgreSQL, table history_archive (migration 004)."""

    def __init__(self, pool: asyncpg.Pool, where: str = "PostgreSQL") -> None:
        self._pool = pool
        self._where = where

    @property
    def description(self) -> str:
        """The database, without credentials."""
        return f"archive {self._where} (history_archive)"

    async def archived(self, runs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these runs have an entry."""
        wanted = set(runs)
        if not wanted:
            return set()
        with _migrated():
            rows = await self._pool.fetch(_ARCHIVED, sorted({run for _, run in wanted}))
        return {(row["workflow_id"], row["run_id"]) for row in rows} & wanted

    async def add(self, run: PreparedRun) -> tuple[ArchiveEntry, bool]:
        """Append under a per-convention lock: seq and prev_hash are the chain's next."""
        with _migrated():
            async with self._pool.acquire() as connection, connection.transaction():
                await connection.execute(_LOCK, run.convention_id)
                existing = await connection.fetchrow(_BY_RUN, run.workflow_id, run.run_id)
                if existing is not None:
                    return _entry_of(existing), False
                last = await connection.fetchrow(_LAST, run.convention_id)
                entry = run.entry(
                    last["seq"] + 1 if last else 1,
                    last["hash"] if last else GENESIS_HASH,
                    datetime.now(UTC),
                )
                await connection.execute(
                    _INSERT,
                    *(getattr(entry, name) for name in (*ENTRY_FIELDS, "prev_hash", "hash")),
                    run.blob,
                )
        return entry, True

    async def entries(self, convention_id: str) -> list[ArchiveEntry]:
        """The convention's rows, by seq."""
        with _migrated():
            return [_entry_of(row) for row in await self._pool.fetch(_ENTRIES, convention_id)]

    async def contents(self, convention_id: str) -> ArchiveContents:
        """The convention's rows with their compressed histories."""
        with _migrated():
            rows = await self._pool.fetch(_CONTENTS, convention_id)
        return ArchiveContents(
            [
                StoredEntry(
                    _entry_of(row), bytes(row["history_gzip"]), f"history_archive #{row['seq']}"
                )
                for row in rows
            ],
            [],
        )

    async def convention_ids(self) -> list[str]:
        """Conventions with a row."""
        with _migrated():
            return [row["convention_id"] for row in await self._pool.fetch(_CONVENTIONS)]


# --- a directory ------------------------------------------------------------------------

_ENTRY_FILE = re.compile(r"^(\d{6})\.([A-Za-z0-9_-]+)\.entry\.json$")
_BLOB_FILE = re.compile(r"^(\d{6})\.([A-Za-z0-9_-]+)\.json\.gz$")
_LOCK_FILE = ".lock"
_ORPHAN = "a history file without its entry file: the entry was removed"


class DirectoryArchive:
    """The archive as files under a directory: one folder per workflow id.

    Writers serialize per convention with an exclusive lock on the folder's .lock file, and
    an entry file is created with link(2), which refuses to replace one: two writers can
    never both take the same seq.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def description(self) -> str:
        """The directory."""
        return f"archive directory {self._root}"

    def _require_root(self) -> None:
        if not self._root.is_dir():
            raise ArchiveUnavailable(f"PACTE_ARCHIVE_DIR: {self._root} is not a directory")

    def _folder(self, workflow_id: str) -> Path:
        return self._root / workflow_id

    async def archived(self, runs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these runs have an entry file (their folders' listings, read once)."""
        return await asyncio.to_thread(self._archived, set(runs))

    def _archived(self, wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
        # No directory yet: nothing archived yet (the first write creates it).
        found: set[tuple[str, str]] = set()
        for workflow_id in {workflow for workflow, _ in wanted}:
            folder = self._folder(workflow_id)
            if folder.is_dir():
                for name in os.listdir(folder):
                    matched = _ENTRY_FILE.match(name)
                    if matched and (workflow_id, matched.group(2)) in wanted:
                        found.add((workflow_id, matched.group(2)))
        return found

    async def add(self, run: PreparedRun) -> tuple[ArchiveEntry, bool]:
        """Append the run's files under the folder's lock."""
        return await asyncio.to_thread(self._add, run)

    def _add(self, run: PreparedRun) -> tuple[ArchiveEntry, bool]:
        self._root.mkdir(parents=True, exist_ok=True)
        folder = self._folder(run.workflow_id)
        folder.mkdir(exist_ok=True)
        with (folder / _LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            contents = self._read(run.convention_id, run.workflow_id)
            for stored in contents.entries:
                if stored.entry.run_id == run.run_id:
                    return stored.entry, False
            last = contents.entries[-1].entry if contents.entries else None
            after = [
                item for item in contents.unreadable if (item.seq or 0) > (last.seq if last else 0)
            ]
            for item in after:
                if item.reason != _ORPHAN:
                    # Chaining past an entry we cannot read would hide it: refuse, loudly.
                    raise ArchiveDamaged(
                        f"{item.location}: {item.reason}; nothing is appended after it"
                    )
                # The entry file is the commit point: a history file past the last entry is
                # the leftover of a write interrupted before its entry was linked.
                Path(item.location).unlink(missing_ok=True)
            entry = run.entry(
                last.seq + 1 if last else 1,
                last.hash if last else GENESIS_HASH,
                datetime.now(UTC),
            )
            stem = f"{entry.seq:06d}.{entry.run_id}"
            _write_new(folder / f"{stem}.json.gz", run.blob, replace=True)
            document = {name: _json_value(getattr(entry, name)) for name in asdict(entry)}
            text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            _write_new(folder / f"{stem}.entry.json", text.encode("utf-8"), replace=False)
        return entry, True

    async def entries(self, convention_id: str) -> list[ArchiveEntry]:
        """The convention's readable entries, by seq."""
        contents = await self.contents(convention_id)
        return [stored.entry for stored in contents.entries]

    async def contents(self, convention_id: str) -> ArchiveContents:
        """Every entry file of the convention's folder, its history file, what is amiss."""
        return await asyncio.to_thread(
            self._read, convention_id, workflow_id_for(convention_id), True
        )

    def _read(
        self, convention_id: str, workflow_id: str, with_blobs: bool = False
    ) -> ArchiveContents:
        self._require_root()
        folder = self._folder(workflow_id)
        if not folder.is_dir():
            return ArchiveContents([], [])
        names = sorted(os.listdir(folder))
        blobs = {name for name in names if _BLOB_FILE.match(name)}
        entries: list[StoredEntry] = []
        unreadable: list[UnreadableEntry] = []
        for name in names:
            matched = _ENTRY_FILE.match(name)
            if not matched:
                continue
            seq = int(matched.group(1))
            path = folder / name
            blob_name = f"{matched.group(1)}.{matched.group(2)}.json.gz"
            blobs.discard(blob_name)  # an unreadable entry's history is no orphan
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                entry = _entry_from_document(document)
            except (OSError, ValueError, TypeError, KeyError) as error:
                unreadable.append(UnreadableEntry(seq, str(path), f"not an entry: {error}"))
                continue
            if (entry.seq, entry.run_id, entry.convention_id) != (
                seq,
                matched.group(2),
                convention_id,
            ):
                unreadable.append(
                    UnreadableEntry(
                        seq,
                        str(path),
                        f"its name says #{seq} of run {matched.group(2)}, its content "
                        f"#{entry.seq} of run {entry.run_id} ({entry.convention_id})",
                    )
                )
                continue
            blob_path = folder / blob_name
            blob = blob_path.read_bytes() if with_blobs and blob_path.exists() else None
            entries.append(StoredEntry(entry, blob, str(blob_path)))
        for orphan in sorted(blobs):
            matched = _BLOB_FILE.match(orphan)
            assert matched is not None
            unreadable.append(
                UnreadableEntry(
                    int(matched.group(1)),
                    str(folder / orphan),
                    _ORPHAN,
                )
            )
        entries.sort(key=lambda stored: stored.entry.seq)
        return ArchiveContents(entries, unreadable)

    async def convention_ids(self) -> list[str]:
        """Every convention with a folder holding an entry file."""
        return await asyncio.to_thread(self._convention_ids)

    def _convention_ids(self) -> list[str]:
        self._require_root()
        prefix = workflow_id_for("")
        return sorted(
            folder.name.removeprefix(prefix)
            for folder in self._root.iterdir()
            if folder.is_dir()
            and folder.name.startswith(prefix)
            and any(_ENTRY_FILE.match(name) for name in os.listdir(folder))
        )


def _json_value(value: Any) -> Any:
    return canonical_time(value) if isinstance(value, datetime) else value


def _entry_from_document(document: Any) -> ArchiveEntry:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    values = {name: document[name] for name in (*ENTRY_FIELDS, "prev_hash", "hash")}
    for name in _TIME_FIELDS:
        values[name] = datetime.fromisoformat(values[name])
    for name in ("seq", "events", "size_bytes"):
        if not isinstance(values[name], int):
            raise ValueError(f"{name}: not an integer")
    return ArchiveEntry(**values)


def _write_new(path: Path, content: bytes, *, replace: bool) -> None:
    """Write through a temporary file and fsync; `replace=False` refuses an existing file."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".writing-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # FileExistsError rather than overwrite an entry
            os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def describe_database(url: str) -> str:
    """A database URL as an auditor may see it: no user, no password."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    host = parts.hostname or (parse_qs(parts.query).get("host") or ["local socket"])[0]
    port = f":{parts.port}" if parts.port else ""
    database = parts.path.lstrip("/") or "postgres"
    return f"PostgreSQL {database} on {host}{port}"


def open_archive(
    settings: ArchiveSettings, pool: asyncpg.Pool, database_url: str | None = None
) -> ArchiveStore:
    """The configured archive: PACTE_ARCHIVE_DIR if set, PostgreSQL's history_archive if not."""
    if settings.directory is not None:
        return DirectoryArchive(settings.directory)
    return PostgresArchive(pool, describe_database(database_url) if database_url else "PostgreSQL")
