"""What every partner use case works with: the database, Temporal, the portal's settings and
secret, and the code mail's wording. Holds no state of its own but a cache of convention
files (a workflow's file never changes) and the turns of answers to one convention."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from temporalio.client import Client

from application.partner.code_mail import CodeMail, plain_code_mail
from application.partner.update_gate import UpdateGates
from documents.store import DocumentStore
from infra.portal_settings import PortalSettings
from infra.settings import DeliverySettings
from schemas.convention import Convention


@dataclass
class PartnerContext:
    """The partner desk's dependencies."""

    pool: asyncpg.Pool
    client: Client
    settings: PortalSettings
    delivery: DeliverySettings
    secret: bytes
    code_mail: Callable[[str, str, str], CodeMail] = field(default=plain_code_mail)
    documents: DocumentStore | None = None
    """The document store; None: the configured one, opened on first use."""
    _conventions: dict[str, Convention] = field(default_factory=dict)
    update_gates: UpdateGates = field(default_factory=UpdateGates)
    """The turns of this process's answers per convention (Temporal takes ten updates in
    flight per workflow; `application/partner/update_gate.py`)."""
    _convention_reads: dict[str, asyncio.Future[Convention]] = field(default_factory=dict)
