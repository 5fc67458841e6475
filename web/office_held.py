"""A form posted after the officer's session timed out: held, the officer sent to sign in,
then brought back to the page with what they typed (application/office/held_forms.py keeps
it, sealed and bound to their account, for an hour).

Only the forms whose page can show the fields again are held: the convention editor's, the
convention page's answer, postpone, reassign and terminate forms, and a task's own form (an
answer on a party's behalf, the drafting task's new version). Any other form posted signed
out is sent to sign in and back to the page above it, as a page asked for signed out is.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from application.office import held_forms
from application.office.held_forms import HeldForm
from application.office.signin import SESSION_COOKIE, OfficeSession
from web.navigation import get_view

HELD = "held"
"""The query parameter of the page to come back to that names the held form."""

_REFILLED = (
    # (the form's path, the page that shows it again)
    (re.compile(r"^(/office/editor/[^/]+)$"), r"\1"),
    (re.compile(r"^(/office/conventions/[^/]+)/(answer|postpone|reassign|terminate)$"), r"\1"),
    (re.compile(r"^(/office/conventions/[^/]+/tasks/[^/]+)$"), r"\1"),
)


def posts_a_form(request: Request) -> bool:
    """A browser sending one of its forms (a POST of form data that wants a page back)."""
    kind = request.headers.get("content-type", "")
    form = kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
    return request.method == "POST" and form and "text/html" in request.headers.get("accept", "")


def _page_of(path: str) -> str | None:
    for pattern, page in _REFILLED:
        if pattern.match(path):
            return pattern.sub(page, path)
    return None


def _see(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    response.headers["cache-control"] = "no-store"
    return response


def _signin(next_url: str | None) -> RedirectResponse:
    return _see("/office/signin" + (f"?next={quote(next_url, safe='/')}" if next_url else ""))


async def hold_and_sign_in(request: Request) -> RedirectResponse:
    """Hold what the form carried (if its page can show it again and the cookie is a session
    that timed out), then send the officer to sign in, and back to the page after."""
    path = request.url.path
    page = _page_of(path)
    if page is None:
        return _signin(get_view(request, path, "") or None)
    try:
        posted = await request.form()
    except Exception:
        return _signin(page)
    fields: dict[str, list[str]] = {}
    files: list[str] = []
    for name, value in posted.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
        elif isinstance(value, UploadFile) and value.filename:
            files.append(value.filename)
    csrf = (fields.get("csrf") or [""])[0]
    office_csrf = request.app.state.office_csrf
    desk = request.app.state.office
    token = await held_forms.hold(
        desk.pool,
        desk.partner.secret,
        request.cookies.get(SESSION_COOKIE),
        lambda session_hash: bool(office_csrf.valid(csrf, session_hash)),
        path,
        fields,
        files,
    )
    return _signin(page if token is None else f"{page}?{HELD}={token}")


async def held_for(request: Request, session: OfficeSession, path: str) -> HeldForm | None:
    """The form this officer posted to `path` when their session had timed out, if the
    page's `held` token names one of theirs (given back once)."""
    token = request.query_params.get(HELD)
    if not token:
        return None
    desk = request.app.state.office
    return await held_forms.take(desk.pool, desk.partner.secret, session.user.email, token, path)
