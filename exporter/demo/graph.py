"""PlanExe's task classes and ``requires()`` edges, rebuilt as Luigi tasks that only simulate their work.

Source: neoneye/PlanExe commit b56f6bbf0be6a5349d0cbc30b0ec411c672ceae2 (2025-08-21),
``planexe/plan/run_plan_pipeline.py``, the last version with exactly 61 task classes (the ``PlanTask`` base aside),
all of which ``FullPlanPipeline`` schedules. Only the class names and dependency edges (in ``requires()`` order, which
decides Luigi's scheduling order) are taken; no PlanExe code is copied. The classes must exist at module level under
their real names because Luigi uses the class name as the task family and looks classes up in its registry.
"""

import os
import re

import luigi

from exporter.demo import work

ROOT = "FullPlanPipeline"
DEFAULT_SPEEDVSDETAIL = "ALL_DETAILS_BUT_SLOW"
DEFAULT_LLM_MODELS = ("gemini-2.0-flash", "gpt-4.1-nano-2025-04-14")

# "ClassName: dependency ..." per task, in PlanExe's class order; indented lines continue the previous entry.
_GRAPH = """
StartTimeTask:
SetupTask:
RedlineGateTask: SetupTask
IdentifyPurposeTask: SetupTask
PlanTypeTask: SetupTask IdentifyPurposeTask
PotentialLeversTask: SetupTask IdentifyPurposeTask PlanTypeTask
DeduplicateLeversTask: SetupTask IdentifyPurposeTask PlanTypeTask PotentialLeversTask
EnrichLeversTask: SetupTask IdentifyPurposeTask PlanTypeTask DeduplicateLeversTask
FocusOnVitalFewLeversTask: SetupTask IdentifyPurposeTask PlanTypeTask EnrichLeversTask
StrategicDecisionsMarkdownTask: EnrichLeversTask FocusOnVitalFewLeversTask
CandidateScenariosTask: SetupTask IdentifyPurposeTask PlanTypeTask FocusOnVitalFewLeversTask
SelectScenarioTask: SetupTask IdentifyPurposeTask PlanTypeTask FocusOnVitalFewLeversTask CandidateScenariosTask
ScenariosMarkdownTask: CandidateScenariosTask SelectScenarioTask
PhysicalLocationsTask: SetupTask IdentifyPurposeTask PlanTypeTask StrategicDecisionsMarkdownTask
    ScenariosMarkdownTask
CurrencyStrategyTask: SetupTask IdentifyPurposeTask PlanTypeTask PhysicalLocationsTask
    StrategicDecisionsMarkdownTask ScenariosMarkdownTask
IdentifyRisksTask: SetupTask IdentifyPurposeTask PlanTypeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    PhysicalLocationsTask CurrencyStrategyTask
MakeAssumptionsTask: SetupTask IdentifyPurposeTask PlanTypeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    PhysicalLocationsTask CurrencyStrategyTask IdentifyRisksTask
DistillAssumptionsTask: SetupTask IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    MakeAssumptionsTask
ReviewAssumptionsTask: IdentifyPurposeTask PlanTypeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    PhysicalLocationsTask CurrencyStrategyTask IdentifyRisksTask MakeAssumptionsTask DistillAssumptionsTask
ConsolidateAssumptionsMarkdownTask: IdentifyPurposeTask PlanTypeTask PhysicalLocationsTask CurrencyStrategyTask
    IdentifyRisksTask MakeAssumptionsTask DistillAssumptionsTask ReviewAssumptionsTask
PreProjectAssessmentTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask
ProjectPlanTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    PreProjectAssessmentTask
GovernancePhase1AuditTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask
GovernancePhase2BodiesTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask GovernancePhase1AuditTask
GovernancePhase3ImplPlanTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask GovernancePhase2BodiesTask
GovernancePhase4DecisionEscalationMatrixTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask GovernancePhase2BodiesTask GovernancePhase3ImplPlanTask
GovernancePhase5MonitoringProgressTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask GovernancePhase2BodiesTask GovernancePhase3ImplPlanTask
    GovernancePhase4DecisionEscalationMatrixTask
GovernancePhase6ExtraTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask GovernancePhase1AuditTask GovernancePhase2BodiesTask
    GovernancePhase3ImplPlanTask GovernancePhase4DecisionEscalationMatrixTask GovernancePhase5MonitoringProgressTask
ConsolidateGovernanceTask: GovernancePhase1AuditTask GovernancePhase2BodiesTask GovernancePhase3ImplPlanTask
    GovernancePhase4DecisionEscalationMatrixTask GovernancePhase5MonitoringProgressTask GovernancePhase6ExtraTask
RelatedResourcesTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask
FindTeamMembersTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask RelatedResourcesTask
EnrichTeamMembersWithContractTypeTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask FindTeamMembersTask
    RelatedResourcesTask
EnrichTeamMembersWithBackgroundStoryTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask
    EnrichTeamMembersWithContractTypeTask RelatedResourcesTask
EnrichTeamMembersWithEnvironmentInfoTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask
    EnrichTeamMembersWithBackgroundStoryTask RelatedResourcesTask
ReviewTeamTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    PreProjectAssessmentTask ProjectPlanTask EnrichTeamMembersWithEnvironmentInfoTask RelatedResourcesTask
TeamMarkdownTask: EnrichTeamMembersWithEnvironmentInfoTask ReviewTeamTask
SWOTAnalysisTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask IdentifyPurposeTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask RelatedResourcesTask
ExpertReviewTask: SetupTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask PreProjectAssessmentTask
    ProjectPlanTask SWOTAnalysisTask
DataCollectionTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    ProjectPlanTask RelatedResourcesTask SWOTAnalysisTask TeamMarkdownTask ExpertReviewTask
IdentifyDocumentsTask: IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask RelatedResourcesTask SWOTAnalysisTask TeamMarkdownTask
    ExpertReviewTask
FilterDocumentsToFindTask: IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask IdentifyDocumentsTask
FilterDocumentsToCreateTask: IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask IdentifyDocumentsTask
DraftDocumentsToFindTask: IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask FilterDocumentsToFindTask
DraftDocumentsToCreateTask: IdentifyPurposeTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask ProjectPlanTask FilterDocumentsToCreateTask
MarkdownWithDocumentsToCreateAndFindTask: DraftDocumentsToCreateTask DraftDocumentsToFindTask
CreateWBSLevel1Task: ProjectPlanTask
CreateWBSLevel2Task: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ProjectPlanTask CreateWBSLevel1Task
    DataCollectionTask
WBSProjectLevel1AndLevel2Task: CreateWBSLevel1Task CreateWBSLevel2Task
CreatePitchTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ProjectPlanTask WBSProjectLevel1AndLevel2Task
    RelatedResourcesTask
ConvertPitchToMarkdownTask: CreatePitchTask
IdentifyTaskDependenciesTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ProjectPlanTask
    CreateWBSLevel2Task DataCollectionTask
EstimateTaskDurationsTask: ProjectPlanTask WBSProjectLevel1AndLevel2Task
CreateWBSLevel3Task: ProjectPlanTask WBSProjectLevel1AndLevel2Task EstimateTaskDurationsTask DataCollectionTask
WBSProjectLevel1AndLevel2AndLevel3Task: WBSProjectLevel1AndLevel2Task CreateWBSLevel3Task
CreateScheduleTask: StartTimeTask CreateWBSLevel1Task IdentifyTaskDependenciesTask EstimateTaskDurationsTask
    WBSProjectLevel1AndLevel2AndLevel3Task
ReviewPlanTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    ProjectPlanTask DataCollectionTask RelatedResourcesTask SWOTAnalysisTask TeamMarkdownTask
    ConvertPitchToMarkdownTask ExpertReviewTask WBSProjectLevel1AndLevel2AndLevel3Task
ExecutiveSummaryTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    ProjectPlanTask DataCollectionTask RelatedResourcesTask SWOTAnalysisTask TeamMarkdownTask
    ConvertPitchToMarkdownTask ExpertReviewTask WBSProjectLevel1AndLevel2AndLevel3Task ReviewPlanTask
QuestionsAndAnswersTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    TeamMarkdownTask RelatedResourcesTask ConsolidateGovernanceTask SWOTAnalysisTask ConvertPitchToMarkdownTask
    DataCollectionTask MarkdownWithDocumentsToCreateAndFindTask WBSProjectLevel1AndLevel2AndLevel3Task
    ExpertReviewTask ProjectPlanTask ReviewPlanTask
PremortemTask: StrategicDecisionsMarkdownTask ScenariosMarkdownTask ConsolidateAssumptionsMarkdownTask
    TeamMarkdownTask RelatedResourcesTask ConsolidateGovernanceTask SWOTAnalysisTask ConvertPitchToMarkdownTask
    DataCollectionTask MarkdownWithDocumentsToCreateAndFindTask WBSProjectLevel1AndLevel2AndLevel3Task
    ExpertReviewTask ProjectPlanTask ReviewPlanTask QuestionsAndAnswersTask
ReportTask: SetupTask RedlineGateTask StrategicDecisionsMarkdownTask ScenariosMarkdownTask
    ConsolidateAssumptionsMarkdownTask TeamMarkdownTask RelatedResourcesTask ConsolidateGovernanceTask
    SWOTAnalysisTask ConvertPitchToMarkdownTask DataCollectionTask MarkdownWithDocumentsToCreateAndFindTask
    CreateWBSLevel1Task WBSProjectLevel1AndLevel2AndLevel3Task ExpertReviewTask ProjectPlanTask ReviewPlanTask
    ExecutiveSummaryTask CreateScheduleTask QuestionsAndAnswersTask PremortemTask
FullPlanPipeline: StartTimeTask SetupTask RedlineGateTask IdentifyPurposeTask PlanTypeTask PotentialLeversTask
    DeduplicateLeversTask EnrichLeversTask FocusOnVitalFewLeversTask StrategicDecisionsMarkdownTask
    CandidateScenariosTask SelectScenarioTask ScenariosMarkdownTask PhysicalLocationsTask CurrencyStrategyTask
    IdentifyRisksTask MakeAssumptionsTask DistillAssumptionsTask ReviewAssumptionsTask
    ConsolidateAssumptionsMarkdownTask PreProjectAssessmentTask ProjectPlanTask GovernancePhase1AuditTask
    GovernancePhase2BodiesTask GovernancePhase3ImplPlanTask GovernancePhase4DecisionEscalationMatrixTask
    GovernancePhase5MonitoringProgressTask GovernancePhase6ExtraTask ConsolidateGovernanceTask RelatedResourcesTask
    FindTeamMembersTask EnrichTeamMembersWithContractTypeTask EnrichTeamMembersWithBackgroundStoryTask
    EnrichTeamMembersWithEnvironmentInfoTask ReviewTeamTask TeamMarkdownTask SWOTAnalysisTask ExpertReviewTask
    DataCollectionTask IdentifyDocumentsTask FilterDocumentsToFindTask FilterDocumentsToCreateTask
    DraftDocumentsToFindTask DraftDocumentsToCreateTask MarkdownWithDocumentsToCreateAndFindTask CreateWBSLevel1Task
    CreateWBSLevel2Task WBSProjectLevel1AndLevel2Task CreatePitchTask ConvertPitchToMarkdownTask
    IdentifyTaskDependenciesTask EstimateTaskDurationsTask CreateWBSLevel3Task
    WBSProjectLevel1AndLevel2AndLevel3Task ReviewPlanTask ExecutiveSummaryTask CreateScheduleTask
    QuestionsAndAnswersTask PremortemTask ReportTask
"""


