"""Who may keep an organisation's entry on the office desk (issue 23: "admin role, and
officers for the parties of their conventions"): an admin, any organisation; an officer,
the organisations that are parties to a convention they are the responsible officer of
(the file's `officer`, by address). The one rule every directory page that an officer may
use asks. Capacities stay an admin's (`require_admin`): an officer keeps the entry
(names, kind, country, parent, API keys), not who may act for it."""

from __future__ import annotations

from application.directory.editors import Editor, EditorRole
from application.errors import Forbidden
from infra.database import Database
from storage import directory_desk as store


async def may_keep(db: Database, editor: Editor, organisation_id: str) -> bool:
    """Whether the editor may keep this organisation's entry."""
    if editor.role is EditorRole.ADMIN:
        return True
    return await store.keeps(db, organisation_id, editor.name)


async def require_keeper(db: Database, editor: Editor, organisation_id: str, what: str) -> None:
    """Refuse (Forbidden) unless the editor may keep this organisation's entry."""
    if not await may_keep(db, editor, organisation_id):
        raise Forbidden(
            f"{what}: only an admin, or the responsible officer of a convention "
            f"{organisation_id!r} is a party to, may do this"
        )
