"""ConventionWorkflow: carries one convention through the stages its file declares."""

from __future__ import annotations

from temporalio import workflow

from workflows.diagnostic import run_diagnostic
from workflows.drafting import run_drafting
from workflows.funding_request import run_funding_request
from workflows.implementation import run_implementation
from workflows.mission import run_mission
from workflows.signature import run_signature
from workflows.task_board import ConventionEnded, TaskBoard

with workflow.unsafe.imports_passed_through():
    from schemas.convention import (
        DiagnosticStage,
        DraftingStage,
        FundingRequestStage,
        ImplementationStage,
        MissionStage,
        SignatureStage,
        StageSpec,
    )
    from schemas.milestones import MilestoneKind
    from schemas.status import ConventionInput, ConventionOutcome, ConventionState, ConventionStatus
    from schemas.tasks import AnswerReceipt, AnswerTask


def workflow_id_for(convention_id: str) -> str:
    """One workflow per convention: a second start of the same id is refused by Temporal."""
    return f"convention-{convention_id}"


@workflow.defn
class ConventionWorkflow:
    """Stage after stage, tasks owed by parties, answers through the answer_task update."""

    @workflow.init
    def __init__(self, request: ConventionInput) -> None:
        self.board = TaskBoard(request.convention)
        self.state = ConventionState.ACTIVE
        self.reason: str | None = None

    @workflow.run
    async def run(self, request: ConventionInput) -> ConventionOutcome:
        """Walk the declared stages in order; stop early if a stage ends the convention."""
        convention = request.convention
        board = self.board
        await board.record(
            MilestoneKind.CONVENTION_STARTED,
            f"Convention started: {convention.title}",
            party=convention.office.id,
            actor=convention.officer.name,
            details={"kind": convention.kind.value, "parent": convention.parent},
        )
        try:
            for spec in convention.stages:
                board.current_stage = spec.stage
                workflow.logger.info(
                    "stage entered", extra={"convention_id": convention.id, "stage": spec.stage}
                )
                await board.record(MilestoneKind.STAGE_ENTERED, f"Stage {spec.stage} entered")
                await _run_stage(board, spec)
                await board.record(MilestoneKind.STAGE_COMPLETED, f"Stage {spec.stage} completed")
        except ConventionEnded as ended:
            self.state, self.reason = ConventionState.FAILED, ended.reason
            await board.record(MilestoneKind.CONVENTION_FAILED, f"Convention ended: {ended.reason}")
        else:
            self.state = ConventionState.COMPLETED
            board.current_stage = None
            await board.record(MilestoneKind.CONVENTION_COMPLETED, "Every stage completed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ConventionOutcome(
            convention_id=convention.id,
            state=self.state,
            reason=self.reason,
            milestone_count=len(board.milestones),
        )

    @workflow.update
    def answer_task(self, request: AnswerTask) -> AnswerReceipt:
        """A party answers one of its tasks; the stage waiting on it carries on."""
        task = self.board.accept_answer(request)
        assert task.answered_at is not None
        return AnswerReceipt(task_id=task.id, accepted_at=task.answered_at)

    @answer_task.validator
    def _check_answer(self, request: AnswerTask) -> None:
        if self.state is not ConventionState.ACTIVE:
            raise ValueError(f"convention: {self.board.convention.id} is {self.state.value}")
        self.board.check_answer(request)

    @workflow.query
    def status(self) -> ConventionStatus:
        """Current stage, open tasks and milestones."""
        convention = self.board.convention
        return ConventionStatus(
            convention_id=convention.id,
            title=convention.title,
            kind=convention.kind.value,
            parent=convention.parent,
            state=self.state,
            current_stage=self.board.current_stage,
            stages=[spec.stage for spec in convention.stages],
            open_tasks=self.board.open_tasks(),
            milestones=list(self.board.milestones),
            reason=self.reason,
        )


async def _run_stage(board: TaskBoard, spec: StageSpec) -> None:
    match spec:
        case DraftingStage():
            await run_drafting(board, spec)
        case SignatureStage():
            await run_signature(board, spec)
        case MissionStage():
            await run_mission(board, spec)
        case DiagnosticStage():
            await run_diagnostic(board, spec)
        case FundingRequestStage():
            await run_funding_request(board, spec)
        case ImplementationStage():
            await run_implementation(board, spec)
