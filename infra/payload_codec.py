"""Encrypting convention data in Temporal's histories: a payload codec, AES-256-GCM.

Temporal stores every workflow input, activity input and result, update, query answer and
failure detail it is given, for the namespace's retention period, readable by whoever can
read the namespace. With a payload key configured, each payload leaves the process
encrypted: the Temporal server, its database and its Web UI see ciphertext only.

An encrypted payload carries the id of the key that encrypted it, so keys rotate: the first
configured key encrypts, every configured key decrypts, and a history written under an older
key still reads as long as that key stays configured. Payloads this codec did not write
(histories from before encryption was turned on) pass through unchanged.

    metadata: encoding = binary/encrypted, encryption-key-id = <key id>
    data:     12-byte random nonce || AES-GCM(key, nonce, serialized payload, aad)
    aad:      b"pacte-payload/v1:" + key id     (a ciphertext cannot be relabelled)

Nothing here puts a key's bytes in an exception, a log line or a repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_AAD_PREFIX = b"pacte-payload/v1:"


class PayloadKeyError(ValueError):
    """A payload key is malformed; the message says where and why, never the key."""


class PayloadDecryptionError(RuntimeError):
    """An encrypted payload cannot be read: its key is not configured, or it does not verify.

    The message names the payload's key id (not secret), never a key.
    """

    def __init__(self, message: str, key_id: str | None) -> None:
        super().__init__(message)
        self.key_id = key_id


@dataclass(frozen=True)
class PayloadKey:
    """One AES-256 key and the id histories name it by."""

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.match(self.key_id):
            raise PayloadKeyError(
                "payload key id: letters, digits, '.', '_' or '-', 1 to 64 characters"
            )
        if len(self.key) != KEY_BYTES:
            raise PayloadKeyError(
                f"payload key {self.key_id!r}: {len(self.key)} bytes, "
                f"an AES-256 key is {KEY_BYTES} random bytes"
            )


def require_codec(payloads: Iterable[Payload], codec: PayloadCodec | None) -> None:
    """Raise PayloadDecryptionError, naming the key id, when an encrypted payload meets no
    codec (no payload key configured here); a plain converter would only say 'unknown
    payload encoding'."""
    if codec is not None:
        return
    for payload in payloads:
        if payload.metadata.get("encoding") == ENCODING:
            key_id = payload.metadata.get(KEY_ID_METADATA, b"?").decode("utf-8", "replace")
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} and no payload key is configured: "
                "set PACTE_PAYLOAD_KEYS (or [payload_keys] in the secrets file)",
                key_id,
            )


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode("ascii")


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads; the first key encrypts, every key decrypts."""

    def __init__(self, keys: Iterable[PayloadKey]) -> None:
        ordered = list(keys)
        if not ordered:
            raise PayloadKeyError("an encryption codec needs at least one payload key")
        self._ciphers: dict[str, AESGCM] = {}
        for payload_key in ordered:
            if payload_key.key_id in self._ciphers:
                raise PayloadKeyError(f"payload key {payload_key.key_id!r} is given twice")
            self._ciphers[payload_key.key_id] = AESGCM(payload_key.key)
        self.encrypting_key_id = ordered[0].key_id

    @property
    def key_ids(self) -> list[str]:
        """Every configured key id, the encrypting one first."""
        return list(self._ciphers)

    def __repr__(self) -> str:
        return f"EncryptionCodec(key_ids={self.key_ids!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload under the first key, with a fresh random nonce."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt the payloads this codec wrote; pass the others through unchanged."""
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted under the encrypting key."""
        key_id = self.encrypting_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), _aad(key_id))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("ascii")},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted if this codec's format, else returned as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise PayloadDecryptionError(
                "an encrypted payload without an encryption-key-id: not written by Pacte", None
            )
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r}, which is not configured "
                f"(configured: {', '.join(self.key_ids)}); add that key to PACTE_PAYLOAD_KEYS "
                "or to [payload_keys] in the secrets file",
                key_id,
            )
        if len(payload.data) < NONCE_BYTES + 16:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} is truncated", key_id
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _aad(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} does not decrypt: the key configured "
                "under that id is not the one that encrypted it, or the payload was altered",
                key_id,
            ) from None
        try:
            return Payload.FromString(plain)
        except DecodeError:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} decrypts to no payload", key_id
            ) from None
