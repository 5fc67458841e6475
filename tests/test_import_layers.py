"""The floors hold: what may import what is a contract (pyproject's [tool.importlinter]), and
every SQL statement lives in the storage floor.

The contract is checked by import-linter, a tool the project did not write; the second test
proves the check can fail by adding one crossing to a copy of the tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from infra.settings import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
FLOORS = (
    "web",
    "application",
    "activities",
    "workflows",
    "records",
    "auditing",
    "infra",
    "schemas",
    "storage",
    "documents",
    "rendering",
)
SQL_STATEMENT = re.compile(r"\b(SELECT\s+[\w*(]|INSERT INTO|UPDATE \w+ SET|DELETE FROM)")
SQL_FLOORS = ("storage", "records")
"""Where SQL may be written: the storage floor, and records/ (the hash chain and the archive's
own store, which the storage floor builds on)."""
SQL_ALLOWED_FILES = {Path("infra/database.py")}
"""The migration runner reads migrations/*.sql and keeps their ledger."""


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_floors_import_only_what_the_contract_allows() -> None:
    run = _lint_imports(PROJECT_ROOT)

    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_a_route_importing_the_records_floor_breaks_the_contract(tmp_path: Path) -> None:
    for floor in FLOORS:
        shutil.copytree(
            PROJECT_ROOT / floor, tmp_path / floor, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "web" / "crossing.py").write_text("import records.chain  # a route's shortcut\n")

    run = _lint_imports(tmp_path)

    assert run.returncode != 0
    assert "The web floor reaches the record only through the use cases BROKEN" in run.stdout
    assert "web.crossing -> records.chain" in run.stdout


def _python_files_outside_the_storage_floor() -> list[Path]:
    files = []
    for path in sorted(PROJECT_ROOT.rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT)
        top = relative.parts[0]
        if top.startswith(".") or top in {"tests", "benchmarks", "build", "site", *SQL_FLOORS}:
            continue
        if relative in SQL_ALLOWED_FILES:
            continue
        files.append(relative)
    return files


def test_no_sql_is_written_outside_the_storage_floor() -> None:
    files = _python_files_outside_the_storage_floor()
    offenders = [
        f"{relative}:{number}: {line.strip()}"
        for relative in files
        for number, line in enumerate((PROJECT_ROOT / relative).read_text().splitlines(), 1)
        if SQL_STATEMENT.search(line)
    ]

    assert len(files) > 50  # the scan saw the tree, not an empty folder
    assert offenders == []
