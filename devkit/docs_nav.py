"""MkDocs hook: every page under a section's folder joins that section's navigation.

mkdocs.yml names the pages in the order a reader wants them; a page added later under
docs/guides/, docs/operations/, docs/architecture/ … is appended to its section without
touching mkdocs.yml, and a new folder becomes a section of its own before "Not done yet".
With `validation.nav.omitted_files: warn` and --strict, nothing can be left out unseen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NavItem = str | dict[str, Any]


def _pages(entries: list[NavItem]) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        if isinstance(entry, str):
            found.add(entry)
        else:
            for value in entry.values():
                found |= _pages(value) if isinstance(value, list) else {value}
    return found


def _section_folder(entries: list[NavItem]) -> str | None:
    folders = {
        str(Path(page).parent) for page in _pages(entries) if "/" in page and "://" not in page
    }
    return folders.pop() if len(folders) == 1 else None


def on_config(config: Any) -> Any:
    """Append the pages mkdocs.yml does not name to the section of their folder."""
    docs = Path(config["docs_dir"])
    nav: list[NavItem] = config["nav"]
    listed = _pages(nav)
    unlisted = sorted(
        path.relative_to(docs).as_posix()
        for path in docs.rglob("*.md")
        if path.relative_to(docs).as_posix() not in listed
    )
    sections: dict[str, list[NavItem]] = {}
    for entry in nav:
        if isinstance(entry, dict):
            for value in entry.values():
                if isinstance(value, list) and (folder := _section_folder(value)):
                    sections[folder] = value
    last = nav[-1] if nav else None
    tail = len(nav) - 1 if isinstance(last, dict) and "Not done yet" in last else len(nav)
    for page in unlisted:
        folder = str(Path(page).parent)
        if folder in sections:
            sections[folder].append(page)
        elif folder != ".":
            section: list[NavItem] = [page]
            sections[folder] = section
            nav.insert(tail, {folder.replace("-", " ").capitalize(): section})
            tail += 1
        else:
            nav.insert(tail, page)
            tail += 1
    return config
