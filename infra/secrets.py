"""Secrets: each party's webhook signing secrets, the SMTP password, the payload keys.

They come from the environment or from a secrets file (PACTE_SECRETS_FILE, TOML or JSON),
never from a convention file. Delivery secrets are read at each delivery so that an operator
who adds or rotates a secret fixes the next attempt without restarting the workers; payload
keys are read when a process builds its Temporal data converter. No function here puts a
secret's value in an exception message or a log line.

The secrets file:

    smtp_password = "…"
    [webhook_secrets]
    bid = "whsec_…"                       # one secret
    menefp = ["whsec_new…", "whsec_old…"] # several during a rotation: each signs
    [payload_keys]                        # AES-256 keys of the payload codec, base64
    k2026 = "…"                           # the first encrypts
    k2025 = "…"                           # every one decrypts
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from infra.payload_codec import KEY_ID_PATTERN, PayloadKey, PayloadKeyError
from infra.settings import Environment, read_environment

WEBHOOK_SECRET_PREFIX = "whsec_"
_ENV_PREFIX = "PACTE_WEBHOOK_SECRET_"
PAYLOAD_KEYS_VARIABLE = "PACTE_PAYLOAD_KEYS"


class SecretError(Exception):
    """A secret is missing or unusable; the message names where it is expected, not its value."""


def webhook_secret_variable(party_id: str) -> str:
    """The environment variable holding a party's secret: PACTE_WEBHOOK_SECRET_<PARTY>.

    Party ids may hold '.', '-' which variables cannot: they become '_'.
    """
    return _ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", party_id.upper())


def webhook_secrets(
    party_id: str, secrets_file: Path | None, env: Environment | None = None
) -> list[str]:
    """The party's signing secrets, newest first; raises SecretError when none is usable."""
    variable = webhook_secret_variable(party_id)
    raw: Any = (env or read_environment()).webhook_secrets.get(variable)
    where = variable
    if raw:
        # Several secrets during a rotation, separated by spaces (base64 never holds one).
        raw = raw.split()
    elif secrets_file is not None:
        raw = _read_file(secrets_file).get("webhook_secrets", {}).get(party_id)
        where = f"{secrets_file} [webhook_secrets] {party_id}"
    if not raw:
        hint = f" or in {secrets_file} under [webhook_secrets]" if secrets_file else ""
        raise SecretError(
            f"no webhook secret for party {party_id!r}: set {variable}{hint} "
            f"(a '{WEBHOOK_SECRET_PREFIX}' secret, base64 of at least 24 random bytes)"
        )
    secrets = [raw] if isinstance(raw, str) else raw
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        raise SecretError(f"{where}: must be a secret or a list of secrets")
    for secret in secrets:
        _check_webhook_secret(secret, where)
    return secrets


def smtp_password(secrets_file: Path | None, env: Environment | None = None) -> str | None:
    """PACTE_SMTP_PASSWORD, else the secrets file's smtp_password, else none."""
    password = (env or read_environment()).smtp_password
    if password:
        return password
    if secrets_file is None:
        return None
    value = _read_file(secrets_file).get("smtp_password")
    if value is not None and not isinstance(value, str):
        raise SecretError(f"{secrets_file}: smtp_password must be text")
    return value


def named_secret(
    name: str, variable: str, secrets_file: Path | None, env: Environment | None = None
) -> str | None:
    """A secret given as one text: the environment variable, else the secrets file's `name`
    (the office certificate's password, the S3 store's secret key), else none."""
    env = env or read_environment()
    given = next(
        (
            getattr(env, name)
            for name, field in type(env).model_fields.items()
            if field.validation_alias == variable
        ),
        None,
    )
    if isinstance(given, str) and given:
        return given
    if secrets_file is None:
        return None
    found = _read_file(secrets_file).get(name)
    if found is not None and not isinstance(found, str):
        raise SecretError(f"{secrets_file}: {name} must be text")
    return found


def payload_keys(secrets_file: Path | None, env: Environment | None = None) -> list[PayloadKey]:
    """The payload codec's keys, the encrypting one first; none means no encryption.

    PACTE_PAYLOAD_KEYS (`id:base64key,id:base64key`) wins over the secrets file's
    [payload_keys] table; raises SecretError naming the faulty entry, never its key.
    """
    raw = ((env or read_environment()).payload_keys or "").strip()
    entries: list[tuple[str, Any]] = []
    if raw:
        for position, entry in enumerate(raw.split(","), start=1):
            key_id, separator, encoded = entry.strip().partition(":")
            if not separator or not key_id.strip():
                # The entry may be a bare key: say where it is, not what it holds.
                raise SecretError(f"{PAYLOAD_KEYS_VARIABLE}: entry {position} is not id:base64key")
            entries.append((key_id.strip(), encoded.strip()))
        where = PAYLOAD_KEYS_VARIABLE
    elif secrets_file is not None:
        table = _read_file(secrets_file).get("payload_keys")
        if table is None:
            return []
        if not isinstance(table, dict):
            raise SecretError(f"{secrets_file}: [payload_keys] must be a table of id = key")
        entries = list(table.items())
        where = f"{secrets_file} [payload_keys]"
    else:
        return []
    keys: list[PayloadKey] = []
    for position, (key_id, encoded) in enumerate(entries, start=1):
        if not KEY_ID_PATTERN.match(key_id):
            raise SecretError(
                f"{where}: entry {position}: its key id is not letters, digits, '.', '_' "
                "or '-' (at most 64)"
            )
        if not isinstance(encoded, str):
            raise SecretError(f"{where}: key {key_id!r} must be base64 text")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(f"{where}: key {key_id!r} is not base64") from None
        try:
            keys.append(PayloadKey(key_id, key))
        except PayloadKeyError as error:
            raise SecretError(f"{where}: {error}") from None
        if [k.key_id for k in keys].count(key_id) > 1:
            raise SecretError(f"{where}: key id {key_id!r} is given twice")
    return keys


def _check_webhook_secret(secret: str, where: str) -> None:
    body = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"{where}: not a base64 secret") from None
    # Standard Webhooks asks for 24 to 64 random bytes; a shorter key is a guessable one.
    if len(key) < 24:
        raise SecretError(f"{where}: too short ({len(key)} bytes, at least 24 are needed)")


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SecretError(f"PACTE_SECRETS_FILE: cannot read {path}: {error.strerror}") from None
    try:
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError):
        # The parser's message may quote the line, secret and all: keep it out.
        raise SecretError(f"PACTE_SECRETS_FILE: {path} is not valid TOML or JSON") from None
    if not isinstance(data, dict):
        raise SecretError(f"PACTE_SECRETS_FILE: {path} must hold a table")
    return data
