"""The package installs cleanly: every file the product reads at run time is declared.

Building a wheel needs setuptools from an isolated build environment (and so the network);
this test checks the declaration itself, which is what setuptools' "would be ignored"
warnings were about: a data file under a package that no package-data pattern names.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["tool"]["setuptools"]
    return table


def _included(package: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(package, pattern) for pattern in patterns)


def test_every_data_file_of_a_package_is_declared_package_data() -> None:
    setuptools = _setuptools()
    find = setuptools["packages"]["find"]  # type: ignore[index]
    assert find["namespaces"] is True, "data directories must be packages of their own"
    include: list[str] = find["include"]
    package_data: dict[str, list[str]] = setuptools["package-data"]  # type: ignore[assignment]
    undeclared = []
    tops = [top for top in ROOT.iterdir() if top.is_dir() and _included(top.name, include)]
    for path in sorted(path for top in tops for path in top.rglob("*")):
        relative = path.relative_to(ROOT)
        if not path.is_file() or path.suffix in {".py", ".pyc"}:
            continue
        package = ".".join(relative.parent.parts)
        if "__pycache__" in relative.parts or not _included(package, include):
            continue
        patterns = package_data.get("*", []) + package_data.get(package, [])
        if not any(fnmatch.fnmatchcase(path.name, pattern) for pattern in patterns):
            undeclared.append(str(relative))
    assert undeclared == [], f"not declared as package data: {undeclared}"


def test_the_web_floors_templates_catalogues_and_stylesheets_are_packaged() -> None:
    setuptools = _setuptools()
    include: list[str] = setuptools["packages"]["find"]["include"]  # type: ignore[index]
    for package in ("web", "web.templates", "web.templates.office", "web.static"):
        assert _included(package, include), package
    patterns: list[str] = setuptools["package-data"]["*"]  # type: ignore[index]
    for name in ("base.html", "desk.css", "messages.po"):
        assert any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns), name
