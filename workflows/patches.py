"""The workflow's patches, and the one marker that stands for all of them in new runs.

Every `workflow.patched` id a run asks for costs it a marker and an upsert of the SDK's
`TemporalChangeVersion` search attribute (a visibility write) the first time: eight ids,
sixteen events a convention, one of them in the workflow task of the answer that starts
the funding request. Runs started since `patches-consolidated` record that one id at their
start and take every branch it covers without asking; runs recorded before keep asking each
id where they asked it, so their histories replay as they were recorded.

Retirement plan (docs/architecture/patches.md says why, and how to check each condition).
A patch goes `patched` -> `deprecate_patch` once no history that must replay on this code
takes its old branch, then is deleted once none holds its marker recorded by `patched` (the
SDK's core refuses a non-deprecated marker the code no longer asks for). "Old branch" below
lists the recorded groups under tests/histories/ whose histories take it; every group but
`current` was recorded before the consolidation, so every one of them holds non-deprecated
markers of the ids it asked.

| patch id                  | old branch replayed by (tests/histories/)    | deprecate | delete |
|---------------------------|----------------------------------------------|-----------|--------|
| notification-delivery     | none: every recorded run holds its marker    | done      | (A)    |
| announce-stage-to-parties | before-announce-stage-to-parties             | (A)       | (A)    |
| keep-standing-signatures  | before-keep-standing-signatures, b-announce  | (A)       | (A)    |
| one-overdue-notice        | before-one-overdue-notice, b-announce        | (A)       | (A)    |
| revise-funding-request    | before-revise-funding-request, b-announce    | (A)       | (A)    |
| ordered-ledger            | before-ordered-ledger and the groups before  | (A)       | (A)    |
| one-notification-activity | before-one-notification-activity and before  | (A)       | (A)    |
| visibility-after-ledger   | before-visibility-after-ledger and before    | (A)       | (A)    |
| patches-consolidated      | every before-* group                         | (A)       | (B)    |
| typed-task-facts          | before-typed-task-facts and every group      | (C)       | (C)    |
| change-officer            | before-change-officer and every group        | (C)       | (C)    |
| reassign-directory        | before-reassign-directory and every group    | (C)       | (C)    |
| typed-reasons             | before-typed-reasons and every group         | (C)       | (C)    |
| escalation-due-moment     | before-escalation-due-moment, every group    | (C)       | (C)    |

(A) No run started before the consolidation can replay on this code any more: no such run
is open (a run continued-as-new since starts on the consolidated code), and the archived
histories of closed ones are replayed with the release that recorded them (a pinned tag)
rather than with this code; the before-* groups then move to that pinned replay and leave
this one. From then on a consolidated id is never asked: its `patched` call and its old
branch are deleted together (deprecating first buys nothing: no history left asks it).
(B) No history replayed on this code lacks the consolidation's marker, and none holds it
recorded by `patched` rather than `deprecate_patch`: after (A), deprecate it for as long as
archived runs that recorded it as `patched` must replay on this code, then delete it.
(C) A patch made after the consolidation (LATER_PATCHES): asked by its own marker in every
run; deprecated once no run without its marker is open and the histories recorded before it
are replayed with a pinned release, deleted once none replayed here holds its `patched` marker.
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

LATER_PATCHES = frozenset(
    {
        "typed-task-facts",
        "change-officer",
        "reassign-directory",
        "typed-reasons",
        "escalation-due-moment",
    }
)
"""Patches made after the consolidation: each asked by its own marker in every run, and
retired on its own (docs/architecture/patches.md)."""

DEPRECATED_PATCHES = frozenset({"notification-delivery"})
"""Ids no history that replays on this code goes through the old branch of: asked with
`workflow.deprecate_patch` (which takes the new branch, and accepts the marker that runs
recorded with `patched`). tests/test_audit_replay.py checks that no recorded history lacks it."""


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

    def deprecated(self, patch_id: str) -> None:
        """Where a deprecated patch was asked: its marker, as the runs recorded before the
        consolidation hold it, and no branch (every run takes what was the new one)."""
        assert patch_id in DEPRECATED_PATCHES, patch_id
        self.start()
        if not self._consolidated:
            workflow.deprecate_patch(patch_id)
