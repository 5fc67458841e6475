"""The workflow's patches, and the one marker that stands for all of them in new runs.

Every `workflow.patched` id a run asks for costs it a marker and an upsert of the SDK's
`TemporalChangeVersion` search attribute (a visibility write) the first time: eight ids,
sixteen events a convention, one of them in the workflow task of the answer that starts
the funding request. Runs started since `patches-consolidated` record that one id at their
start and take every branch it covers without asking; runs recorded before keep asking each
id where they asked it, so their histories replay as they were recorded.
"""

from __future__ import annotations

from temporalio import workflow

CONSOLIDATION_PATCH = "patches-consolidated"
"""Recorded first in every run started since; tests/histories/before-patches-consolidated/
holds the histories of the code before, one marker per patch."""

CONSOLIDATED_PATCHES = frozenset(
    {
        "notification-delivery",
        "revise-funding-request",
        "keep-standing-signatures",
        "announce-stage-to-parties",
        "one-overdue-notice",
        "ordered-ledger",
        "one-notification-activity",
        "visibility-after-ledger",
    }
)
"""Every patch id that existed when the consolidation was made. A later patch is asked for
by its own marker, in every run."""


class Patches:
    """`workflow.patched` for one run, through the consolidation marker."""

    def __init__(self) -> None:
        self._consolidated: bool | None = None

    def start(self) -> None:
        """Ask for the consolidation marker: first thing in the run, so a replay asks it at
        the same point (a run recorded before it finds none there, and asks each id)."""
        if self._consolidated is None:
            self._consolidated = workflow.patched(CONSOLIDATION_PATCH)

    def on(self, patch_id: str) -> bool:
        """Whether this run takes the patched branch of `patch_id`."""
        if patch_id in CONSOLIDATED_PATCHES:
            self.start()
            if self._consolidated:
                return True
        return workflow.patched(patch_id)
