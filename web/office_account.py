"""The office desk's account pages: one's own password changed (the current one required),
an admin's list of accounts with a one-time reset link mailed to each, and the reset link's
own page. Routes only: the rules are `application/office/passwords.py`'s.

Every form carries a CSRF token and an Origin check: the signed-in ones the session's token;
the reset page's form, before any session, a token bound to the link's own hash (a page
elsewhere has neither). Opening a reset link (GET) only shows its form: mail scanners open
every link, only the form's POST uses it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from application.errors import BadRequest, InvalidInput
from application.office.accounts import list_users
from application.office.passwords import PASSWORD_MIN_CHARS, Passwords
from application.office.reading_zone import choose_reading_zone
from application.office.roles import Permission
from application.office.signin import OfficeSession
from application.partner import CodeMail
from infra.portal_settings import token_hash
from web.i18n import N_, gettext, language_or_default
from web.office import (
    CsrfDep,
    DeskDep,
    OfficeForm,
    SameSite,
    _check_csrf,
    _see,
    _with_cookie,
    page,
    require,
)
from web.security import client_address

router = APIRouter(include_in_schema=False)

OwnAccount = Annotated[OfficeSession, require(Permission.OWN_ACCOUNT)]
AccountsAdmin = Annotated[OfficeSession, require(Permission.MANAGE_ACCOUNTS)]


def get_passwords(desk: DeskDep) -> Passwords:
    """Password changes and resets over the desk's database and mail server."""
    return Passwords(desk.partner)


PasswordsDep = Annotated[Passwords, Depends(get_passwords)]


class PasswordForm(OfficeForm):
    """The current password, and the new one twice."""

    current_password: str = ""
    new_password: str = ""
    repeated_password: str = ""


class NewPasswordForm(OfficeForm):
    """The new password, twice."""

    new_password: str = ""
    repeated_password: str = ""


class ZoneForm(OfficeForm):
    """The IANA zone the account reads dates in; empty: UTC."""

    time_zone: str = ""


class ResetRequestForm(OfficeForm):
    """The account a reset link is mailed to."""

    email: str = ""


def reset_mail(language: str, link: str, name: str) -> CodeMail:
    """The mail that carries a reset link, in the admin's desk language."""
    lang = language_or_default(language)
    lines = [
        gettext(
            lang,
            "An administrator of the office desk has sent you a link to choose a new password:",
        ),
        link,
        gettext(
            lang,
            "It works once, within an hour. Your sessions end when the password is "
            "set; your second factor stays as it is. If you did not expect it, tell an "
            "administrator.",
        ),
    ]
    return CodeMail(
        gettext(lang, "Pacte: choose a new password"), f"{name}\n\n" + "\n\n".join(lines) + "\n"
    )


def lockout_notice_mail(language: str, email: str, failures: int) -> CodeMail:
    """The notice mailed to an account's holder and the admins when its sign-ins start to
    wait: in French, Arabic and English at once (accounts keep no language)."""
    parts = []
    for lang in ("fr", "ar", "en"):
        said = gettext(
            lang,
            "%(count)s wrong passwords in 15 minutes for %(email)s: its sign-ins now wait a "
            "growing delay. If its holder did not type them, tell an administrator.",
        )
        # The address isolated (FSI … PDI): its direction never mixes with the Arabic around.
        parts.append(said % {"count": failures, "email": f"\u2068{email}\u2069"})
    subject = gettext(language_or_default(language), "Pacte: an account's sign-ins are delayed")
    return CodeMail(subject, "\n\n".join(parts) + "\n")


def _field_errors(error: InvalidInput) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {}
    for field_error in error.errors:
        placed.setdefault(field_error.field, []).append(field_error.reason)
    return placed


# --- one's own password ----------------------------------------------------------------------


def _account(
    request: Request,
    session: OfficeSession,
    *,
    typed_zone: str,
    notice: str | None = None,
    refused: InvalidInput | None = None,
) -> Response:
    """The account's page: its notice, or a refused form's reasons beside their fields (422)
    with the zone as typed (the account's own otherwise)."""
    return page(
        request,
        "office/account.html",
        session,
        status_code=422 if refused is not None else 200,
        errors=_field_errors(refused) if refused is not None else {},
        notice=notice,
        min_chars=PASSWORD_MIN_CHARS,
        typed_zone=typed_zone,
    )


