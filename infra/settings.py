"""One settings object, read from the environment once.

`Environment` (pydantic-settings) reads every variable Pacte knows, under its own name, once;
`load_settings()` builds it at a program's start and makes the typed settings from it
(`Settings`, with its delivery and archive settings). The other floors take the one they need
as an argument (`load_delivery_settings(env)`, `load_portal_settings(env)`, `payload_keys(…,
env)`…); called without one, they read the environment then (tests set variables per test).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from infra.outbound import OutboundPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = PROJECT_ROOT / ".pacte"
DEFAULT_TASK_QUEUE = "pacte-conventions"
EMBEDDED_TEMPORAL_ADDRESS = "localhost:7233"
EMBEDDED_TEMPORAL_UI = "http://localhost:8233"
# Workflow tasks are CPU work on the worker's threads; the SDK's default of 100 at once lets
# a burst of starts share two cores so thinly that tasks overrun their 10 s timeout.
DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS = 10


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

WEBHOOK_SECRET_PREFIX_VARIABLE = "PACTE_WEBHOOK_SECRET_"
"""PACTE_WEBHOOK_SECRET_<PARTY>: one variable a party (infra/secrets.py names them)."""


class _WebhookSecretVariables(PydanticBaseSettingsSource):
    """The PACTE_WEBHOOK_SECRET_<PARTY> variables: names no fixed field can list."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            "webhook_secrets": {
                name: value
                for name, value in os.environ.items()
                if name.startswith(WEBHOOK_SECRET_PREFIX_VARIABLE) and value
            }
        }


def _variable(name: str, description: str) -> Any:
    return Field(default=None, validation_alias=name, description=description)


