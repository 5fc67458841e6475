"""Who changes the directory: a signed-in office account, the CLI's officer, the demo."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from application.errors import Forbidden


class EditorRole(StrEnum):
    """What an editor may change: an officer creates organisations the directory does not
    know (with a file's people); only an admin changes who acts for an existing one."""

    OFFICER = "officer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Editor:
    """The author of a directory change, as the change log names them."""

    name: str
    role: EditorRole

    @property
    def recorded_as(self) -> str:
        """'admin:amina@ofppt.ma', 'officer:loubna' — the log's `actor`."""
        return f"{self.role.value}:{self.name}"


def require_admin(editor: Editor, what: str) -> None:
    """Refuse (Forbidden) unless the editor is an admin."""
    if editor.role is not EditorRole.ADMIN:
        raise Forbidden(f"{what}: only an admin may do this (you are {editor.role.value})")
