"""The documentation: a site that builds strictly, a short README, figures from the results."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from benchmarks.results_table import PAGE, build, parse, render
from devkit.programs import PYTHON
from infra.settings import PROJECT_ROOT

SAMPLE = """$ python -m benchmarks.answer_latency
== benchmark: partner answer latency
   2026-12-03 07:49 UTC; 2 cores, x86_64, Python 3.11.7, temporalio 1.35.0; load average 0.7
   bare update                      240      16.4    26.9    38.3
ratio  Pacte / bare update latency p50: 1.08  (target <= 1.2: met)
ratio  Pacte / bare update latency p95: 1.21  (target <= 1.2: NOT met)
ratio  Pacte / bare act latency p50: 1.04  (no target)
"""


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_of_the_site(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", root)
    shutil.copytree(PROJECT_ROOT / "docs", root / "docs")
    (root / "devkit").mkdir()
    shutil.copy(PROJECT_ROOT / "devkit" / "docs_nav.py", root / "devkit")
    return root


def test_the_readme_is_a_short_front_door_with_the_two_commands_first() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 300
    first_block = readme.split("```")[1]
    assert "python3 dev.py demo" in first_block and "python3 dev.py test" in first_block
    assert "docs/screenshots/" in readme


def test_every_link_of_the_readme_points_at_a_file_that_exists() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets, "the README links into docs/"
    missing = [t for t in targets if "://" not in t and not (PROJECT_ROOT / t).exists()]
    assert missing == []


def test_a_kept_output_becomes_rows_with_their_targets() -> None:
    (run,) = parse(SAMPLE, "2026-12-03-answer_latency-5.txt")
    assert run.benchmark == "partner answer latency" and run.when == "2026-12-03 07:49 UTC"
    assert [(r.what, r.value) for r in run.ratios] == [
        ("Pacte / bare update latency p50", "1.08"),
        ("Pacte / bare update latency p95", "1.21"),
        ("Pacte / bare act latency p50", "1.04"),
    ]
    page = render([run])
    assert "| 1.08 | target <= 1.2: met |" in page
    assert "| 1.21 | target <= 1.2: **not met** |" in page
    assert "| 1.04 | — |" in page


def test_the_benchmarks_table_is_generated_from_the_kept_results() -> None:
    assert PAGE.read_text(encoding="utf-8") == build(), (
        "docs/benchmarks/table.md is stale: run python -m benchmarks.results_table"
    )


def test_the_site_builds_strictly_and_a_new_page_joins_its_section(tmp_path: Path) -> None:
    root = _copy_of_the_site(tmp_path)
    (root / "docs" / "guides" / "directory.md").write_text("# The partner directory\n")
    (root / "docs" / "rendering").mkdir()
    (root / "docs" / "rendering" / "catalogues.md").write_text("# Catalogues\n")
    built = _build(root, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    home = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "guides/directory/" in home and "The partner directory" in home
    assert "rendering/catalogues/" in home
    assert (tmp_path / "site" / "screenshots" / "sign-1-task-ar.png").exists()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    root = _copy_of_the_site(tmp_path)
    guide = root / "docs" / "guides" / "officer.md"
    guide.write_text(guide.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    built = _build(root, tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-page.md" in built.stderr
