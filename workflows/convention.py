"""ConventionWorkflow: carries one convention through the stages its file declares."""

from __future__ import annotations

from temporalio import workflow

from workflows.diagnostic import run_diagnostic
from workflows.drafting import run_drafting
from workflows.funding_request import run_funding_request
from workflows.implementation import run_implementation
from workflows.mission import run_mission
from workflows.progress import PROGRESS_AFTER_LEDGER_PATCH, Progress
from workflows.signature import run_signature
from workflows.task_board import (
    ContinueAsNewRequested,
    ConventionEnded,
    StageFailed,
    TaskBoard,
    terminated_by_officer,
)
from workflows.task_rules import refused
from workflows.visibility import upsert_progress

with workflow.unsafe.imports_passed_through():
    from schemas import contract
    from schemas.contract import workflow_id_for
    from schemas.convention import (
        Convention,
        DiagnosticStage,
        DraftingStage,
        FundingRequestStage,
        ImplementationStage,
        MissionStage,
        SignatureStage,
        StageSpec,
    )
    from schemas.errors import RefusalCode
    from schemas.milestones import MilestoneKind
    from schemas.officer_actions import (
        ChangeOfficer,
        ConventionLink,
        LinkKind,
        OfficerAction,
        OfficerReceipt,
        PostponeDeadline,
        ReassignTask,
        TerminateConvention,
    )
    from schemas.reasons import ReasonCode, ReasonFacts
    from schemas.status import (
        ConventionInput,
        ConventionOutcome,
        ConventionState,
        ConventionStatus,
        TaskLookup,
    )
    from schemas.tasks import AnswerReceipt, AnswerTask, TaskKind

__all__ = ["ConventionWorkflow", "workflow_id_for"]

STAGE_ANNOUNCEMENT_PATCH = "announce-stage-to-parties"
"""Partners are told when a stage begins; conventions started before still replay without it
(their histories are kept in tests/histories/before-announce-stage-to-parties/)."""


