"""The domain's refusals, one name each, with no HTTP in them.

Every use case raises these; each surface says them its own way: the web floor maps each class
to a status and an RFC 9457 problem or an error page (`web/problems.py`), the command lines map
each to one readable line and an exit code (`application/cli_support.py`). A refusal carries
the fields at fault (`errors`) and, when waiting helps, how long to wait (`retry_after`).
"""

from __future__ import annotations

from schemas.errors import FieldError


class PacteError(Exception):
    """A request Pacte refuses; `detail` says why in one line, `errors` names the fields."""

    def __init__(
        self,
        detail: str = "",
        errors: list[FieldError] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.retry_after = retry_after


class BadRequest(PacteError):
    """A request that cannot be read at all (a form from elsewhere, a body that is not JSON)."""


class NotFound(PacteError):
    """Unknown, or not the caller's: another party's task is not found, never forbidden."""


class Unauthenticated(PacteError):
    """No valid credential."""


class Forbidden(PacteError):
    """Signed in, but this role may not do this."""


class LinkUnusable(PacteError):
    """A link that exists but no longer opens the desk: expired, or revoked."""


class InvalidInput(PacteError):
    """What was sent does not validate: each field with its reason."""


class Refused(PacteError):
    """The workflow refused the answer or action (a colleague answered meanwhile, a wrong
    version, a task already closed); the detail names the field and the reason."""


class Conflict(PacteError):
    """The request collides with one already made: an Idempotency-Key reused with another
    body or still in flight, a convention already started."""


class TooManyAttempts(PacteError):
    """Too many failures for this token, key, code or address: wait `retry_after` seconds."""


class Unavailable(PacteError):
    """A part Pacte needs does not answer now (a mail server, a convention's workflow, the
    history store); nothing was done, the same request may succeed later."""


class CodeUnavailable(Unavailable):
    """No mail server: a code cannot be sent."""


class ConventionNotAnswering(Unavailable):
    """The convention's workflow cannot answer now: its worker is down (Temporal says so
    after about half a minute) or its workflow task fails. Nothing was done; try later."""


class HistoryUnavailable(Unavailable):
    """The convention's history is neither in Temporal nor in the archive."""
