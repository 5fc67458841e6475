"""The reasons a convention's workflow gives, as facts: a code and the values its sentence
names (since `typed-reasons`).

A task cancelled, a stage failed, the convention ended: the workflow writes why into the
milestone's details (`reason_facts`, beside the English `reason` it always wrote) and into
the closed Task (`closed_reason_facts`), so each reader's language says it again
(rendering.reasons). What a person wrote inside a reason (a refusal's words, a funder's
comments, the officer's reason to terminate) is a parameter, shown as written. A reason
that wraps another (the convention ended *because* a stage failed) carries it as `cause`.

Reasons written before the patch carry no facts: their English wording is read back by
pattern (rendering.record.workflow_reason).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ReasonCode(StrEnum):
    """Why the workflow closed a task, failed a stage or ended the convention. Each has its
    sentence in every catalogue (rendering.reasons.REASONS; tests/test_typed_reasons.py)."""

    CHANGES_REQUESTED = "changes_requested"
    """A reviewer asked for changes: the round's other reviews are cancelled (party, version)."""
    SIGNATURE_REFUSED = "signature_refused"
    """A signatory refused to sign (person, party, reason as written)."""
    PARTY_WITHDREW = "party_withdrew"
    """A signatory's party withdrew from the convention (person, party, reason as written)."""
    OUTCOMES_DISPUTED = "outcomes_disputed"
    """A party disagreed with the diagnostic's outcomes (party, comments as written)."""
    FUNDING_REJECTED = "funding_rejected"
    """The funder rejected the request (funder, comments as written)."""
    NO_VERSION_APPROVED = "no_version_approved"
    """Drafting gave up after its most rounds (count)."""
    NO_OUTCOMES_AGREED = "no_outcomes_agreed"
    """The diagnostic gave up after its most rounds (count)."""
    NO_FUNDING_DECISION = "no_funding_decision"
    """The funder asked for information its most times without deciding (count)."""
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    """The stage to go back to already ran its max_attempts (stage, runs; cause: the failure)."""
    CONVENTION_TERMINATED = "convention_terminated"
    """The officer terminated the convention (reason as the officer wrote it)."""
    CONVENTION_ENDED = "convention_ended"
    """The convention ended without success (cause: why)."""
    ESCALATED_TASK_CANCELLED = "escalated_task_cancelled"
    """An escalation closed with the late task it was about, cancelled (task)."""
    ESCALATED_TASK_ANSWERED = "escalated_task_answered"
    """An escalation closed with the late task it was about, answered (task)."""
    DEADLINE_POSTPONED = "deadline_postponed"
    """An escalation closed as its late task's due date was moved later."""


ReasonValue = str | int


class ReasonFacts(BaseModel):
    """One reason as data: its code, the values its sentence names (party ids, names, counts,
    what people wrote), and the reason it wraps, if any."""

    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    params: dict[str, ReasonValue] = Field(default_factory=dict)
    cause: ReasonFacts | None = Field(
        default=None,
        description="The reason this one wraps (a convention ended because a stage failed).",
        exclude_if=lambda value: value is None,
    )

    @classmethod
    def of(
        cls, code: ReasonCode, cause: ReasonFacts | None = None, **params: ReasonValue | None
    ) -> ReasonFacts:
        """A reason with the parameters that are set (None ones left out)."""
        kept = {name: value for name, value in params.items() if value is not None}
        return cls(code=code, params=kept, cause=cause)

    def details(self) -> dict[str, object]:
        """As a milestone's details carry it (JSON)."""
        return self.model_dump(mode="json")