@workflow.defn(name=contract.WORKFLOW_TYPE)
class ConventionWorkflow:
    # Its update, query and signal names are its methods' names, as schemas/contract.py
    # spells them (tests/test_contract.py holds the two together).
    """Stage after stage, tasks owed by parties, answers and officers' actions as updates."""

    @workflow.init
    def __init__(self, request: ConventionInput) -> None:
        convention = request.convention
        if request.officer is not None:  # changed in an earlier run: the current one
            convention = convention.model_copy(update={"officer": request.officer})
        self.board = TaskBoard(
            convention, state=request.resume, history_limit=request.history_limit
        )
        self.state = ConventionState.ACTIVE
        self.reason: str | None = None
        self.reason_facts: ReasonFacts | None = None
        """Why it ended, as facts (in a run that writes them: typed-reasons)."""
        self.progress: Progress | None = None
        """Shows stage and state after the ledger; None in runs recorded before it did."""

    @workflow.run
    async def run(self, request: ConventionInput) -> ConventionOutcome:
        """Walk the declared stages in order, taking the declared path when a stage fails."""
        convention, board = request.convention, self.board
        board.patches.start()
        board.start_ledger()
        if board.uses_ledger and board.patches.on(PROGRESS_AFTER_LEDGER_PATCH):
            self.progress = Progress(board.ledger)
            self.progress.start()
        if request.resume is None:
            details: dict[str, object] = {
                "kind": convention.kind.value,
                "parent": convention.parent,
                "origin": convention.origin,
            }
            # Who pressed Start acts; the file's officer is the responsible one. A run started
            # without it (before it was recorded) records what it always did.
            if request.started_by is not None:
                details["started_by"] = request.started_by
                details["responsible_officer"] = convention.officer.name
            if board.writes_facts():
                details["title"] = convention.title
                if convention.titles:
                    details["titles"] = {
                        str(lang): title for lang, title in convention.titles.items()
                    }
            await board.record(
                MilestoneKind.CONVENTION_STARTED,
                f"Convention started: {convention.title}",
                party=convention.office.id,
                actor=request.started_by or convention.officer.name,
                details=details,
            )
            if convention.parent:
                await self._link_to_parent(convention)
        index = request.resume.stage_index if request.resume else 0
        resumed = request.resume is not None
        try:
            while index < len(convention.stages):
                spec = convention.stages[index]
                self._stop_if_terminated()
                board.enter_stage(spec, resumed=resumed)
                if self.progress is None:
                    upsert_progress(spec.stage, ConventionState.ACTIVE)
                if not resumed:
                    workflow.logger.info(
                        "stage entered", extra={"convention_id": convention.id, "stage": spec.stage}
                    )
                    await board.record(MilestoneKind.STAGE_ENTERED, f"Stage {spec.stage} entered")
                self._show_progress(spec.stage)
                if not resumed and board.patches.on(STAGE_ANNOUNCEMENT_PATCH):
                    await board.announce_stage()
                resumed = False
                try:
                    await _run_stage(board, spec)
                except StageFailed as failure:
                    index = await self._path_after_failure(convention, spec, failure)
                    continue
                await board.record(MilestoneKind.STAGE_COMPLETED, f"Stage {spec.stage} completed")
                index += 1
            self._stop_if_terminated()
        except ContinueAsNewRequested:
            await self._continue_as_new(request, index)
        except ConventionEnded as ended:
            await self._end(ended)
        else:
            self.state = ConventionState.COMPLETED
            board.leave_stages()
            await board.record(MilestoneKind.CONVENTION_COMPLETED, "Every stage completed")
        if self.progress is None:
            upsert_progress(board.current_stage, self.state)
        self._show_progress(board.current_stage)
        await board.deliveries_settled()
        await board.quiesce()
        if self.progress is not None:
            await self.progress.settled()
        return ConventionOutcome(
            convention_id=convention.id,
            state=self.state,
            reason=self.reason,
            reason_facts=self.reason_facts,
            milestone_count=board.milestone_count,
        )

    def _show_progress(self, stage: str | None) -> None:
        if self.progress is not None:
            self.progress.show(stage, self.state, after_seq=self.board.next_seq - 1)

    # --- partners' answers ------------------------------------------------------------

    @workflow.update
    async def answer_task(self, request: AnswerTask) -> AnswerReceipt:
        """A party answers one of its tasks; the stage waiting on it carries on."""
        task = self.board.accept_answer(request)
        if task.kind is TaskKind.RESOLVE_ESCALATION:
            await self.board.record_unawaited_answer(task)
        assert task.answered_at is not None
        return AnswerReceipt(task_id=task.id, accepted_at=task.answered_at)

    @answer_task.validator
    def _check_answer(self, request: AnswerTask) -> None:
        self._check_active()
        self.board.check_answer(request)

    # --- officers' actions ------------------------------------------------------------

    @workflow.update
    async def postpone_deadline(self, request: PostponeDeadline) -> OfficerReceipt:
        """Move an open task's due date later."""
        task = await self.board.postpone(request)
        return OfficerReceipt(
            action=OfficerAction.POSTPONE, task_id=task.id, applied_at=workflow.now()
        )

    @postpone_deadline.validator
    def _check_postponement(self, request: PostponeDeadline) -> None:
        self._check_active()
        self.board.check_postponement(request)

    @workflow.update
    async def reassign_task(self, request: ReassignTask) -> OfficerReceipt:
        """Give an open task to another contact of the same party."""
        task = await self.board.reassign(request)
        return OfficerReceipt(
            action=OfficerAction.REASSIGN, task_id=task.id, applied_at=workflow.now()
        )

    @reassign_task.validator
    def _check_reassignment(self, request: ReassignTask) -> None:
        self._check_active()
        self.board.check_reassignment(request)

    @workflow.update
    def terminate(self, request: TerminateConvention) -> OfficerReceipt:
        """End the convention at whatever stage it is, for the stated reason."""
        self.board.terminate(request)
        return OfficerReceipt(action=OfficerAction.TERMINATE, applied_at=workflow.now())

    @terminate.validator
    def _check_termination(self, request: TerminateConvention) -> None:
        self._check_active()
        if self.board.termination is not None:
            raise refused(
                RefusalCode.TERMINATION_REQUESTED,
                "convention",
                f"termination already requested ({self.board.termination.reason})",
                reason=self.board.termination.reason,
            )

    @workflow.update
    async def change_officer(self, request: ChangeOfficer) -> OfficerReceipt:
        """Make another person the responsible officer (escalations go to them from now on)."""
        await self.board.change_officer(request)
        return OfficerReceipt(action=OfficerAction.CHANGE_OFFICER, applied_at=workflow.now())

    @change_officer.validator
    def _check_officer_change(self, request: ChangeOfficer) -> None:
        self._check_active()
        self.board.check_officer_change(request)

    # --- links between conventions ----------------------------------------------------

    @workflow.signal
    async def link_child(self, link: ConventionLink) -> None:
        """A specific convention derived from this framework convention has started."""
        if self.board.links_to(link.convention_id):
            return
        self.board.add_link(link)
        await self.board.record(
            MilestoneKind.CHILD_LINKED,
            f"Specific convention {link.convention_id} derives from this one: {link.title}",
            party=self.board.convention.office.id,
            details=link.model_dump(mode="json"),
        )

    @workflow.query
    def status(self) -> ConventionStatus:
        """Current stage, open tasks, milestones, links and running indicators."""
        board = self.board
        convention = board.convention
        return ConventionStatus(
            convention_id=convention.id,
            title=convention.title,
            kind=convention.kind,
            parent=convention.parent,
            state=self.state,
            current_stage=board.current_stage,
            stages=[spec.stage for spec in convention.stages],
            open_tasks=board.open_tasks(),
            milestones=list(board.milestones),
            milestone_count=board.milestone_count,
            reason=self.reason,
            reason_facts=self.reason_facts,
            origin=convention.origin,
            links=list(board.links),
            indicators=(
                dict(board.implementation_progress.actuals) if board.implementation_progress else {}
            ),
            runs=board.runs,
            officer=convention.officer,
        )

    @workflow.query
    def task(self, task_id: str) -> TaskLookup:
        """One task, open or closed (answered by whom, cancelled why), or what it waits for:
        the narrow question `act` asks instead of the whole status."""
        return self.board.lookup(task_id).model_copy(update={"convention_state": self.state})

    # --- mechanics --------------------------------------------------------------------

    def _check_active(self) -> None:
        if self.state is not ConventionState.ACTIVE:
            raise refused(
                RefusalCode(f"convention_{self.state.value}"),
                "convention",
                f"{self.board.convention.id} is {self.state.value}",
                convention=self.board.convention.id,
            )

    def _stop_if_terminated(self) -> None:
        if self.board.termination is not None:
            termination = self.board.termination
            raise ConventionEnded(
                termination.reason, terminated_by_officer(termination), terminated=True
            )

    async def _path_after_failure(
        self, convention: Convention, spec: StageSpec, failure: StageFailed
    ) -> int:
        """The index of the stage to run next, or ConventionEnded when there is none."""
        await self.board.record(
            MilestoneKind.STAGE_FAILED,
            f"Stage {spec.stage} failed: {failure.reason}",
            details={"reason": failure.reason, "on_failure": spec.on_failure}
            | self.board.reason_details(failure.facts),
        )
        if spec.on_failure == "end":
            raise ConventionEnded(failure.reason, failure.facts)
        names: list[str] = [stage.stage for stage in convention.stages]
        target = convention.stages[names.index(spec.on_failure)]
        runs = self.board.stage_attempts.get(target.stage, 0)
        if runs >= target.max_attempts:
            raise ConventionEnded(
                f"{failure.reason} (stage {target.stage} already ran {runs} times, "
                f"the most its max_attempts allows)",
                ReasonFacts.of(
                    ReasonCode.ATTEMPTS_EXHAUSTED, failure.facts, stage=target.stage, runs=runs
                ),
            )
        return names.index(target.stage)

    async def _end(self, ended: ConventionEnded) -> None:
        board = self.board
        self.reason = ended.reason
        if board.writes_reasons():
            self.reason_facts = ended.facts
        if ended.terminated:
            self.state = ConventionState.TERMINATED
            assert board.termination is not None
            await board.cancel_all_open(f"convention terminated: {ended.reason}", ended.facts)
            await board.record(
                MilestoneKind.CONVENTION_TERMINATED,
                f"Convention terminated by the officer: {ended.reason}",
                party=board.convention.office.id,
                actor=board.termination.officer or board.convention.officer.name,
                details={"reason": ended.reason},
            )
        else:
            self.state = ConventionState.FAILED
            ending = ReasonFacts.of(ReasonCode.CONVENTION_ENDED, ended.facts)
            await board.cancel_all_open(f"convention ended: {ended.reason}", ending)
            await board.record(
                MilestoneKind.CONVENTION_FAILED,
                f"Convention ended: {ended.reason}",
                # Since typed-reasons: why, as facts (before, the summary alone said it).
                details={"reason": ended.reason, **board.reason_details(ended.facts)}
                if board.writes_reasons()
                else None,
            )

    async def _link_to_parent(self, convention: Convention) -> None:
        """Tell the framework convention about this specific one, so both show the link."""
        assert convention.parent is not None
        parent = workflow.get_external_workflow_handle(workflow_id_for(convention.parent))
        link = ConventionLink(
            convention_id=convention.id, title=convention.title, kind=LinkKind.SPECIFIC
        )
        try:
            await parent.signal(ConventionWorkflow.link_child, link)
            linked, summary = True, f"Linked to framework convention {convention.parent}"
        except Exception as error:  # the parent may be closed, or never ran on this cluster
            linked = False
            summary = (
                f"Framework convention {convention.parent} is not running here; "
                f"the link is kept on this side only ({error})"
            )
        await self.board.record(
            MilestoneKind.PARENT_LINKED,
            summary,
            party=convention.office.id,
            details={"parent": convention.parent, "linked": linked},
        )

    async def _continue_as_new(self, request: ConventionInput, stage_index: int) -> None:
        board = self.board
        await board.record(
            MilestoneKind.HISTORY_CONTINUED,
            f"History continued in run {board.runs + 1} "
            f"after {workflow.info().get_current_history_length()} events",
            details={"run": board.runs + 1},
        )
        await board.deliveries_settled()
        await board.quiesce()
        workflow.continue_as_new(
            ConventionInput(
                convention=request.convention,
                resume=board.carried(stage_index),
                history_limit=request.history_limit,
                officer=(
                    board.convention.officer
                    if board.convention.officer != request.convention.officer
                    else None
                ),
            )
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