class Environment(BaseSettings):
    """Every variable Pacte reads, under its own name: the environment, read once.

    A program builds it once at start (`load_settings()` does) and hands it, or the typed
    settings made from it, to what needs them. Values stay text here: the typed settings
    below read them, and a malformed one is a SettingsError naming its variable, in one line.
    An empty variable counts as unset.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", frozen=True, env_ignore_empty=True
    )

    temporal_address: str | None = _variable("TEMPORAL_ADDRESS", "host:port; unset: embedded")
    temporal_namespace: str | None = _variable("TEMPORAL_NAMESPACE", "default: default")
    task_queue: str | None = _variable("PACTE_TASK_QUEUE", f"default: {DEFAULT_TASK_QUEUE}")
    database_url: str | None = _variable("DATABASE_URL", "unset: the embedded PostgreSQL")
    state_dir: str | None = _variable("PACTE_STATE_DIR", "default: .pacte in the project")
    secrets_file: str | None = _variable("PACTE_SECRETS_FILE", "TOML or JSON secrets file")
    smtp_host: str | None = _variable("PACTE_SMTP_HOST", "unset: no mail")
    smtp_port: str | None = _variable("PACTE_SMTP_PORT", "default: 465 (TLS), 587, 25")
    smtp_from: str | None = _variable("PACTE_SMTP_FROM", "default: pacte@localhost")
    smtp_user: str | None = _variable("PACTE_SMTP_USER", "")
    smtp_password: str | None = _variable("PACTE_SMTP_PASSWORD", "else the secrets file's")
    smtp_starttls: str | None = _variable("PACTE_SMTP_STARTTLS", "1, true, yes or on")
    smtp_tls: str | None = _variable("PACTE_SMTP_TLS", "1, true, yes or on")
    event_source: str | None = _variable("PACTE_EVENT_SOURCE", "default: /pacte")
    delivery_initial_retry_seconds: str | None = _variable(
        "PACTE_DELIVERY_INITIAL_RETRY_SECONDS", "default: 5"
    )
    delivery_maximum_retry_seconds: str | None = _variable(
        "PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS", "default: 900"
    )
    delivery_maximum_attempts: str | None = _variable(
        "PACTE_DELIVERY_MAXIMUM_ATTEMPTS", "default: 20"
    )
    delivery_attempt_timeout_seconds: str | None = _variable(
        "PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS", "default: 30"
    )
    archive_dir: str | None = _variable("PACTE_ARCHIVE_DIR", "unset: PostgreSQL")
    archive_every_seconds: str | None = _variable("PACTE_ARCHIVE_EVERY_SECONDS", "default: 300")
    max_concurrent_workflow_tasks: str | None = _variable(
        "PACTE_MAX_CONCURRENT_WORKFLOW_TASKS",
        f"default: {DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS}",
    )
    workflow_sandbox: str | None = _variable("PACTE_WORKFLOW_SANDBOX", "shared or strict")
    payload_keys: str | None = _variable("PACTE_PAYLOAD_KEYS", "id:base64key,…")
    link_secret: str | None = _variable("PACTE_LINK_SECRET", "base64, 32 bytes or more")
    public_url: str | None = _variable("PACTE_PUBLIC_URL", "default: http://127.0.0.1:8300")
    portal_host: str | None = _variable("PACTE_PORTAL_HOST", "default: 127.0.0.1")
    portal_port: str | None = _variable("PACTE_PORTAL_PORT", "default: 8300")
    session_idle_minutes: str | None = _variable("PACTE_SESSION_IDLE_MINUTES", "default: 30")
    trusted_proxies: str | None = _variable(
        "PACTE_TRUSTED_PROXIES", "networks, comma-separated; unset: X-Forwarded-For ignored"
    )
    codec_token: str | None = _variable("PACTE_CODEC_TOKEN", "the codec server's bearer token")
    iati_org_ref: str | None = _variable("PACTE_IATI_ORG_REF", "the office's IATI org id")
    iati_org_type: str | None = _variable("PACTE_IATI_ORG_TYPE", "default: 15")
    pacte_env: str | None = _variable("PACTE_ENV", "production or development")
    document_store: str | None = _variable("PACTE_DOCUMENT_STORE", "postgres or s3")
    document_max_bytes: str | None = _variable("PACTE_DOCUMENT_MAX_BYTES", "default: 25 MiB")
    s3_endpoint: str | None = _variable("PACTE_S3_ENDPOINT", "the S3-compatible store's URL")
    s3_bucket: str | None = _variable("PACTE_S3_BUCKET", "the bucket documents go to")
    s3_region: str | None = _variable("PACTE_S3_REGION", "default: us-east-1")
    s3_access_key_id: str | None = _variable("PACTE_S3_ACCESS_KEY_ID", "the store's key id")
    s3_secret_access_key: str | None = _variable(
        "PACTE_S3_SECRET_ACCESS_KEY", "else the secrets file's s3_secret_access_key"
    )
    office_certificate: str | None = _variable("PACTE_OFFICE_CERTIFICATE", "PKCS#12 path")
    office_certificate_password: str | None = _variable(
        "PACTE_OFFICE_CERTIFICATE_PASSWORD", "else the secrets file's"
    )
    tsa_url: str | None = _variable("PACTE_TSA_URL", "the RFC 3161 timestamp authority")
    trust_roots: str | None = _variable(
        "PACTE_TRUST_ROOTS", "PEM files the seal and the timestamps chain to, ':'-separated"
    )
    screens_dir: str | None = _variable(
        "PACTE_SCREENS_DIR", "tests/test_language_screens.py keeps its screenshots there"
    )
    webhook_secrets: dict[str, str] = Field(
        default_factory=dict, description="PACTE_WEBHOOK_SECRET_<PARTY>, by variable name"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, then the process environment (no .env file, no secrets directory)."""
        return init_settings, _WebhookSecretVariables(settings_cls), env_settings


def read_environment() -> Environment:
    """The environment, read now: call it once at a program's start."""
    return Environment()


@dataclass(frozen=True)
class Settings:
    """Where Pacte finds Temporal and PostgreSQL; unset means the embedded stack."""

    temporal_address: str | None
    temporal_namespace: str
    task_queue: str
    database_url: str | None
    state_dir: Path
    environment: Environment = field(default_factory=read_environment)
    """What the settings were read from; what they do not type is read from it."""
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


def load_settings(env: Environment | None = None) -> Settings:
    """Read the environment (once). TEMPORAL_* variables follow the Temporal CLI's names."""
    env = env or read_environment()
    return Settings(
        temporal_address=env.temporal_address,
        temporal_namespace=env.temporal_namespace or "default",
        task_queue=env.task_queue or DEFAULT_TASK_QUEUE,
        database_url=env.database_url,
        state_dir=Path(env.state_dir or DEFAULT_STATE_DIR),
        environment=env,
        delivery=load_delivery_settings(env),
        archive=load_archive_settings(env),
        max_concurrent_workflow_tasks=load_max_concurrent_workflow_tasks(env),
    )


ENVIRONMENT_VARIABLE = "PACTE_ENV"
"""`production` or `development`; unset, a stack is development only when it is embedded."""


