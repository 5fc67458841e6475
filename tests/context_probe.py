"""A workflow that calls one activity: what tests/test_workflow_runner.py watches a codec see.

Its own module, importing only temporalio, so the workflow sandbox re-imports nothing else.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def echo_probe(question: str) -> str:
    """Answer the question, so that its input and its result are two distinct payloads."""
    return f"answer to {question}"


@workflow.defn
class ContextProbeWorkflow:
    """Schedules echo_probe once and returns its result."""

    @workflow.run
    async def run(self, question: str) -> str:
        """One activity, one result."""
        return await workflow.execute_activity(
            echo_probe, question, start_to_close_timeout=timedelta(seconds=30)
        )
