"""Benchmark 6, the office's portfolio at 10,000 conventions, and the read model's writes.

1. Rows written per convention change. The five seed scenarios (`examples/`, their scripted
   answers; Cycle Maalam's reports also give its cohorts, as the seed tells them) are played
   for real: a Temporal dev server, Pacte's worker in its own process, each file recorded as
   an officer's start records it (`record_convention_file`). The read model's tables
   (`conventions`, `office_tasks`, `convention_files`) count rows inserted and updated in
   `pg_stat_user_tables`; divided by the milestones written (the `milestones` table's own
   count), that is rows per change. Then, per kind of milestone: every recorded milestone
   projected again under a fresh id, one transaction each, its rows read from
   `pg_stat_xact_user_tables` inside the transaction (the same `project` the worker calls).
2. The portfolio at N conventions. The played conventions are the templates: each of the N
   is one of them under a fresh id (its parent remapped within its group), its file recorded
   by `record_convention_file` with another country and sector, its recorded milestones cut
   at a random point (so that stages, states and open tasks vary), moved in time (some open
   tasks overdue, some not), and with other funders, currencies, amounts, decisions,
   indicator figures and cohorts; then projected by `storage.read_model.project`, a
   convention per transaction, as the ledger writer does. No hand-written INSERT.
3. The page. `portal.py` in its own process (uvicorn), an officer signed in with password
   and TOTP over HTTP; `GET /office` N times, one at a time: server time from the portal's
   own request log (its middleware's `ms`), p50/p95. Against it, the SQL the page needs, run
   in this process: `OfficeDesk.portfolio_page`'s (the backfill check, then each table's
   query, the per-convention ones limited to the page's rows; rows decoded), p50/p95, and
   each query's apart. The ratio page / SQL says what the rest costs (session check,
   rendering the tables, sending them). The seven charts the page links are timed apart (a
   browser fetches them after the page). Before the page, the read model is vacuumed and
   analysed (where autovacuum leaves a table updated for years). No target.

   Since migration 014 the page is computed once per read-model version, and after a change
   the last page (at most 30 s old) is served while the next is computed behind it: every
   other load follows a change of the read model, the others find their version; both are
   reported, and the SQL a computation runs. Since migration 035 that computation reads the
   aggregates the read model's writes keep: the page's figures are timed both ways in turns
   (the aggregates, a change's deltas folded first, against the full queries over every
   convention, whole and table by table; ratio full / aggregates) and checked to be the
   same (the run fails otherwise). Each chart is
   loaded once (drawn) and then `--charts` times (kept). `--copies 10` clones the seeded read
   model in SQL to reach 100,000 conventions.

    .venv/bin/python -m benchmarks.portfolio [--conventions 10000] [--copies 10]
        [--requests 30] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
import pyotp
from temporalio.client import Client

from application.office.accounts import create_user
from application.office.portfolio import (
    PAGE_ROWS,
    PER_CONVENTION_TABLES,
    PORTFOLIO_TABLES,
    backfill_convention_files,
    check_aggregates,
    fold_aggregates,
    portfolio_page,
    portfolio_query,
)
from application.scenarios import play_scenario, scenario_files
from benchmarks.bamako import run_bounded
from benchmarks.report import (
    add_common_arguments,
    finish,
    mean,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from benchmarks.worker import PACTE_QUEUE, BenchmarkWorker
from demo import EXAMPLES_DIR
from devkit.stack import PortalProcess, Servers
from infra.database import create_pool
from schemas.convention import Convention
from schemas.convention_file import AnswerScript, load_answer_script, load_convention
from schemas.milestones import Milestone, MilestoneKind
from storage.read_model import project, record_convention_file

READ_MODEL_TABLES = ("conventions", "office_tasks", "convention_files")
DELTA_TABLES = tuple(
    f"portfolio_{name}_deltas" for name in ("stage", "country", "funding", "row", "overdue")
)
"""The rows the read model's triggers add for the portfolio's aggregates (migration 035)."""
PASSWORD = "benchmark-officer-password"
COUNTRIES = ["ML", "SN", "CI", "BF", "NE", "GN", "MR", "TD", "TN", "EG", "JO", "DE", "FR", "BE"]
SECTORS = [
    "Mécanique automobile",
    "BTP",
    "Agriculture",
    "Tourisme et hôtellerie",
    "Numérique",
    "Énergies renouvelables",
    "Textile",
    "Santé",
    "Logistique",
    "الصناعة التقليدية",
]
FUNDERS = [
    ("bid", "IsDB-ID"),
    ("bid", "USD"),
    ("afd", "EUR"),
    ("giz", "EUR"),
    ("ue", "EUR"),
    ("jica", "JPY"),
    ("banque-mondiale", "USD"),
    ("boad", "XOF"),
]
BUDGET_CURRENCIES = ["MAD", "MAD", "EUR", "XOF"]
# Cycle Maalam's cohorts as its seed tells them (~600 trained at 80 %, ~400 in training,
# a third cohort of 465): reported with the progress reports, so that the cohort
# milestones are the workflow's own.
MAALAM_COHORTS: dict[str, list[dict[str, Any]]] = {
    "implementation.report.1": [
        {"id": "promotion-1", "event": "started", "trainees": 750},
        {"id": "promotion-1", "event": "finished", "trainees": 600, "graduates": 480},
    ],
    "implementation.report.2": [{"id": "promotion-2", "event": "started", "trainees": 400}],
    "implementation.report.3": [
        {"id": "promotion-2", "event": "finished", "trainees": 400, "graduates": 310},
        {"id": "promotion-3", "event": "started", "trainees": 465, "cities": 15},
    ],
}
COUNTS = (
    "SELECT (SELECT count(*) FROM conventions) AS conventions,"
    " (SELECT count(*) FROM office_tasks) AS tasks,"
    " (SELECT count(*) FROM office_tasks WHERE state = 'open' AND due_at < now())"
    "   AS overdue,"
    " (SELECT count(*) FROM conventions WHERE funder IS NOT NULL) AS funded,"
    " (SELECT count(*) FROM conventions WHERE cohorts <> '{}') AS with_cohorts,"
    " (SELECT count(DISTINCT stage) FROM conventions) AS stages,"
    " pg_size_pretty(pg_total_relation_size('conventions')"
    "   + pg_total_relation_size('office_tasks')"
    "   + pg_total_relation_size('convention_files')) AS size"
)
_REQUEST = re.compile(r'"event": "request"')


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--conventions seeded, --requests timed; --quick: 1,000 and 10."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.portfolio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--conventions", type=int, help="conventions in the read model (10,000; quick 1,000)"
    )
    parser.add_argument(
        "--requests", type=int, help="page loads timed, and SQL rounds (30; quick 10)"
    )
    parser.add_argument(
        "--charts", type=int, help="loads of each chart timed (3; quick 1; 0: none)"
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="copies of the seeded read model, cloned in SQL under new ids (10 with "
        "--conventions 10000: 100,000 conventions without 100,000 projections)",
    )
    parser.add_argument("--seed", type=int, default=13, help="random seed of the variations")
    args = parser.parse_args(argv)
    args.conventions = args.conventions or (1_000 if args.quick else 10_000)
    args.requests = args.requests or (10 if args.quick else 30)
    if args.charts is None:
        args.charts = 1 if args.quick else 3
    return args


# --- 1. the real plays, and the rows they write --------------------------------------------


async def table_counts(pool: asyncpg.Pool) -> dict[str, tuple[int, int]]:
    """(rows inserted, rows updated) per table, as the statistics collector has them."""
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        rows = await connection.fetch(
            "SELECT relname, n_tup_ins, n_tup_upd FROM pg_stat_user_tables"
            " WHERE relname = any($1::text[])",
            [*READ_MODEL_TABLES, *DELTA_TABLES, "milestones"],
        )
    return {r["relname"]: (r["n_tup_ins"], r["n_tup_upd"]) for r in rows}


async def settled_counts(pool: asyncpg.Pool) -> dict[str, tuple[int, int]]:
    """The counts once every backend has flushed its statistics (at most ~10 s idle)."""
    previous = await table_counts(pool)
    stable = 0
    for _ in range(40):
        await asyncio.sleep(1.0)
        now = await table_counts(pool)
        stable = stable + 1 if now == previous else 0
        if stable >= 3:
            return now
        previous = now
    return previous


def scripts() -> list[tuple[Convention, AnswerScript]]:
    """Every seed scenario with its answers (Cycle Maalam's with its cohorts)."""
    played = []
    for convention_file, answers_file in scenario_files(EXAMPLES_DIR):
        convention = load_convention(convention_file)
        script = load_answer_script(answers_file)
        if convention.id == "cycle-maalam":
            steps = [
                step.model_copy(
                    update={
                        "answer": {**step.answer, "cohorts": MAALAM_COHORTS[step.task]}
                        if step.task in MAALAM_COHORTS
                        else step.answer
                    }
                )
                for step in script.answers
            ]
            script = script.model_copy(update={"answers": steps})
        played.append((convention, script))
    return played


async def play(servers: Servers, pool: asyncpg.Pool) -> dict[str, Any]:
    """Play the scenarios; the read model's rows written, per milestone."""
    client = await servers.client()
    before = await settled_counts(pool)
    began = time.perf_counter()
    for convention, script in scripts():
        await record_convention_file(pool, convention)  # as an officer's start does
        await play_scenario(client, PACTE_QUEUE, convention, script)
    seconds = time.perf_counter() - began
    after = await settled_counts(pool)
    # The follow-ups a diagnostic started have no file yet: recorded now (not counted).
    await backfill_convention_files(pool, client, limit=100)
    delta = {t: (after[t][0] - before[t][0], after[t][1] - before[t][1]) for t in after}
    by_convention = await pool.fetch(
        "SELECT convention_id, count(*) AS n FROM milestones GROUP BY 1 ORDER BY 1"
    )
    return {"seconds": seconds, "delta": delta, "by_convention": by_convention}


async def recorded_milestones(pool: asyncpg.Pool) -> dict[str, list[Milestone]]:
    """Every milestone the plays wrote, per convention, in seq order."""
    rows = await pool.fetch(
        "SELECT convention_id, seq, kind, stage, task_id, party, actor, occurred_at, summary,"
        " details FROM milestones ORDER BY convention_id, seq"
    )
    out: dict[str, list[Milestone]] = defaultdict(list)
    for row in rows:
        out[row["convention_id"]].append(Milestone.model_validate(dict(row)))
    return dict(out)


async def rows_per_kind(
    pool: asyncpg.Pool, templates: dict[str, list[Milestone]], files: dict[str, Convention]
) -> dict[str, list[int]]:
    """Each recorded milestone projected again under a fresh id, one transaction each; the
    read model's rows it inserted or updated, from pg_stat_xact_user_tables. Since
    PostgreSQL 15 those also hold the backend's counts not yet flushed from earlier
    transactions: the difference between the transaction's start and end is its own."""
    written: dict[str, list[int]] = defaultdict(list)
    probe = uuid.uuid4().hex[:6]
    async with pool.acquire() as connection:

        async def rows_in_transaction() -> int:
            value = await connection.fetchval(
                "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_xact_user_tables"
                " WHERE relname = any($1::text[])",
                list(READ_MODEL_TABLES),
            )
            return int(value)

        for convention_id, milestones in templates.items():
            fresh = f"probe-{probe}-{convention_id}"[:80]
            async with connection.transaction():
                before = await rows_in_transaction()
                await record_convention_file_on(connection, files[convention_id], fresh)
                written["(file recorded at the start)"].append(await rows_in_transaction() - before)
            for milestone in milestones:
                async with connection.transaction():
                    before = await rows_in_transaction()
                    again = milestone.model_copy(update={"convention_id": fresh})
                    await project(connection, [again])
                    written[milestone.kind.value].append(await rows_in_transaction() - before)
    return dict(written)


class _InTransaction:
    """A pool of one connection already in a transaction: `record_convention_file`'s own
    transaction becomes a savepoint in it, so its rows show in pg_stat_xact_user_tables."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    def acquire(self) -> _InTransaction:
        return self

    async def __aenter__(self) -> asyncpg.Connection:
        return self._connection

    async def __aexit__(self, *_: object) -> None:
        return None


async def record_convention_file_on(
    connection: asyncpg.Connection, convention: Convention, convention_id: str
) -> None:
    """record_convention_file, under another id, on this connection's transaction."""
    fresh = convention.model_copy(update={"id": convention_id})
    await record_convention_file(_InTransaction(connection), fresh)


# --- 2. the seeded portfolio ---------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A played convention: its file and its recorded milestones."""

    file: Convention
    milestones: list[Milestone]


def _due(value: Any, assigned: datetime, moved: datetime) -> str:
    """A due date kept at the same distance from its assignment (a month when unknown)."""
    try:
        due = datetime.fromisoformat(value)
        distance = due - assigned
        if abs(distance) > timedelta(days=365):
            distance = timedelta(days=30)
    except (TypeError, ValueError):
        distance = timedelta(days=30)
    return (moved + distance).isoformat()


def _money(amount: float, currency: str) -> dict[str, str]:
    return {"amount": f"{amount:.2f}", "currency": currency}


def vary(
    template: Template, convention_id: str, parent: str | None, rng: random.Random
) -> tuple[Convention, list[Milestone]]:
    """One convention of the portfolio from a played one: other id, country, sector, funder,
    currency, amounts, figures; its record cut at a random point and moved in time."""
    office = template.file.office.id
    country = rng.choice(COUNTRIES)
    parties = [
        p if p.id == office or p.country is None else p.model_copy(update={"country": country})
        for p in template.file.parties
    ]
    file = template.file.model_copy(
        update={
            "id": convention_id,
            "parent": parent,
            "title": f"{template.file.title} ({convention_id})",
            "sector": rng.choice(SECTORS),
            "parties": parties,
        }
    )
    milestones = template.milestones
    # A third run to their end; the others stop somewhere on the way (open tasks, stages).
    cut = len(milestones) if rng.random() < 0.33 else rng.randint(2, len(milestones))
    kept = milestones[:cut]
    step = timedelta(hours=rng.uniform(6, 240))
    # The last change between today and 120 days ago: a month's task falls overdue or not.
    last = datetime.now(UTC) - timedelta(days=rng.uniform(0, 120))
    start = last - step * (len(kept) - 1)
    funder, currency = rng.choice(FUNDERS)
    requested = rng.choice([1, 2, 5, 10, 20, 40, 80]) * 1_000_000 * rng.uniform(0.5, 1.5)
    rejected = rng.random() < 0.2
    scale = rng.uniform(0.2, 2.0)
    budget_currency = rng.choice(BUDGET_CURRENCIES)
    out = []
    for index, milestone in enumerate(kept):
        moved = start + step * index
        details = json.loads(json.dumps(milestone.details))
        kind = milestone.kind
        if kind is MilestoneKind.CONVENTION_STARTED and "parent" in details:
            details["parent"] = parent
        elif kind is MilestoneKind.TASK_ASSIGNED:
            details["due_at"] = _due(details.get("due_at"), milestone.occurred_at, moved)
        elif kind is MilestoneKind.DEADLINE_POSTPONED:
            details["to"] = _due(details.get("to"), milestone.occurred_at, moved)
        elif kind in (MilestoneKind.FUNDING_REQUESTED, MilestoneKind.FUNDING_REQUEST_REVISED):
            details["funder"] = funder
            details["requested"] = _money(requested, currency)
        elif kind is MilestoneKind.FUNDING_DECIDED:
            details["requested"] = _money(requested, currency)
            if details.get("decision") == "approve" and rejected:
                details["decision"], details["granted"] = "reject", None
            elif details.get("decision") == "approve":
                details["granted"] = _money(requested * rng.uniform(0.5, 1.0), currency)
        elif kind is MilestoneKind.PROGRESS_REPORTED:
            for key in ("actuals", "totals", "targets"):
                if isinstance(details.get(key), dict):
                    details[key] = {
                        k: (round(v * scale) if isinstance(v, int | float) else v)
                        for k, v in details[key].items()
                    }
            for key in ("spent", "budget"):
                if isinstance(details.get(key), dict):
                    amount = float(details[key]["amount"]) * scale
                    details[key] = _money(amount, budget_currency)
        elif kind in (MilestoneKind.COHORT_STARTED, MilestoneKind.COHORT_FINISHED):
            for key in ("trainees", "graduates"):
                if isinstance(details.get(key), int):
                    details[key] = round(details[key] * scale)
        out.append(
            milestone.model_copy(
                update={"convention_id": convention_id, "occurred_at": moved, "details": details}
            )
        )
    return file, out


async def seed(
    pool: asyncpg.Pool, templates: dict[str, Template], count: int, seed_value: int
) -> float:
    """`count` conventions into the read model through the product's own code; seconds."""
    rng = random.Random(seed_value)
    names = sorted(templates)
    jobs = []
    for index in range(count):
        group, template_id = divmod(index, len(names))
        template = templates[names[template_id]]
        convention_id = f"{names[template_id]}-{group:05d}"[:80]
        parent = template.file.parent
        file, milestones = vary(
            template,
            convention_id,
            f"{parent}-{group:05d}"[:80] if parent in templates else parent,
            random.Random(rng.random()),
        )

        async def one(file: Convention = file, milestones: list[Milestone] = milestones) -> None:
            await record_convention_file(pool, file)
            async with pool.acquire() as connection, connection.transaction():
                await project(connection, milestones)

        jobs.append(one)
    began = time.perf_counter()
    done_at = [0]

    def progress(done: int) -> None:
        if done - done_at[0] >= max(count // 5, 1):
            done_at[0] = done
            spent = time.perf_counter() - began
            print(f"   seeded {done:,} of {count:,} ({spent:.0f} s)", flush=True)

    await run_bounded(jobs, 4, progress=progress)
    async with pool.acquire() as connection:
        # Where autovacuum would be after years of updates: dead row versions gone.
        await connection.execute("VACUUM (ANALYZE) conventions, office_tasks, convention_files")
    return time.perf_counter() - began


async def clone(pool: asyncpg.Pool, copies: int) -> float:
    """The seeded read model `copies` times in all: each convention, its tasks and its file
    again under `<id>~<n>` (parents remapped within the copy), row by row as they are; then
    vacuumed and analysed. The seed's spreads stay; 100,000 projections would take hours."""
    began = time.perf_counter()
    async with pool.acquire() as connection, connection.transaction():
        # A bulk load, as a restore is: the aggregates' row triggers (migration 035) off for
        # the copy, then counted once from the rows (`portfolio_recount()`, as after a
        # restore), rather than 900,000 deltas and share locks in one transaction.
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.execute(
            """
INSERT INTO conventions
SELECT (jsonb_populate_record(NULL::conventions, to_jsonb(c) || jsonb_build_object(
          'id', c.id || '~' || n,
          'parent', CASE WHEN c.parent IS NULL THEN NULL ELSE c.parent || '~' || n END))).*
FROM conventions AS c, generate_series(2, $1) AS n""",
            copies,
        )
        await connection.execute(
            """
INSERT INTO office_tasks
SELECT (jsonb_populate_record(NULL::office_tasks, to_jsonb(t) || jsonb_build_object(
          'convention_id', t.convention_id || '~' || n))).*
FROM office_tasks AS t, generate_series(2, $1) AS n""",
            copies,
        )
        await connection.execute(
            """
INSERT INTO convention_files
SELECT (jsonb_populate_record(NULL::convention_files, to_jsonb(f) || jsonb_build_object(
          'convention_id', f.convention_id || '~' || n,
          'document', f.document || jsonb_build_object('id', f.convention_id || '~' || n)))).*
FROM convention_files AS f, generate_series(2, $1) AS n""",
            copies,
        )
        await connection.execute("SET LOCAL session_replication_role = origin")
        await connection.execute("SELECT portfolio_recount()")
    async with pool.acquire() as connection:
        await connection.execute("VACUUM (ANALYZE) conventions, office_tasks, convention_files")
    return time.perf_counter() - began


async def touch_read_model(pool: asyncpg.Pool) -> None:
    """A change of the read model (one convention's row written again as it is): the next
    page load finds a new version and computes the portfolio again (migration 014)."""
    await pool.execute(
        "UPDATE conventions SET updated_at = updated_at"
        " WHERE id = (SELECT id FROM conventions ORDER BY id LIMIT 1)"
    )


async def move_a_figure(pool: asyncpg.Pool) -> None:
    """A change that moves the page's figures (one convention's sector changed, and back at
    the next call): its trigger writes deltas (migration 035) the next computation folds."""
    await pool.execute(
        "UPDATE conventions SET sector = CASE WHEN sector LIKE '%~'"
        " THEN nullif(left(sector, -1), '') ELSE coalesce(sector, '') || '~' END"
        " WHERE id = (SELECT id FROM conventions ORDER BY id LIMIT 1)"
    )


# --- 3. the page and its SQL -----------------------------------------------------------------


class Portal(PortalProcess):
    """`portal.py` in its own process over the benchmark's servers; its log timed."""

    def __init__(self, servers: Servers) -> None:
        super().__init__(servers.environment(PACTE_QUEUE), servers.directory / "portal.log")

    def request_times(self, path: str, expected: int = 0) -> list[float]:
        """The server's own time (its middleware's log line, ms) of each 200 on `path`;
        waits a little for the `expected` count (the line is written after the answer)."""
        deadline = time.monotonic() + 5
        while True:
            times = self._request_times(path)
            if len(times) >= expected or time.monotonic() > deadline:
                return times
            time.sleep(0.05)

    def _request_times(self, path: str) -> list[float]:
        times = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not _REQUEST.search(line):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("path") == path and entry.get("status") == 200:
                times.append(float(entry["ms"]) / 1000)
        return times


async def signed_in_officer(pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
    """An officer account, signed in on `http` with its password and a TOTP code."""
    email = f"officer-{uuid.uuid4().hex[:8]}@ofppt.example"
    await create_user(pool, email, "Benchmark Officer", "officer", PASSWORD)
    form = await http.get("/office/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if not token:
        raise RuntimeError("no CSRF token on the sign-in page")
    signed = await http.post(
        "/office/signin", data={"email": email, "password": PASSWORD, "csrf": token.group(1)}
    )
    if signed.status_code != 303:
        raise RuntimeError(f"sign-in refused: {signed.status_code}")
    page = await http.get("/office/enrol")
    secret = re.search(r'<dd class="ref" dir="ltr">([A-Z2-7]{16,})</dd>', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    if not secret or not csrf:
        raise RuntimeError("no TOTP secret on the enrolment page")
    confirmed = await http.post(
        "/office/enrol", data={"csrf": csrf.group(1), "code": pyotp.TOTP(secret.group(1)).now()}
    )
    if confirmed.status_code != 200:
        raise RuntimeError(f"TOTP enrolment refused: {confirmed.status_code}")


async def sql_round(pool: asyncpg.Pool, client: Client) -> tuple[float, dict[str, str]]:
    """The page's SQL once, as `OfficeDesk.portfolio_page` runs it: the backfill check, then
    each table's query (the per-convention ones limited to the page's rows), rows decoded."""
    began = time.perf_counter()
    await backfill_convention_files(pool, client)
    page = await portfolio_page(pool)
    seconds = time.perf_counter() - began
    rows = {
        name: f"{len(page.tables[name]):,} of {page.totals[name]:,}" for name in PORTFOLIO_TABLES
    }
    return seconds, rows


async def time_queries(pool: asyncpg.Pool, rounds: int) -> dict[str, list[float]]:
    """Each of the full queries alone (storage/portfolio.py's portfolio_query, the
    per-convention ones limited to the page's rows): what the page ran before migration
    035, and what the CSV and JSON downloads run."""
    times: dict[str, list[float]] = defaultdict(list)
    async with pool.acquire() as connection:
        for _ in range(rounds):
            for name in PORTFOLIO_TABLES:
                limited = name in PER_CONVENTION_TABLES
                query = portfolio_query(name, limited=limited)
                began = time.perf_counter()
                await connection.fetch(query, *([PAGE_ROWS] if limited else []))
                times[name].append(time.perf_counter() - began)
    return dict(times)


async def time_computation(pool: asyncpg.Pool, rounds: int) -> dict[str, list[float]]:
    """The page's figures computed both ways, in turns so that both meet the same load: from
    the aggregates the read model's writes keep (migration 035; the page's computation folds
    the deltas first, as `PortfolioCache` does, after a change of the read model) and from
    the full queries over every convention (as before it), whole and table by table."""
    times: dict[str, list[float]] = defaultdict(list)
    async with pool.acquire() as connection:
        for _ in range(rounds):
            for full in (False, True):
                way = "full queries" if full else "aggregates"
                if not full:
                    await move_a_figure(pool)  # a change: deltas to fold
                began = time.perf_counter()
                if not full:
                    await fold_aggregates(connection)
                await portfolio_page(connection, full=full)
                times[f"page: {way}"].append(time.perf_counter() - began)
                for name in PORTFOLIO_TABLES:
                    began = time.perf_counter()
                    await portfolio_page(connection, (name,), full=full)
                    times[f"{name}: {way}"].append(time.perf_counter() - began)
    return dict(times)


async def time_page(
    portal: Portal, pool: asyncpg.Pool, client: Client, requests: int, charts: int
) -> dict[str, Any]:
    """The page `requests` times, each followed by a round of its SQL (so that both meet
    the same load), then each chart `charts` times; one at a time."""
    base = f"http://127.0.0.1:{portal.port}"
    async with httpx.AsyncClient(base_url=base, timeout=600) as http:
        await signed_in_officer(pool, http)
        warm = await http.get("/office")  # the first load: imports, caches, the backfill
        if warm.status_code != 200:
            raise RuntimeError(f"GET /office: {warm.status_code}")
        first = portal.request_times("/office", expected=1)
        wall: list[float] = []
        size = len(warm.content)
        sql: list[float] = []
        rows: dict[str, str] = {}
        cold: list[bool] = []
        for index in range(requests):
            # Every other load follows a change of the read model (the last page served, the
            # next computed behind it); the others find the version computed.
            cold.append(index % 2 == 0)
            if cold[-1]:
                await touch_read_model(pool)
            began = time.perf_counter()
            page = await http.get("/office")
            wall.append(time.perf_counter() - began)
            if page.status_code != 200:
                raise RuntimeError(f"GET /office: {page.status_code}")
            seconds, rows = await sql_round(pool, client)
            sql.append(seconds)
        server = portal.request_times("/office", expected=len(first) + requests)[len(first) :]
        chart_times: dict[str, list[float]] = {}
        chart_bytes: dict[str, int] = {}
        for name in PORTFOLIO_TABLES if charts else ():
            path = f"/office/charts/{name}.svg"
            # The first load draws the chart (unless the same rows were drawn before); the
            # `charts` loads after it find it drawn.
            for _ in range(charts + 1):
                svg = await http.get(path)
                if svg.status_code != 200:
                    raise RuntimeError(f"GET {path}: {svg.status_code}")
                chart_bytes[name] = len(svg.content)
            chart_times[name] = portal.request_times(path, expected=charts + 1)
    return {
        "cold": cold,
        "server": server,
        "wall": wall,
        "sql": sql,
        "rows": rows,
        "bytes": size,
        "charts": chart_times,
        "chart_bytes": chart_bytes,
    }


# --- the run -------------------------------------------------------------------------------


def _ms(value: float) -> float:
    return round(1000 * value, 1)


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url, max_size=6)
    try:
        with BenchmarkWorker(servers, pacte=True, name="worker-pacte"):
            print_load("before the plays")
            played = await play(servers, pool)
        print(
            f"   the five seed scenarios played in {played['seconds']:.1f} s: "
            + ", ".join(f"{r['convention_id']} {r['n']}" for r in played["by_convention"])
            + " milestones",
            flush=True,
        )
        milestones = played["delta"]["milestones"][0]
        rows = []
        written = 0
        for table in READ_MODEL_TABLES:
            inserted, updated = played["delta"][table]
            written += inserted + updated
            rows.append([table, inserted, updated, (inserted + updated) / max(milestones, 1)])
        rows.append(["all three", "", "", written / max(milestones, 1)])
        deltas = sum(played["delta"].get(table, (0, 0))[0] for table in DELTA_TABLES)
        rows.append(["(portfolio deltas, migration 035)", deltas, "", deltas / max(milestones, 1)])
        print_table(["read model table", "rows inserted", "rows updated", "per milestone"], rows)
        templates_rows = await recorded_milestones(pool)
        files = {
            r["convention_id"]: Convention.model_validate(r["document"])
            for r in await pool.fetch("SELECT convention_id, document FROM convention_files")
        }
        templates_rows = {k: v for k, v in templates_rows.items() if k in files}
        per_kind = await rows_per_kind(pool, templates_rows, files)
        print_table(
            ["milestone kind (projected again)", "milestones", "rows written: mean", "max"],
            [
                [kind, len(v), mean(v), max(v)]
                for kind, v in sorted(per_kind.items(), key=lambda item: -len(item[1]))
            ],
        )
        every = [n for kind, v in per_kind.items() if not kind.startswith("(") for n in v]
        print(
            f"   per milestone, every kind: mean {mean(every):.2f}, max {max(every)} rows "
            f"({len(every)} milestones)",
            flush=True,
        )

        templates = {
            convention_id: Template(files[convention_id], kept)
            for convention_id, kept in templates_rows.items()
        }
        print_load(f"before seeding {args.conventions:,} conventions")
        seconds = await seed(pool, templates, args.conventions, args.seed)
        counts = await pool.fetchrow(COUNTS)
        if args.copies > 1:
            cloned = await clone(pool, args.copies)
            print(f"   cloned {args.copies} times in SQL in {cloned:.0f} s", flush=True)
            counts = await pool.fetchrow(COUNTS)
        began = time.perf_counter()
        folded = await fold_aggregates(pool)
        print(
            f"   the seed's deltas folded into {folded:,} counter rows in "
            f"{time.perf_counter() - began:.1f} s (migration 035)",
            flush=True,
        )
        print(
            f"   seeded in {seconds:.0f} s: {counts['conventions']:,} conventions "
            f"({counts['stages']} stages), {counts['tasks']:,} tasks "
            f"({counts['overdue']:,} open and overdue), {counts['funded']:,} with a funding "
            f"request, {counts['with_cohorts']:,} with cohorts; read model {counts['size']}",
            flush=True,
        )

        async with Portal(servers) as portal:
            print_load("before the page")
            page = await time_page(portal, pool, await servers.client(), args.requests, args.charts)
        print_load("before the queries apart")
        queries = await time_queries(pool, max(args.requests // 3, 1))
        print_load("before the figures both ways")
        computation = await time_computation(pool, args.requests)
        differing = await check_aggregates(pool)
        print_load("after")
    finally:
        await pool.close()

    server, wall, totals, cold = page["server"], page["wall"], page["sql"], page["cold"]
    cold_server = [t for t, c in zip(server, cold, strict=False) if c]
    warm_server = [t for t, c in zip(server, cold, strict=False) if not c]
    cold_wall = [t for t, c in zip(wall, cold, strict=True) if c]
    warm_wall = [t for t, c in zip(wall, cold, strict=True) if not c]

    def timed(label: str, values: list[float]) -> list[Any]:
        return [label, len(values), _ms(percentile(values, 0.5)), _ms(percentile(values, 0.95))]

    print_table(
        ["GET /office (portfolio page)", "requests", "p50 ms", "p95 ms"],
        [
            timed("server time, unchanged portfolio", warm_server),
            timed("server time, just after a change", cold_server),
            timed("client wall time, unchanged", warm_wall),
            timed("client wall time, just after a change", cold_wall),
            timed("its SQL (the aggregates, at a load after a change)", totals),
        ],
    )
    print(f"   page: {page['bytes'] / 1024:,.0f} KiB of HTML", flush=True)
    print_table(
        ["full query (before migration 035)", "rows (of all)", "p50 ms", "p95 ms"],
        [
            [name, page["rows"][name], _ms(percentile(v, 0.5)), _ms(percentile(v, 0.95))]
            for name, v in queries.items()
        ],
    )
    print_table(
        ["the page's figures computed", "rounds", "p50 ms", "p95 ms"],
        [timed(label, values) for label, values in computation.items()],
    )
    print(
        "   the aggregates' figures against the full queries' (one snapshot): "
        + ("the same" if not differing else f"DIFFERENT in {', '.join(differing)}"),
        flush=True,
    )
    drawn_again: list[float] = []
    if page["charts"]:
        print_table(
            ["chart (GET /office/charts/<table>.svg)", "first load ms", "then: loads", "p95 ms"],
            [
                [name, _ms(v[0]), len(v[1:]), _ms(percentile(v[1:], 0.95)) if v[1:] else "-"]
                for name, v in page["charts"].items()
            ],
        )
        drawn_again = [t for v in page["charts"].values() for t in v[1:]]
    print_ratio(
        "page p95 ms, every load (target 150)",
        1000 * percentile(server, 0.95),
        target=150,
        at_least=False,
    )
    print_ratio(
        "page just after a change / its SQL, server time p95",
        percentile(cold_server, 0.95) / percentile(totals, 0.95),
        target=1.2,
        at_least=False,
    )
    if drawn_again:
        print_ratio(
            "chart p95 ms, every chart once drawn (target 100)",
            1000 * percentile(drawn_again, 0.95),
            target=100,
            at_least=False,
        )
    print_ratio(
        "page's figures: full queries / aggregates, p50 (times faster)",
        percentile(computation["page: full queries"], 0.5)
        / percentile(computation["page: aggregates"], 0.5),
        target=None,
        at_least=True,
    )
    print_ratio(
        "page's figures from the aggregates p95 ms",
        1000 * percentile(computation["page: aggregates"], 0.95),
        target=None,
        at_least=False,
    )
    print_ratio(
        "read model rows written per milestone (real plays)",
        written / max(milestones, 1),
        target=None,
        at_least=False,
    )
    return 0 if not differing else 1


def main(argv: list[str] | None = None) -> int:
    """Servers, a worker, the plays, the seed, the portal, the figures."""
    args = parse_arguments(argv)
    print_header(
        "portfolio",
        {
            "conventions": args.conventions,
            "requests": args.requests,
            "charts": args.charts,
            "copies": args.copies,
            "seed": args.seed,
        },
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
