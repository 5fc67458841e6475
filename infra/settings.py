"""One settings object, read from the environment once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from infra.outbound import OutboundPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".pacte"
DEFAULT_TASK_QUEUE = "pacte-conventions"
EMBEDDED_TEMPORAL_ADDRESS = "localhost:7233"
EMBEDDED_TEMPORAL_UI = "http://localhost:8233"
# Workflow tasks are CPU work on the worker's threads; the SDK's default of 100 at once lets
# a burst of starts share two cores so thinly that tasks overrun their 10 s timeout.
DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS = 10


@dataclass(frozen=True)
class Settings:
    """Where Pacte finds Temporal and PostgreSQL; unset means the embedded stack."""

    temporal_address: str | None
    temporal_namespace: str
    task_queue: str
    database_url: str | None
    state_dir: Path
    delivery: DeliverySettings = field(default_factory=lambda: load_delivery_settings())
    archive: ArchiveSettings = field(default_factory=lambda: load_archive_settings())
    max_concurrent_workflow_tasks: int = field(
        default_factory=lambda: load_max_concurrent_workflow_tasks()
    )

    @property
    def uses_embedded_temporal(self) -> bool:
        """No Temporal address configured: the embedded dev server on localhost."""
        return self.temporal_address is None

    @property
    def uses_embedded_postgres(self) -> bool:
        """No DATABASE_URL: the embedded PostgreSQL under the state directory."""
        return self.database_url is None


def load_settings() -> Settings:
    """Read the environment. TEMPORAL_* variables follow the Temporal CLI's own names."""
    return Settings(
        temporal_address=os.environ.get("TEMPORAL_ADDRESS") or None,
        temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE") or "default",
        task_queue=os.environ.get("PACTE_TASK_QUEUE") or DEFAULT_TASK_QUEUE,
        database_url=os.environ.get("DATABASE_URL") or None,
        state_dir=Path(os.environ.get("PACTE_STATE_DIR") or DEFAULT_STATE_DIR),
    )


ENVIRONMENT_VARIABLE = "PACTE_ENV"
"""`production` or `development`; unset, a stack is development only when it is embedded."""


def development_stack() -> bool:
    """Whether this process runs on a developer's or the tests' stack, not in production.

    PACTE_ENV=development (set by the embedded stack's tools and by the tests) relaxes what
    only a production deployment must enforce: a link secret made on first use, webhooks over
    plain http and to loopback addresses. Unset, the embedded stack (neither TEMPORAL_ADDRESS
    nor DATABASE_URL) is development and every other start is production.
    """
    mode = (os.environ.get(ENVIRONMENT_VARIABLE) or "").strip().lower()
    if mode not in {"", "production", "development"}:
        raise SettingsError(f"{ENVIRONMENT_VARIABLE}: 'production' or 'development', not {mode!r}")
    if mode:
        return mode == "development"
    return not (os.environ.get("TEMPORAL_ADDRESS") or os.environ.get("DATABASE_URL"))


@dataclass(frozen=True)
class SmtpSettings:
    """The outgoing mail server; its password is a secret and lives in infra/secrets.py."""

    host: str
    port: int
    sender: str
    user: str | None
    starttls: bool
    tls: bool


@dataclass(frozen=True)
class DeliverySettings:
    """How notifications reach partners: where from, through which servers, how persistently.

    The retry figures are handed to the workflow through an activity result, so a change
    applies to new notifications and a replay still sees the figures it ran with.
    """

    event_source: str = "/pacte"
    smtp: SmtpSettings | None = None
    initial_retry_seconds: float = 5.0
    maximum_retry_seconds: float = 900.0
    maximum_attempts: int = 20
    attempt_timeout_seconds: float = 30.0
    secrets_file: Path | None = None
    outbound: OutboundPolicy = field(default_factory=lambda: outbound_policy())
    """What webhooks may reach: https and public addresses; a development stack adds plain
    http and loopback (infra/outbound.py)."""


class SettingsError(ValueError):
    """An environment variable whose value cannot be used; the message names it."""


def outbound_policy() -> OutboundPolicy:
    """The outbound policy of this stack: production's unless it is a development one."""
    return OutboundPolicy.development() if development_stack() else OutboundPolicy()


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: not a number: {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def load_delivery_settings() -> DeliverySettings:
    """Read PACTE_SMTP_*, PACTE_DELIVERY_*, PACTE_EVENT_SOURCE and PACTE_SECRETS_FILE."""
    host = os.environ.get("PACTE_SMTP_HOST") or None
    starttls = os.environ.get("PACTE_SMTP_STARTTLS", "").lower() in {"1", "true", "yes", "on"}
    tls = os.environ.get("PACTE_SMTP_TLS", "").lower() in {"1", "true", "yes", "on"}
    smtp = (
        SmtpSettings(
            host=host,
            port=int(_number("PACTE_SMTP_PORT", 465 if tls else 587 if starttls else 25)),
            sender=os.environ.get("PACTE_SMTP_FROM") or "pacte@localhost",
            user=os.environ.get("PACTE_SMTP_USER") or None,
            starttls=starttls,
            tls=tls,
        )
        if host
        else None
    )
    secrets_file = os.environ.get("PACTE_SECRETS_FILE") or None
    return DeliverySettings(
        event_source=os.environ.get("PACTE_EVENT_SOURCE") or "/pacte",
        smtp=smtp,
        initial_retry_seconds=_number("PACTE_DELIVERY_INITIAL_RETRY_SECONDS", 5.0),
        maximum_retry_seconds=_number("PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS", 900.0),
        maximum_attempts=int(_number("PACTE_DELIVERY_MAXIMUM_ATTEMPTS", 20)),
        attempt_timeout_seconds=_number("PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS", 30.0),
        secrets_file=Path(secrets_file) if secrets_file else None,
    )


@dataclass(frozen=True)
class ArchiveSettings:
    """Where closed runs' histories are archived (beyond Temporal's retention), how often.

    No directory: the archive is PostgreSQL's history_archive table, beside the milestones.
    """

    directory: Path | None = None
    every_seconds: float = 300.0


def load_archive_settings() -> ArchiveSettings:
    """Read PACTE_ARCHIVE_DIR and PACTE_ARCHIVE_EVERY_SECONDS."""
    directory = os.environ.get("PACTE_ARCHIVE_DIR") or None
    return ArchiveSettings(
        directory=Path(directory) if directory else None,
        every_seconds=_number("PACTE_ARCHIVE_EVERY_SECONDS", 300.0),
    )


def load_max_concurrent_workflow_tasks() -> int:
    """Read PACTE_MAX_CONCURRENT_WORKFLOW_TASKS: workflow tasks one worker runs at once."""
    value = _number("PACTE_MAX_CONCURRENT_WORKFLOW_TASKS", DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS)
    if value != int(value):
        raise SettingsError(f"PACTE_MAX_CONCURRENT_WORKFLOW_TASKS: not a whole number: {value!r}")
    return int(value)
