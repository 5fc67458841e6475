"""Benchmark 9, the office's conventions list and search at 100,000 conventions.

The read model is seeded in PostgreSQL by SQL (`generate_series`): N convention files (a
title of French and Arabic words drawn from small lists, five to seven parties, an officer),
whose trigger (migration 012) writes each one's search row as the desk's start does; N
`conventions` rows (kinds, stages, states, countries, sectors, change times spread) and one
open task for most of them (some overdue, some the office's own). Then VACUUM ANALYZE.

Each query of the list is timed R times, in turns: through the use case the page calls
(`conventions_list`: the check of the words, the page's statement, its rows decoded) and as
the bare statement of the same page (`page_sql`, run by `pool.fetch`). The ratio says what
the use case adds to its SQL. The HTTP layer (session check, rendering) is not in these
figures: see the portfolio benchmark for the page's own cost over its SQL. No target.

    .venv/bin/python -m benchmarks.conventions_search [--conventions 100000] [--rounds 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # also as a file

import asyncpg

from application.office.conventions_list import PAGE_SIZE, conventions_list, read_query
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
from storage.convention_search import page_sql

QUERIES: dict[str, dict[str, str]] = {
    "everything, latest changed": {},
    "a French word": {"q": "électriciens"},
    "an Arabic word, variant spelling": {"q": "مدرسه"},
    "two words and a filter": {"q": "formation kenitra", "stage": "implementation"},
    "stage and country, by due date": {"stage": "signature", "country": "ML", "sort": "due"},
    "overdue, by due date": {"overdue": "yes", "sort": "due"},
    "an id": {"q": "bench-000042"},
    "page 40 of a search": {"q": "formation", "page": "40"},
}

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
    args = parser.parse_args(argv)
    args.conventions = args.conventions or (10_000 if args.quick else 100_000)
    args.rounds = args.rounds or (5 if args.quick else 20)
    return args


async def seed(pool: asyncpg.Pool, conventions: int, batch: int = 10_000) -> float:
    """The read model of `conventions` conventions; the seconds it took."""
    began = time.perf_counter()
    for first in range(1, conventions + 1, batch):
        last = min(conventions, first + batch - 1)
        for statement in (_SEED, _ROWS, _TASKS, _INBOX):
            await pool.execute(statement, first, last)
    await pool.execute(
        "VACUUM ANALYZE convention_files, convention_search, conventions, office_tasks, tasks"
    )
    return time.perf_counter() - began


async def _run(args: argparse.Namespace, servers: Servers) -> int:
    pool = await create_pool(servers.database_url)
    try:
        seconds = await seed(pool, args.conventions)
        print(f"   seeded {args.conventions:,} conventions in {seconds:.1f} s", flush=True)
        timings: dict[str, dict[str, list[float]]] = {
            name: {"use case": [], "bare SQL": []} for name in QUERIES
        }
        found: dict[str, int] = {}
        print_load("before the timings")
        for number in range(-1, args.rounds):  # round -1 warms up, untimed
            for name, params in QUERIES.items():
                began = time.perf_counter()
                listed = await conventions_list(pool, read_query(params))
                spent = time.perf_counter() - began
                found[name] = listed.total
                query = listed.query
                sql, bound = page_sql(
                    query.filter, query.sort, PAGE_SIZE, (query.page - 1) * PAGE_SIZE
                )
                began = time.perf_counter()
                await pool.fetch(sql, *bound)
                bare = time.perf_counter() - began
                if number >= 0:
                    timings[name]["use case"].append(spent)
                    timings[name]["bare SQL"].append(bare)
        print_load("after")
    finally:
        await pool.close()
    rows: list[list[object]] = []
    for name in QUERIES:
        use_case, bare_sql = timings[name]["use case"], timings[name]["bare SQL"]
        rows.append(
            [
                name,
                found[name],
                1000 * percentile(use_case, 0.5),
                1000 * percentile(use_case, 0.95),
                1000 * percentile(bare_sql, 0.5),
                1000 * percentile(bare_sql, 0.95),
            ]
        )
    print_table(["query", "found", "use case p50 ms", "p95 ms", "bare SQL p50 ms", "p95 ms"], rows)
    every_use_case = [t for name in QUERIES for t in timings[name]["use case"]]
    every_bare = [t for name in QUERIES for t in timings[name]["bare SQL"]]
    print_ratio(
        f"list and search at {args.conventions:,} conventions, use case ÷ bare SQL, p95",
        percentile(every_use_case, 0.95) / percentile(every_bare, 0.95),
        target=None,
        at_least=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse, start PostgreSQL, seed, time, print."""
    args = parse_arguments(argv)
    print_header(
        "conventions list and search",
        {"conventions": args.conventions, "rounds": args.rounds},
    )
    with Servers(keep=args.keep, temporal=False) as servers:
        return asyncio.run(_run(args, servers))


if __name__ == "__main__":
    finish(main)
