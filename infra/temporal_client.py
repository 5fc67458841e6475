"""Connecting to Temporal: the standard TEMPORAL_* configuration, the pydantic converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile

from infra.settings import EMBEDDED_TEMPORAL_ADDRESS, Settings


class TemporalUnavailable(RuntimeError):
    """No Temporal server answers at the configured address."""


async def connect(settings: Settings) -> Client:
    """A client for the configured cluster (address, namespace, TLS, API key, profile file)."""
    connect_config = ClientConfigProfile.load().to_client_connect_config()
    connect_config["target_host"] = settings.temporal_address or EMBEDDED_TEMPORAL_ADDRESS
    connect_config["namespace"] = settings.temporal_namespace
    try:
        return await Client.connect(**connect_config, data_converter=pydantic_data_converter)
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