def _parse(text: str) -> dict[str, tuple[str, ...]]:
    entries = re.sub(r"\n\s+", " ", text.strip()).splitlines()
    return {name: tuple(deps.split()) for name, deps in (entry.split(":") for entry in entries)}


DEPENDENCIES: dict[str, tuple[str, ...]] = _parse(_GRAPH)


class PlanTask(luigi.Task):
    """PlanExe's common parameters, so task ids and reprs look like PlanExe's; complete once the output exists."""

    run_id_dir = luigi.Parameter()
    speedvsdetail = luigi.Parameter(default=DEFAULT_SPEEDVSDETAIL)
    llm_models = luigi.ListParameter(default=DEFAULT_LLM_MODELS)

    dependency_names: tuple[str, ...] = ()
    output_name = ""

    def requires(self) -> list["PlanTask"]:
        return [self.clone(TASKS[name]) for name in self.dependency_names]

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(os.path.join(self.run_id_dir, self.output_name))

    def run(self) -> None:
        work.simulate(self)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.removesuffix("Task")).lower()


def _make_task(index: int, name: str, dependency_names: tuple[str, ...]) -> type[PlanTask]:
    attrs = {
        "__module__": __name__,
        "dependency_names": dependency_names,
        "output_name": f"{index:03d}-{_snake(name)}.json",
    }
    return type(name, (PlanTask,), attrs)


TASKS: dict[str, type[PlanTask]] = {
    name: _make_task(index, name, deps) for index, (name, deps) in enumerate(DEPENDENCIES.items(), start=1)
}
globals().update(TASKS)
