"""Starting a convention from the office desk: the uploaded file read and validated as
`starter.py validate` does (every error by field, bounded in size and in expansion), then
started, refused like the CLI for an id used before."""

from __future__ import annotations

from application.conventions import ConventionAlreadyStarted, ParentUnknown, start_convention
from application.directory.editors import Editor, EditorRole
from application.directory.import_proposal import DirectoryChangesRefused, parties_imported
from application.errors import InvalidInput, Refused
from application.office import access_log
from application.office.roles import Permission, authorize
from application.office.signin import OfficeSession
from application.partner import PartnerDesk
from schemas.convention import Convention
from schemas.convention_file import parse_convention
from schemas.errors import FieldError, InputError

UPLOAD_MAX_BYTES = 512_000
"""A convention file over this size is refused before it is parsed: the schema bounds the
whole file at 256 KiB as validated JSON; twice that leaves room for YAML's indentation and
comments."""
UPLOAD_MAX_NODES = 50_000
"""A YAML document that expands (aliases) past this many nodes is refused: a bomb."""


class AlreadyStarted(Refused):
    """A second start of a convention id: refused, with the id and whether its workflow is
    still running, so that the page says "already running" and links to it."""

    def __init__(self, detail: str, convention_id: str, *, running: bool) -> None:
        super().__init__(detail)
        self.convention_id = convention_id
        self.running = running


def read_upload(data: bytes, filename: str) -> Convention:
    """The uploaded file, validated as `starter.py validate` does: every error at once, by
    field, with its line and column."""
    source = filename or "upload"
    if len(data) > UPLOAD_MAX_BYTES:
        raise InvalidInput(
            "file too large",
            [FieldError("", f"{source}: larger than {UPLOAD_MAX_BYTES} bytes")],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput("not UTF-8", [FieldError("", f"{source}: not UTF-8 text")]) from error
    try:
        return parse_convention(
            text, source, as_json=source.endswith(".json"), max_values=UPLOAD_MAX_NODES
        )
    except InputError as error:
        raise InvalidInput(str(error), error.errors) from error


async def start(
    partner: PartnerDesk,
    task_queue: str,
    session: OfficeSession,
    convention: Convention,
    address: str,
) -> str:
    """Start it on `task_queue`, refused like the CLI for an id used before."""
    authorize(session, Permission.START)
    # The file's parties as a proposal to the directory: new organisations are created as
    # this account's change; changes to existing ones refuse the start.
    admin = session.user.role.value == EditorRole.ADMIN.value
    editor = Editor(session.user.email, EditorRole.ADMIN if admin else EditorRole.OFFICER)
    try:
        async with parties_imported(partner.pool, editor, convention):
            workflow_id = await start_convention(
                partner.client,
                convention,
                task_queue,
                milestones=partner.pool,
                require_parent=False,
                started_by=f"{session.user.name} <{session.user.email}>"[:200],
            )
    except DirectoryChangesRefused:
        # Kept as it is: the desk offers the admin's confirmation page for its differences.
        await access_log.record(
            partner.pool, session.user.email, "start", "refused", address, convention.id
        )
        raise
    except (ConventionAlreadyStarted, ParentUnknown, Refused) as error:
        await access_log.record(
            partner.pool, session.user.email, "start", "refused", address, convention.id
        )
        if isinstance(error, ConventionAlreadyStarted):
            raise AlreadyStarted(str(error), convention.id, running=error.running) from error
        raise Refused(str(error)) from error
    await access_log.record(partner.pool, session.user.email, "start", "ok", address, convention.id)
    return workflow_id
