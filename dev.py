#!/usr/bin/env python3
"""Set up and run Pacte with nothing but Python 3.11+.

    python3 dev.py demo [--keep-stack]   the main job: the five seed scenarios, end to end
    python3 dev.py test [pytest args]    the whole test suite
    python3 dev.py lint                  ruff, mypy, the benchmarks table, the docs site (--strict)
    python3 dev.py up                    the embedded stack, a worker and the desks, until stopped

Each command first makes sure .venv exists and holds this project's dependencies
(re-installing when pyproject.toml changes), then runs inside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".pacte-installed"


def ensure_environment() -> None:
    """Create .venv and install the project with its dev extras, once per pyproject change."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on the system Python
        sys.exit("Pacte needs Python 3.11 or newer")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("creating .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    print("installing dependencies into .venv …", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def run(*command: str) -> int:
    """Run a command with the venv's interpreter from the project root."""
    return subprocess.run([str(PYTHON), *command], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    """Dispatch one command."""
    if not argv or argv[0] not in {"demo", "test", "lint", "up"}:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return run("demo.py", *rest)
    if command == "up":
        return run("demo.py", "--stack-only", *rest)
    if command == "lint":
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner, once per build
        with tempfile.TemporaryDirectory(prefix="pacte-site-") as site:
            for step in (
                ("-m", "ruff", "check", "."),
                ("-m", "ruff", "format", "--check", "."),
                ("-m", "mypy", "."),
                # Babel's checkers and every translation's placeholders, in every catalogue.
                ("-m", "rendering.catalogue_check"),
                # The floors import only what pyproject's [tool.importlinter] allows.
                (str(VENV / "bin" / "lint-imports"), "--no-cache"),
                # The figures the docs show are those benchmarks/results/ keeps …
                ("-m", "benchmarks.results_table", "--check"),
                # … and the site builds with no broken link (its output thrown away).
                ("-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site),
            ):
                code = run(*step)
                if code:
                    return code
        return 0
    ensure_chromium()
    ensure_report_tools()
    return run("-m", "pytest", *rest)


def ensure_chromium() -> None:
    """The partner desk's browser test drives Debian's Chromium: install it when missing
    (as root, with apt); otherwise that one test is skipped, and says why."""
    if not Path("/usr/bin/chromium").exists():
        apt_install(["chromium", "chromium-driver"], "for the browser test")


REPORT_PACKAGES = {
    # WeasyPrint lays out the audit report with Pango (which shapes Arabic) …
    "/usr/lib/x86_64-linux-gnu/libpango-1.0.so.0": "libpango-1.0-0",
    "/usr/lib/x86_64-linux-gnu/libpangoft2-1.0.so.0": "libpangoft2-1.0-0",
    # … in fonts that have Arabic glyphs; the tests read the PDF back with Poppler.
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf": "fonts-dejavu-core",
    "/usr/share/fonts/truetype/noto/NotoNaskhArabic-Regular.ttf": "fonts-noto-core",
    "/usr/bin/pdftotext": "poppler-utils",
    # The signed original: a DOCX or ODT text becomes the PDF that is sealed
    # (documents/conversion.py).
    "/usr/bin/soffice": "libreoffice-writer-nogui",
}


def ensure_report_tools() -> None:
    """The audit report (audit.py report) needs Debian's Pango and fonts with Arabic glyphs,
    its tests Poppler's pdftotext and pdftoppm: install whichever is missing (root, apt)."""
    missing = sorted(
        {package for path, package in REPORT_PACKAGES.items() if not Path(path).exists()}
    )
    if missing:
        apt_install(missing, "for the audit report")


def ensure_scanner() -> bool:
    """security/wapiti_scan.py drives Debian's web scanner: install it when missing (root,
    apt). Not part of `dev.py test`: the scan is run on purpose, not by the suite."""
    if shutil.which("wapiti") is None:
        apt_install(["wapiti"], "for the web scanner (security/wapiti_scan.py)")
    return shutil.which("wapiti") is not None


_apt_lists_fresh = False


def apt_install(packages: list[str], why: str) -> None:
    """Install Debian packages as root; the package lists are refreshed once first (a fresh
    machine has none). Without root or apt, nothing: the tests that need them say so."""
    global _apt_lists_fresh
    if os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        return
    print(f"installing Debian's {', '.join(packages)} {why} …", flush=True)
    if not _apt_lists_fresh:
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        _apt_lists_fresh = True
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        check=False,
        stdout=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main(sys.argv[1:]))
