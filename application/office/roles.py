"""Who may do what on the office desk: roles, the permissions of its pages, and the check."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from application.errors import Forbidden, Unauthenticated
from schemas.errors import DetailCode, coded_detail


class Role(StrEnum):
    """What an office account may do."""

    OFFICER = "officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    """One thing a route does; each route of the desk declares exactly one."""

    READ_PORTFOLIO = "read_portfolio"
    ACT = "act"
    START = "start"
    AUDIT = "audit"
    READ_ACCESS_LOG = "read_access_log"
    READ_DIRECTORY = "read_directory"
    MANAGE_DIRECTORY = "manage_directory"
    KEEP_DIRECTORY = "keep_directory"
    """An organisation's entry (names, parent, API keys): admins, and officers for the
    parties of their conventions (application/directory/keepers.py decides which)."""
    CHANGE_OFFICER = "change_officer"
    """A convention's responsible officer: admins, and that officer themself
    (application/office/responsible_officer.py decides which convention)."""
    OWN_ACCOUNT = "own_account"
    MANAGE_ACCOUNTS = "manage_accounts"


PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_PORTFOLIO: frozenset({Role.OFFICER, Role.AUDITOR}),
    Permission.ACT: frozenset({Role.OFFICER}),
    Permission.START: frozenset({Role.OFFICER}),
    Permission.AUDIT: frozenset({Role.AUDITOR}),
    Permission.READ_ACCESS_LOG: frozenset({Role.ADMIN}),
    Permission.READ_DIRECTORY: frozenset({Role.OFFICER, Role.AUDITOR, Role.ADMIN}),
    Permission.MANAGE_DIRECTORY: frozenset({Role.ADMIN}),
    Permission.KEEP_DIRECTORY: frozenset({Role.OFFICER, Role.ADMIN}),
    Permission.CHANGE_OFFICER: frozenset({Role.OFFICER, Role.ADMIN}),
    Permission.OWN_ACCOUNT: frozenset({Role.OFFICER, Role.AUDITOR, Role.ADMIN}),
    Permission.MANAGE_ACCOUNTS: frozenset({Role.ADMIN}),
}
SECOND_FACTOR_ROLES = frozenset({Role.OFFICER, Role.AUDITOR, Role.ADMIN})
"""Every role: auditors download decrypted timelines of every convention (issue 28, item 4)."""


class Holder(Protocol):
    """A session as the check sees it: how far its sign-in went, and its role."""

    @property
    def signed_in(self) -> bool:
        """Password and, where the role needs it, the second factor given."""

    @property
    def role(self) -> Role:
        """The account's role."""


def may(role: Role, permission: Permission) -> bool:
    """Whether the role has the permission."""
    return role in PERMISSIONS[permission]


def authorize(session: Holder, permission: Permission) -> None:
    """Refuse: Unauthenticated before the second factor, Forbidden for a role without the
    permission."""
    if not session.signed_in:
        raise Unauthenticated("sign-in not finished: the second factor is owed")
    if not may(session.role, permission):
        raise Forbidden(
            coded_detail(
                DetailCode.ROLE_MAY_NOT,
                f"the role {session.role.value} may not do this",
                role=session.role.value,
            )
        )
