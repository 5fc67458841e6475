"""The workflow sandbox Pacte's worker runs, without the SDK's per-payload context lookup.

For every payload sequence of every activation and completion (six passes over each), the
SDK asks the workflow instance which serialization context applies, and the sandboxed
instance answers by `exec`-ing a line of code inside the sandbox: a compile and the
importer's thread-local overrides each time. Profiled under the lifecycle benchmark it was a
fifth of the worker's busy CPU (py-spy, issue 12), spent to pick a converter that, with
Pacte's converters, is always the same one: neither the pydantic payload converter, the
failure converter nor the encryption codec reads a context, and no external storage is set.

When that holds (`context_free`, checked on the worker's own data converter), the instance
answers "no context" itself, which the SDK maps to its context-free converter: the very
converter the lookup would have returned. When a converter does read contexts, the SDK's
runner is used unchanged. Only public interfaces are used (WorkflowRunner, WorkflowInstance);
tests/test_workflow_runner.py holds both halves of that claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import Info

_PROBES: tuple[SerializationContext, ...] = (
    WorkflowSerializationContext(namespace="probe", workflow_id="probe"),
    ActivitySerializationContext(
        namespace="probe",
        workflow_id="probe",
        workflow_type="probe",
        activity_type="probe",
        activity_id="probe",
        activity_task_queue="probe",
        is_local=False,
    ),
)


def context_free(converter: DataConverter) -> bool:
    """True when no part of the converter reads a serialization context or stores externally."""
    return converter.external_storage is None and all(
        converter.with_context(probe) is converter for probe in _PROBES
    )


def workflow_runner(
    restrictions: SandboxRestrictions, converter: DataConverter
) -> SandboxedWorkflowRunner:
    """The sandbox for `converter`: without the per-payload lookup when it is context-free."""
    if context_free(converter):
        return ContextFreeSandboxedRunner(restrictions=restrictions)
    return SandboxedWorkflowRunner(restrictions=restrictions)


@dataclass(frozen=True)
class ContextFreeSandboxedRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox whose instances answer the context lookup without entering it."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """The sandboxed instance, wrapped."""
        return _ContextFreeInstance(super().create_instance(det))


class _ContextFreeInstance(WorkflowInstance):
    """Delegates every activation to the sandboxed instance; no context for any payload."""

    def __init__(self, sandboxed: WorkflowInstance) -> None:
        self._sandboxed = sandboxed

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        return None  # the context-free converter, which every context maps to anyway

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(target=None)  # no external storage to address

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        return self._sandboxed.get_thread_id()
