"""The environment is read once, into one settings object, under the variables' own names."""

from __future__ import annotations

import re

import pytest

from infra.portal_settings import load_portal_settings
from infra.settings import (
    DEFAULT_TASK_QUEUE,
    PROJECT_ROOT,
    Environment,
    SettingsError,
    load_settings,
)

EVERY_VARIABLE = {
    "TEMPORAL_ADDRESS": "temporal.example:7233",
    "TEMPORAL_NAMESPACE": "pacte",
    "PACTE_TASK_QUEUE": "queue-1",
    "DATABASE_URL": "postgresql://db.example/pacte",
    "PACTE_STATE_DIR": "/var/lib/pacte",
    "PACTE_SECRETS_FILE": "/etc/pacte/secrets.toml",
    "PACTE_SMTP_HOST": "mail.example",
    "PACTE_SMTP_PORT": "2525",
    "PACTE_SMTP_FROM": "desk@example.org",
    "PACTE_SMTP_USER": "desk",
    "PACTE_SMTP_PASSWORD": "secret",
    "PACTE_SMTP_STARTTLS": "yes",
    "PACTE_SMTP_TLS": "no",
    "PACTE_EVENT_SOURCE": "/office",
    "PACTE_DELIVERY_INITIAL_RETRY_SECONDS": "2",
    "PACTE_DELIVERY_MAXIMUM_RETRY_SECONDS": "60",
    "PACTE_DELIVERY_MAXIMUM_ATTEMPTS": "3",
    "PACTE_DELIVERY_ATTEMPT_TIMEOUT_SECONDS": "9",
    "PACTE_ARCHIVE_DIR": "/srv/archive",
    "PACTE_ARCHIVE_EVERY_SECONDS": "120",
    "PACTE_MAX_CONCURRENT_WORKFLOW_TASKS": "4",
    "PACTE_WORKFLOW_SANDBOX": "strict",
    "PACTE_PAYLOAD_KEYS": "k1:AAAA",
    "PACTE_LINK_SECRET": "c2VjcmV0",
    "PACTE_PUBLIC_URL": "https://pacte.example",
    "PACTE_PORTAL_HOST": "0.0.0.0",
    "PACTE_PORTAL_PORT": "8443",
    "PACTE_SESSION_IDLE_MINUTES": "15",
    "PACTE_TRUSTED_PROXIES": "10.0.0.0/8",
    "PACTE_CODEC_TOKEN": "token",
    "PACTE_IATI_ORG_REF": "MA-RC-1",
    "PACTE_IATI_ORG_TYPE": "10",
    "PACTE_ENV": "production",
    "PACTE_DOCUMENT_STORE": "s3",
    "PACTE_DOCUMENT_MAX_BYTES": "1048576",
    "PACTE_S3_ENDPOINT": "https://s3.example",
    "PACTE_S3_BUCKET": "pacte-documents",
    "PACTE_S3_REGION": "eu-west-3",
    "PACTE_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "PACTE_S3_SECRET_ACCESS_KEY": "secret",
    "PACTE_OFFICE_CERTIFICATE": "/etc/pacte/office.p12",
    "PACTE_OFFICE_CERTIFICATE_PASSWORD": "password",
    "PACTE_TSA_URL": "https://tsa.example",
    "PACTE_TRUST_ROOTS": "/etc/pacte/tsa-ca.pem:/etc/pacte/office-ca.pem",
    "PACTE_SCREENS_DIR": "/tmp/screens",
}


def test_every_variable_is_a_field_under_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EVERY_VARIABLE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PACTE_WEBHOOK_SECRET_PSA", "whsec_x")

    env = Environment()

    by_variable = {
        field.validation_alias: getattr(env, name)
        for name, field in Environment.model_fields.items()
        if isinstance(field.validation_alias, str)
    }
    assert by_variable == EVERY_VARIABLE
    assert env.webhook_secrets == {"PACTE_WEBHOOK_SECRET_PSA": "whsec_x"}


def test_the_settings_are_typed_from_one_reading_and_do_not_move_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in EVERY_VARIABLE.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()
    monkeypatch.setenv("PACTE_ARCHIVE_EVERY_SECONDS", "not read any more")
    monkeypatch.setenv("PACTE_SMTP_HOST", "elsewhere.example")

    assert settings.temporal_address == "temporal.example:7233"
    assert settings.task_queue == "queue-1"
    assert settings.archive.every_seconds == 120.0
    assert settings.max_concurrent_workflow_tasks == 4
    assert settings.delivery.smtp is not None
    assert (settings.delivery.smtp.host, settings.delivery.smtp.port) == ("mail.example", 2525)
    assert settings.delivery.maximum_attempts == 3
    assert settings.environment.smtp_host == "mail.example"
    assert load_portal_settings(settings.environment).port == 8443


def test_an_empty_variable_is_unset_and_the_defaults_are_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in EVERY_VARIABLE:
        monkeypatch.setenv(name, "")

    settings = load_settings()

    assert settings.temporal_address is None and settings.database_url is None
    assert settings.temporal_namespace == "default"
    assert settings.task_queue == DEFAULT_TASK_QUEUE
    assert settings.state_dir == PROJECT_ROOT / ".pacte"
    assert settings.delivery.smtp is None and settings.delivery.maximum_attempts == 20
    assert settings.archive.every_seconds == 300.0 and settings.archive.directory is None
    assert settings.max_concurrent_workflow_tasks == 10


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PACTE_ARCHIVE_EVERY_SECONDS", "often", "PACTE_ARCHIVE_EVERY_SECONDS: not a number"),
        ("PACTE_DELIVERY_MAXIMUM_ATTEMPTS", "-1", "PACTE_DELIVERY_MAXIMUM_ATTEMPTS: must be"),
        ("PACTE_MAX_CONCURRENT_WORKFLOW_TASKS", "2.5", "not a whole number"),
        ("PACTE_SMTP_PORT", "smtp", "PACTE_SMTP_PORT: not a number"),
    ],
)
def test_a_malformed_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("PACTE_SMTP_HOST", "mail.example")
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError, match=re.escape(message)) as raised:
        load_settings()

    assert "\n" not in str(raised.value) and variable in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PACTE_PORTAL_PORT", "https", "PACTE_PORTAL_PORT: not a whole number: 'https'"),
        ("PACTE_SESSION_IDLE_MINUTES", "0", "PACTE_SESSION_IDLE_MINUTES: must be positive"),
        ("PACTE_PUBLIC_URL", "pacte.example", "PACTE_PUBLIC_URL: not an http(s) URL"),
    ],
)
def test_a_malformed_portal_value_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError, match=re.escape(message)):
        load_portal_settings(Environment())


def test_configuration_is_read_through_the_settings_object_only() -> None:
    """The modules that once read os.environ themselves; what is left copies the whole
    environment into a child process's (the stack's programs inherit PATH, HOME…), or sets
    a variable for the programs a stack starts."""
    readers = [
        "worker.py",
        "codec_server.py",
        "demo.py",
        "web/app.py",
        "auditing/iati.py",
        "infra/secrets.py",
        "infra/portal_settings.py",
        "infra/embedded.py",
        "devkit/stack.py",
    ]
    for path in readers:
        code = (PROJECT_ROOT / path).read_text(encoding="utf-8")
        assert "os.environ.get(" not in code and "os.getenv(" not in code, path
        assert not re.search(r"os\.environ\[[^\]]+\](?!\s*=)", code), path
