"""Every office route × every role, enforced on the server: allowed or refused, and nobody
else — no session, a half-finished sign-in, a partner's session, a partner's API key —
gets anything.

The matrix is read from the routes' own dependencies (`require(Permission.…)` in
web/office.py), not from a list kept beside them: a route that forgets its permission shows
up as public, and the first test fails.

A refused role is 403 before the route reads anything (a POST without its CSRF token
included); an allowed role is past the check (a POST without CSRF then fails on CSRF, 400).
"""

from __future__ import annotations

import re
from types import ModuleType

import asyncpg
import httpx
import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from temporalio.testing import WorkflowEnvironment

import web.app
from application.office.roles import PERMISSIONS, Permission, Role
from application.office.signin import SESSION_COOKIE
from application.partner import create_key
from tests.partner_stack import FUNDER, bearer, funding_convention, link_path, make_desk
from tests.test_office_desk import new_account, office_client, sign_in, signed_in
from tests.test_partner_links import link_minted
from web.office import Require

PUBLIC = {
    ("GET", "/office/signin"),
    ("POST", "/office/signin"),
    # The sign-in's own steps and the session's housekeeping: any session of the office,
    # whatever its role, and nothing else (the desk checks the step they belong to).
    ("GET", "/office/second-factor"),
    ("POST", "/office/second-factor"),
    ("GET", "/office/enrol"),
    ("POST", "/office/enrol"),
    ("POST", "/office/signout"),
    ("POST", "/office/language"),
    # An admin's reset link: its token is the credential (the rules' own tests:
    # tests/test_office_account.py).
    ("GET", "/office/reset/{token}"),
    ("POST", "/office/reset/{token}"),
}

EXPECTED = {
    Permission.READ_PORTFOLIO: {"officer", "auditor"},
    Permission.ACT: {"officer"},
    Permission.START: {"officer"},
    Permission.AUDIT: {"auditor"},
    Permission.READ_ACCESS_LOG: {"admin"},
    Permission.READ_DIRECTORY: {"officer", "auditor", "admin"},
    Permission.MANAGE_DIRECTORY: {"admin"},
    Permission.KEEP_DIRECTORY: {"officer", "admin"},
    Permission.CHANGE_OFFICER: {"officer", "admin"},
    Permission.OWN_ACCOUNT: {"officer", "auditor", "admin"},
    Permission.MANAGE_ACCOUNTS: {"admin"},
}


def _permissions(dependant: Dependant) -> set[Permission]:
    """Every permission a route's dependencies (and theirs) require."""
    found = {dependant.call.permission} if isinstance(dependant.call, Require) else set()
    for sub in dependant.dependencies:
        found |= _permissions(sub)
    return found


ROUTERS = [
    module.router
    for module in vars(web.app).values()
    if isinstance(module, ModuleType) and isinstance(getattr(module, "router", None), APIRouter)
]
"""The router of every module the portal's app includes (web/app.py imports each one to
include it), whatever module a route lives in."""


def _office_routes() -> dict[tuple[str, str], set[Permission]]:
    """Every office route the portal serves, with the permissions its dependencies
    require."""
    return {
        (method, route.path): _permissions(route.dependant)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/office")
        for method in route.methods or ()
    }


def _routes() -> dict[tuple[str, str], Permission]:
    """Every page behind the sign-in, with the one permission it needs."""
    routes: dict[tuple[str, str], Permission] = {}
    for key, permissions in _office_routes().items():
        if permissions:
            assert len(permissions) == 1, f"{key} requires {permissions}: one permission a route"
            [routes[key]] = permissions
    return routes


ROUTES = _routes()


def _concrete(path: str) -> str:
    return (
        path.replace("{convention_id}", "no-such-convention")
        .replace("{table}", "stages")
        .replace("{fmt}", "csv")
        .replace("{task_id}", "no.such.task")
        .replace("{org_id}", "no-such-org")
        .replace("{draft_id}", "no-such-draft")
        .replace("{proposal_id}", "dp-none")
    )


def test_every_office_route_declares_its_permission_and_the_matrix_is_the_documented_one() -> None:
    declared = _office_routes()
    public = {key for key, permissions in declared.items() if not permissions}
    assert public == PUBLIC
    assert set(declared) == set(ROUTES) | PUBLIC
    # The routes of every module are walked: the desk's own, the directory's, the editor's,
    # the conventions list's.
    paths = {path for _method, path in ROUTES}
    assert {"/office", "/office/directory", "/office/editor", "/office/conventions"} <= paths
    assert set(ROUTES.values()) == set(Permission)
    assert {p: {r.value for r in roles} for p, roles in PERMISSIONS.items()} == EXPECTED


async def _request(http: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    url = _concrete(path)
    if method == "GET":
        return await http.get(url)
    return await http.post(url, data={"task_id": "x", "reason": "r", "to": "2030-01-01"})


@pytest.mark.parametrize("role", [r.value for r in Role])
async def test_each_role_reaches_exactly_its_routes(
    role: str, dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    async with office_client(desk) as http:
        await signed_in(http, db_pool, role)
        for (method, path), permission in ROUTES.items():
            response = await _request(http, method, path)
            where = f"{role} {method} {path}: {response.status_code} {response.text[:200]}"
            if role in EXPECTED[permission]:
                assert response.status_code not in (401, 403), where
                if method == "POST":
                    assert response.status_code == 400, where  # CSRF, after the role check
            else:
                assert response.status_code == 403, where
    stored = await db_pool.fetchval(
        "SELECT count(*) FROM milestones WHERE convention_id = 'no-such-convention'"
    )
    assert stored == 0


async def test_nobody_else_reaches_any_office_route(
    dev_env: WorkflowEnvironment, db_pool: asyncpg.Pool
) -> None:
    desk = make_desk(dev_env.client, db_pool)
    convention = await funding_convention(dev_env.client, db_pool)
    await link_minted(db_pool, convention.id, FUNDER["name"])
    key, _ = await create_key(db_pool, "bid", "IsDB grants system")
    async with office_client(desk) as partner:
        opened = await partner.get(link_path(convention.id, FUNDER["name"]))
        assert opened.status_code == 303
        partner_cookie = partner.cookies.get("pacte_session")
        assert partner_cookie
    async with office_client(desk) as half:
        # An officer who gave the password but not yet the second factor.
        email = await new_account(db_pool, "officer")
        await sign_in(half, email)
        half_cookie = half.cookies.get(SESSION_COOKIE)
        assert half_cookie
        half_enrolled = await half.get("/office/enrol")
        assert half_enrolled.status_code == 200
    strangers: dict[str, dict[str, str]] = {
        "no session": {},
        "a partner's session cookie": {"cookie": f"pacte_session={partner_cookie}"},
        "a partner's session as the office cookie": {
            "cookie": f"{SESSION_COOKIE}={partner_cookie}"
        },
        "a partner's API key": bearer(key),
        "password without second factor": {"cookie": f"{SESSION_COOKIE}={half_cookie}"},
    }
    async with office_client(desk) as http:
        for who, headers in strangers.items():
            for method, path in ROUTES:
                http.cookies.clear()
                url = _concrete(path)
                response = (
                    await http.get(url, headers=headers)
                    if method == "GET"
                    else await http.post(url, headers=headers, data={"reason": "r"})
                )
                assert response.status_code == 401, f"{who} {method} {path}: {response.text}"
    assert re.fullmatch(r"pk_[0-9a-f]+_.+", key)
