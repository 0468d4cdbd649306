"""The campaign's report: REPORT.md over every run found, its figures, annotated samples, and the task list.

    python -m har_finetune.campaign report outputs/har     # what the report job runs once every task has ended

Writes `<output_dir>/report/`: REPORT.md and figures (the same report as plot_metrics.py: reporting/report.py),
`SampleOutputs/<Model>/` from each model's run closest to its seed group's median test accuracy
(reporting.samples.visualize_run, as visualize_predictions.py), and a "Campaign" section at the end of the report
that lists every task: finished ones with their accuracy, failed ones with their error line. Each run folder is read
once (one `RunRecord`, passed along) and REPORT.md is written once, from the whole report value.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from har_finetune.campaigns.plan import Plan, load_campaign
from har_finetune.campaigns.status import TaskState, campaign_states, task_count
from har_finetune.core.errors import USAGE_ERROR_EXIT_CODE, UserError
from har_finetune.reporting.document import BulletList, Item, Paragraph, Report, Section, Table
from har_finetune.reporting.report import compare_runs, plot_records, write_report_files
from har_finetune.reporting.samples import visualize_run
from har_finetune.run_folder.files import REPORT, is_run_folder
from har_finetune.run_folder.reader import RunFolderError, RunRecord

SAMPLES = "SampleOutputs"
NO_RUNS = Report("Campaign report", (Paragraph("No task left a readable run folder."),))


def median_run(states: list[TaskState]) -> TaskState | None:
    """The finished run whose test accuracy is closest to the group's median (ties: the lowest task index, or seed)."""
    finished = [s for s in states if s.accuracy is not None]
    if not finished:
        return None
    middle = statistics.median(s.accuracy for s in finished)
    return min(finished, key=lambda s: (abs(s.accuracy - middle), s.task.index))


def write_samples(plan: Plan, states: list[TaskState], records: dict[Path, RunRecord]) -> list[str]:
    """Annotated samples per model, from the records the report read (`records`: by resolved run folder); the
    report's lines that name them."""
    lines = []
    chosen = {m: median_run([s for s in states if s.task.model == m]) for m in plan.models}
    chosen_records = {m: records.get(c.task.run_dir.resolve()) for m, c in chosen.items() if c is not None}
    shown = {m: record.model_name for m, record in chosen_records.items() if record is not None}
    for model, choice in chosen.items():
        record = chosen_records.get(model)
        if choice is None or record is None:
            lines.append(f"{model.name}: no finished run, no samples")
            continue
        folder = shown[model] if list(shown.values()).count(shown[model]) == 1 else model.name
        try:
            visualize_run(record, plan.report_dir / SAMPLES / folder, title=f"{folder}: {choice.task.label}")
        except (UserError, OSError) as e:  # a moved dataset: the report stands without the pictures
            lines.append(f"{model.name}: no samples ({' '.join(str(e).split())})")
            continue
        accuracies = [s.accuracy for s in states if s.task.model == model and s.accuracy is not None]
        lines.append(
            f"[{SAMPLES}/{folder}/]({SAMPLES}/{folder}/): {choice.task.label}, test accuracy "
            f"{100 * choice.accuracy:.2f}% (closest to the median {100 * statistics.median(accuracies):.2f}% "
            f"of {len(accuracies)} finished seed{'s' if len(accuracies) != 1 else ''})"
        )
    return lines


def campaign_section(states: list[TaskState], sample_lines: list[str]) -> Section:
    """Every task with its state, the failed ones with their error line, and where the samples are."""
    failed = [s for s in states if s.state == "failed"]
    other = [s for s in states if s.state not in ("finished", "failed")]
    count = (
        f"{task_count(len(states))}: {sum(s.state == 'finished' for s in states)} finished, {len(failed)} failed"
        + (f", {len(other)} without results" if other else "")
        + "."
    )
    rows = tuple((s.task.label, s.state, s.detail.replace("|", "/")) for s in states)
    blocks = [Paragraph(count), Table(("Task", "State", "Detail"), rows)]
    if failed:
        blocks.append(Paragraph("Failed tasks (not in the figures above):"))
        blocks.append(BulletList(tuple(Item(f"{s.task.label}: {s.detail}") for s in failed)))
    blocks.append(Paragraph("Annotated test samples (green right, red wrong), one run per model:"))
    blocks.append(BulletList(tuple(map(Item, sample_lines))))
    return Section("campaign", "Campaign", tuple(blocks))


def write_report(output_dir: Path) -> int:
    """REPORT.md, figures and samples in `<output_dir>/report/`.

    Returns:
        0, or 2 when a file of a finished task's run folder could not be read (an `error:` line names it; the report
        is written all the same). Failed and unfinished tasks are shown as far as they got, and listed as such.
    """
    plan, record = load_campaign(output_dir)
    folders = [task.run_dir for task in plan.tasks() if is_run_folder(task.run_dir)]
    records = {folder.resolve(): RunRecord(folder) for folder in folders}  # each run read once, for all below
    states = campaign_states(plan, record, records)
    (plan.report_dir / REPORT).unlink(missing_ok=True)  # should this job die, no earlier report passes for this one
    runs = plot_records(list(records.values()))
    finished = {s.task.run_dir.resolve() for s in states if s.state == "finished"}
    failed = USAGE_ERROR_EXIT_CODE if any(r.errors and r.run_dir.resolve() in finished for r in runs) else 0
    readable = [r for r in runs if is_run_folder(r.run_dir)]
    report, compared = NO_RUNS, None
    if readable:
        try:
            report, compared = compare_runs(readable, plan.report_dir)  # a run that failed halfway: as far as it got
        except (RunFolderError, OSError) as e:
            print(f"error: no comparison: {e}", file=sys.stderr)
            report, failed = Report("Campaign report", (Paragraph(f"No comparison: {e}"),)), USAGE_ERROR_EXIT_CODE
    sample_lines = write_samples(plan, states, {r.run_dir.resolve(): r.record for r in readable})
    write_report_files(report.with_sections(campaign_section(states, sample_lines)), plan.report_dir, compared)
    return failed