@router.get("/office/account", response_class=HTMLResponse)
async def account_page(
    request: Request, session: OwnAccount, changed: bool = False, zone: bool = False
) -> Response:
    """The change-password form, and the time zone the account reads dates in."""
    notice = N_("Your password is changed; your other sessions are ended.") if changed else None
    if zone:
        notice = N_("Dates are now said in the time zone you chose.")
    return _account(request, session, typed_zone=session.time_zone, notice=notice)


@router.post("/office/account/time-zone", response_class=HTMLResponse)
async def choose_time_zone(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: OwnAccount,
    form: Annotated[ZoneForm, Form()],
) -> Response:
    """The account's zone (an IANA name; empty: UTC), refused beside its field when the zone
    database does not hold it, what was typed kept."""
    _check_csrf(csrf, session, form)
    try:
        await choose_reading_zone(desk.pool, session, form.time_zone)
    except InvalidInput as error:
        return _account(request, session, typed_zone=form.time_zone, refused=error)
    return _see("/office/account?zone=true")


@router.post("/office/account/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: OwnAccount,
    passwords: PasswordsDep,
    form: Annotated[PasswordForm, Form()],
) -> Response:
    """The current password, then the new one: every session of the account ends, this one
    goes on under a new cookie."""
    _check_csrf(csrf, session, form)
    try:
        token = await passwords.change(
            session,
            form.current_password,
            form.new_password,
            form.repeated_password,
            client_address(request),
        )
    except InvalidInput as error:
        return _account(request, session, typed_zone=session.time_zone, refused=error)
    return _with_cookie(desk, _see("/office/account?changed=true"), token)


# --- an admin's reset links ------------------------------------------------------------------


async def _accounts_page(
    request: Request, desk: DeskDep, session: OfficeSession, notice: str | None, sent_to: str
) -> Response:
    accounts = await list_users(desk.pool)
    return page(
        request,
        "office/accounts.html",
        session,
        accounts=accounts,
        notice=notice,
        sent_to=sent_to,
    )


@router.get("/office/accounts", response_class=HTMLResponse)
async def accounts_page(request: Request, desk: DeskDep, session: AccountsAdmin) -> Response:
    """Every account, each with a button that mails it a reset link."""
    return await _accounts_page(request, desk, session, None, "")


@router.post("/office/accounts/reset", response_class=HTMLResponse)
async def send_reset(
    request: Request,
    desk: DeskDep,
    csrf: CsrfDep,
    _site: SameSite,
    session: AccountsAdmin,
    passwords: PasswordsDep,
    form: Annotated[ResetRequestForm, Form()],
) -> Response:
    """Mail the account a one-time link to choose a new password (the admin never sees it)."""
    _check_csrf(csrf, session, form)
    await passwords.send_reset(session, form.email, client_address(request), reset_mail)
    notice = N_("A reset link was mailed to the account's address:")
    return await _accounts_page(request, desk, session, notice, form.email.strip().lower())


# --- the reset link ----------------------------------------------------------------------


@router.get("/office/reset/{token}", response_class=HTMLResponse)
async def reset_page(
    request: Request, token: str, csrf: CsrfDep, passwords: PasswordsDep
) -> Response:
    """The new password's form; the link is not used yet."""
    email = await passwords.reset_account(token, client_address(request))
    return page(
        request,
        "office/reset.html",
        None,
        csrf=csrf.token(token_hash(token)),
        email=email,
        token=token,
        errors={},
        min_chars=PASSWORD_MIN_CHARS,
    )


@router.post("/office/reset/{token}", response_class=HTMLResponse)
async def reset(
    request: Request,
    token: str,
    csrf: CsrfDep,
    _site: SameSite,
    passwords: PasswordsDep,
    form: Annotated[NewPasswordForm, Form()],
) -> Response:
    """Use the link once: the new password, every session of the account ended."""
    if not csrf.valid(form.csrf, token_hash(token)):
        raise BadRequest("this form has expired or did not come from this page: reload it")
    address = client_address(request)
    try:
        await passwords.reset(token, form.new_password, form.repeated_password, address)
    except InvalidInput as error:
        email = await passwords.reset_account(token, address)
        return page(
            request,
            "office/reset.html",
            None,
            status_code=422,
            csrf=csrf.token(token_hash(token)),
            email=email,
            token=token,
            errors=_field_errors(error),
            min_chars=PASSWORD_MIN_CHARS,
        )
    return page(
        request,
        "office/message.html",
        None,
        message=N_("Your new password is set: sign in with it."),
        detail=None,
    )
