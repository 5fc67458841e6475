"""Connecting to Temporal: the standard TEMPORAL_* configuration, the pydantic converter,
and the payload codec that encrypts convention data when a payload key is configured."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.envconfig import ClientConfigProfile

from infra.payload_codec import EncryptionCodec
from infra.secrets import payload_keys
from infra.settings import EMBEDDED_TEMPORAL_ADDRESS, Settings


def data_converter(settings: Settings) -> DataConverter:
    """The converter every client, worker and replayer of Pacte uses.

    Pydantic payloads; with payload keys configured (PACTE_PAYLOAD_KEYS or the secrets
    file's [payload_keys]), each payload is encrypted by the codec, and so are failure
    messages and stack traces (which can quote an answer). Without a key: plain pydantic,
    as before encryption existed. Raises SecretError on a malformed key.
    """
    keys = payload_keys(settings.delivery.secrets_file)
    if not keys:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


class TemporalUnavailable(RuntimeError):
    """No Temporal server answers at the configured address."""


async def connect(settings: Settings) -> Client:
    """A client for the configured cluster (address, namespace, TLS, API key, profile file)."""
    converter = data_converter(settings)
    connect_config = ClientConfigProfile.load().to_client_connect_config()
    connect_config["target_host"] = settings.temporal_address or EMBEDDED_TEMPORAL_ADDRESS
    connect_config["namespace"] = settings.temporal_namespace
    try:
        return await Client.connect(**connect_config, data_converter=converter)
    except RuntimeError as error:
        hint = (
            " (start the embedded stack with `python dev.py up`)"
            if settings.uses_embedded_temporal
            else ""
        )
        raise TemporalUnavailable(
            f"TEMPORAL_ADDRESS: no Temporal server answers at "
            f"{connect_config['target_host']}{hint}: {error}"
        ) from error
