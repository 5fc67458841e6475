"""The worker's sandbox skips the SDK's per-payload context lookup only when nothing reads it.

infra/workflow_runner.py answers "no context" for every payload when the worker's converter is
context-free; these tests hold that Pacte's converters are (with and without the payload
key), and that a converter which does read contexts keeps the SDK's lookup, so that its codec
still sees each activity's context where the workflow encodes that activity's input.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from infra.payload_codec import EncryptionCodec, PayloadKey
from infra.workflow_runner import ContextFreeSandboxedRunner, context_free, workflow_runner
from tests.context_probe import ContextProbeWorkflow, echo_probe
from worker import STRICT_SANDBOX

Seen = list[tuple[str, str, bytes]]


class _ContextWatchingCodec(PayloadCodec, WithSerializationContext):
    """Leaves payloads as they are and notes the context each one was encoded under."""

    def __init__(self, seen: Seen, context: SerializationContext | None = None) -> None:
        self._seen = seen
        self._context = context

    def with_context(self, context: SerializationContext) -> Self:
        return type(self)(self._seen, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        for payload in payloads:
            self._seen.append((type(self._context).__name__, "encode", payload.data))
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def _watching(seen: Seen) -> DataConverter:
    return dataclasses.replace(pydantic_data_converter, payload_codec=_ContextWatchingCodec(seen))


def test_pacte_s_converters_are_context_free_so_the_worker_skips_the_lookup() -> None:
    sealed = dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec([PayloadKey(key_id="k1", key=bytes(32))]),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
    for converter in (pydantic_data_converter, sealed):
        assert context_free(converter)
        assert isinstance(workflow_runner(STRICT_SANDBOX, converter), ContextFreeSandboxedRunner)


def test_a_converter_that_reads_contexts_keeps_the_sdk_s_sandbox() -> None:
    converter = _watching([])
    assert not context_free(converter)
    runner = workflow_runner(STRICT_SANDBOX, converter)
    assert type(runner) is SandboxedWorkflowRunner
    assert runner.restrictions is STRICT_SANDBOX


async def _activity_inputs_encoded_under_activity_context(
    dev_env: WorkflowEnvironment, runner: SandboxedWorkflowRunner, seen: Seen
) -> list[bytes]:
    config = dev_env.client.config()
    config["data_converter"] = _watching(seen)
    client = Client(**config)
    queue = f"context-probe-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ContextProbeWorkflow],
        activities=[echo_probe],
        workflow_runner=runner,
    ):
        result = await client.execute_workflow(
            ContextProbeWorkflow.run, "the question", id=queue, task_queue=queue
        )
    assert result == "answer to the question"
    return [
        data
        for context, _, data in seen
        if context == "ActivitySerializationContext" and data == b'"the question"'
    ]


async def test_a_context_reading_codec_still_sees_the_activity_s_context_in_the_workflow(
    dev_env: WorkflowEnvironment,
) -> None:
    seen: Seen = []
    runner = workflow_runner(STRICT_SANDBOX, _watching(seen))
    inputs = await _activity_inputs_encoded_under_activity_context(dev_env, runner, seen)
    # The workflow encoded the activity's input under the activity's own context.
    assert inputs == [b'"the question"']

    # The control: forced on this converter, the context-free runner loses that context,
    # which is why workflow_runner never picks it for a converter that reads contexts.
    forced: Seen = []
    forced_inputs = await _activity_inputs_encoded_under_activity_context(
        dev_env, ContextFreeSandboxedRunner(restrictions=STRICT_SANDBOX), forced
    )
    assert forced_inputs == []
    assert ("NoneType", "encode", b'"the question"') in forced
