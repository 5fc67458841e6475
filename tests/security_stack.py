"""Helpers of the security tests (tests/test_security_*.py).

- payload keys as PACTE_PAYLOAD_KEYS spells them, and the converter Pacte builds from them;
- a PostgreSQL database of their own on the session's server, so that encrypted conventions
  and secret-laden runs stay out of the other tests' tables;
- running Pacte's programs (starter.py, audit.py, worker.py) as subprocesses;
- searching what was emitted (bytes, Temporal CLI JSON, every payload of a history) for text
  that must not be there.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from unittest import mock
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from devkit.programs import ProgramRun
from infra.database import apply_migrations, create_pool
from infra.payload_codec import EncryptionCodec
from infra.settings import load_settings
from infra.temporal_client import data_converter

PROGRAM_TIMEOUT_SECONDS = 60.0


def new_key(key_id: str) -> tuple[str, bytes]:
    """A fresh random AES-256 key under an id."""
    return key_id, os.urandom(32)


def keys_setting(*keys: tuple[str, bytes]) -> str:
    """PACTE_PAYLOAD_KEYS for these keys, the first one encrypting."""
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys)


def converter_for(*keys: tuple[str, bytes]) -> DataConverter:
    """The converter Pacte builds when PACTE_PAYLOAD_KEYS holds these keys."""
    with mock.patch.dict(os.environ, {"PACTE_PAYLOAD_KEYS": keys_setting(*keys)}):
        return data_converter(load_settings())


def codec_of(converter: DataConverter) -> EncryptionCodec:
    """The converter's encryption codec (it must have one)."""
    codec = converter.payload_codec
    assert isinstance(codec, EncryptionCodec)
    return codec


def with_database(url: str, database: str, *, user: str | None = None) -> str:
    """The same server's URL for another database (and, if given, user:password)."""
    parts = urlsplit(url)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{database}"))


async def private_database(postgres_url: str, prefix: str) -> str:
    """A fresh, migrated database on the session's PostgreSQL; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        # Utility statements take no parameters: PostgreSQL's format() quotes the name.
        statement = await admin.fetchval("SELECT format('CREATE DATABASE %I', $1::text)", name)
        await admin.execute(statement)
    finally:
        await admin.close()
    url = with_database(postgres_url, name)
    pool = await create_pool(url, max_size=2)
    try:
        await apply_migrations(pool)
    finally:
        await pool.close()
    return url


Run = ProgramRun


def spellings(text: str) -> set[bytes]:
    """The ways a text can sit in bytes: UTF-8, JSON-escaped, URL-quoted."""
    from urllib.parse import quote

    return {text.encode(), json.dumps(text).strip('"').encode(), quote(text).encode()}


def found_in(blob: bytes, texts: Iterable[str]) -> list[str]:
    """The texts present in blob, in any spelling, in the order given."""
    return [text for text in texts if any(form in blob for form in spellings(text))]


def cli_json_bytes(text: bytes) -> bytes:
    """`temporal workflow show --output json` as searchable bytes: the text, and each of its
    values decoded from base64 where it is base64 (payload data and metadata are)."""
    found = [text]

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            with contextlib.suppress(binascii.Error, ValueError):
                found.append(base64.b64decode(value, validate=True))

    walk(json.loads(text))
    return b"\n".join(found)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload anywhere in a protobuf message (inputs, results, failures, metadata)."""
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            elif isinstance(item, Message):
                yield from payloads_in(item)


def history_bytes(history: WorkflowHistory) -> bytes:
    """The history exactly as the server keeps it (protobuf)."""
    return b"".join(event.SerializeToString() for event in history.events)


def decrypted_bytes(history: WorkflowHistory, codec: EncryptionCodec) -> bytes:
    """Every payload of the history, decrypted."""
    return b"".join(
        codec.decrypt(payload).SerializeToString()
        for event in history.events
        for payload in payloads_in(event)
    )


async def temporal_show(address: str, workflow_id: str, *options: str) -> bytes:
    """`temporal workflow show --output json` of a workflow: what the Temporal CLI prints."""
    from tests.conftest import venv_binary

    process = await asyncio.create_subprocess_exec(
        venv_binary("temporal"),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        address,
        "--output",
        "json",
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr
    assert b'"events"' in stdout
    return stdout