def development_stack(env: Environment | None = None) -> bool:
    """Whether this process runs on a developer's or the tests' stack, not in production.

    PACTE_ENV=development (set by the embedded stack's tools and by the tests) relaxes what
    only a production deployment must enforce: a link secret made on first use, webhooks over
    plain http and to loopback addresses. Unset, the embedded stack (neither TEMPORAL_ADDRESS
    nor DATABASE_URL) is development and every other start is production.
    """
    env = env or read_environment()
    mode = (env.pacte_env or "").strip().lower()
    if mode not in {"", "production", "development"}:
        raise SettingsError(f"{ENVIRONMENT_VARIABLE}: 'production' or 'development', not {mode!r}")
    if mode:
        return mode == "development"
    return not (env.temporal_address or env.database_url)


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


def number(name: str, raw: str | None, default: float) -> float:
    """A positive number from variable `name` (its value `raw`), else SettingsError naming it."""
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: not a number: {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def whole_number(name: str, raw: str | None, default: int) -> int:
    """A positive whole number from variable `name`, else SettingsError naming it."""
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: not a whole number: {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be positive, got {raw!r}")
    return value


def networks(name: str, raw: str | None) -> tuple[IPNetwork, ...]:
    """The IP networks listed in variable `name` (comma- or space-separated, `10.0.0.0/8`,
    `2001:db8::/32` or single addresses), else SettingsError naming the one that is not."""
    found: list[IPNetwork] = []
    for item in (raw or "").replace(",", " ").split():
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(f"{name}: not an IP network: {item!r}") from None
    return tuple(found)


def _yes(raw: str | None) -> bool:
    return (raw or "").lower() in {"1", "true", "yes", "on"}


def secrets_file(env: Environment | None = None) -> Path | None:
    """PACTE_SECRETS_FILE, if set."""
    value = (env or read_environment()).secrets_file
    return Path(value) if value else None


def load_delivery_settings(env: Environment | None = None) -> DeliverySettings:
    """Read PACTE_SMTP_*, PACTE_DELIVERY_*, PACTE_EVENT_SOURCE and PACTE_SECRETS_FILE."""
    env = env or read_environment()
    starttls, tls = _yes(env.smtp_starttls), _yes(env.smtp_tls)
    smtp = (
        SmtpSettings(
            host=env.smtp_host,
            port=int(
                number("PACTE_SMTP_PORT", env.smtp_port, 465 if tls else 587 if starttls else 25)
            ),
            sender=env.smtp_from or "pacte@localhost",
            user=env.smtp_user,
            starttls=starttls,
            tls=tls,
        )
        if env.smtp_host
        else None
    )
    return DeliverySettings(
        event_source=env.event_source or "/pacte",
        smtp=smtp,
        initial_retry_seconds=number(
            "PACTE_DELIVERY_INITIAL_RETRY_SECONDS", env.delivery_initial_retry_seconds, 5.0
        ),
        maximum_retry_seconds=number(
            "PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS", env.delivery_maximum_retry_seconds, 900.0
        ),
        maximum_attempts=int(
            number("PACTE_DELIVERY_MAXIMUM_ATTEMPTS", env.delivery_maximum_attempts, 20)
        ),
        attempt_timeout_seconds=number(
            "PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS", env.delivery_attempt_timeout_seconds, 30.0
        ),
        secrets_file=secrets_file(env),
    )


@dataclass(frozen=True)
class ArchiveSettings:
    """Where closed runs' histories are archived (beyond Temporal's retention), how often.

    No directory: the archive is PostgreSQL's history_archive table, beside the milestones.
    """

    directory: Path | None = None
    every_seconds: float = 300.0


def load_archive_settings(env: Environment | None = None) -> ArchiveSettings:
    """Read PACTE_ARCHIVE_DIR and PACTE_ARCHIVE_EVERY_SECONDS."""
    env = env or read_environment()
    return ArchiveSettings(
        directory=Path(env.archive_dir) if env.archive_dir else None,
        every_seconds=number("PACTE_ARCHIVE_EVERY_SECONDS", env.archive_every_seconds, 300.0),
    )


def load_max_concurrent_workflow_tasks(env: Environment | None = None) -> int:
    """Read PACTE_MAX_CONCURRENT_WORKFLOW_TASKS: workflow tasks one worker runs at once."""
    value = number(
        "PACTE_MAX_CONCURRENT_WORKFLOW_TASKS",
        (env or read_environment()).max_concurrent_workflow_tasks,
        DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS,
    )
    if value != int(value):
        raise SettingsError(f"PACTE_MAX_CONCURRENT_WORKFLOW_TASKS: not a whole number: {value!r}")
    return int(value)
