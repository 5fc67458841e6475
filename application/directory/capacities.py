"""What a person may do for an organisation (its own module: `starter.py`'s parser offers
the capacities as choices without loading the directory's use cases)."""

from __future__ import annotations

from enum import StrEnum


class DirectoryCapacity(StrEnum):
    """What a person may do for an organisation; each task needs one."""

    ANSWER = "answer"
    """Answer the organisation's ordinary tasks (host a mission, file a report, agree…)."""
    REVIEW = "review"
    """Review or revise drafts."""
    SIGN = "sign"
    """Sign conventions."""
    DECIDE_FUNDING = "decide_funding"
    """Decide on a funding request."""
