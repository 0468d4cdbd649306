"""The campaign's report: REPORT.md over every run found, its figures, annotated samples, and the task list.

    python -m har_finetune.campaign report outputs/har     # what the report job runs once every task has ended

Writes `<output_dir>/report/`: REPORT.md and figures (reporting.report.plot_and_report, the same as
plot_metrics.py), `SampleOutputs/<Model>/` from each model's run closest to its seed group's median test accuracy
(reporting.samples.visualize_run, as visualize_predictions.py), and a "Campaign" section at the end of REPORT.md
that lists every task: finished ones with their accuracy, failed ones with their error line.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from har_finetune.campaigns.plan import Plan, load_campaign
from har_finetune.campaigns.status import TaskState, campaign_states
from har_finetune.core.errors import UserError
from har_finetune.reporting.report import plot_and_report
from har_finetune.reporting.samples import visualize_run
from har_finetune.run_folder.files import is_run_folder, write_text
from har_finetune.run_folder.reader import RunFolderError, model_name

SAMPLES = "SampleOutputs"


def median_run(states: list[TaskState]) -> TaskState | None:
    """The finished run whose test accuracy is closest to the group's median (ties: the lowest task index, or seed)."""
    finished = [s for s in states if s.accuracy is not None]
    if not finished:
        return None
    middle = statistics.median(s.accuracy for s in finished)
    return min(finished, key=lambda s: (abs(s.accuracy - middle), s.task.index))


def write_samples(plan: Plan, states: list[TaskState]) -> list[str]:
    """Annotated samples per model; the REPORT.md lines that name them."""
    lines = []
    chosen = {m: median_run([s for s in states if s.task.model == m]) for m in plan.models}
    shown = {m: model_name(c.task.run_dir) for m, c in chosen.items() if c is not None}
    for model, choice in chosen.items():
        if choice is None:
            lines.append(f"- {model.name}: no finished run, no samples")
            continue
        folder = shown[model] if list(shown.values()).count(shown[model]) == 1 else model.name
        out = plan.report_dir / SAMPLES / folder
        try:
            visualize_run(choice.task.run_dir, out, title=f"{folder}: {choice.task.label}")
        except (UserError, OSError) as e:  # a moved dataset: the report stands without the pictures
            lines.append(f"- {model.name}: no samples ({' '.join(str(e).split())})")
            continue
        accuracies = [s.accuracy for s in states if s.task.model == model and s.accuracy is not None]
        lines.append(
            f"- [{SAMPLES}/{folder}/]({SAMPLES}/{folder}/): {choice.task.label}, test accuracy "
            f"{100 * choice.accuracy:.2f}% (closest to the median {100 * statistics.median(accuracies):.2f}% "
            f"of {len(accuracies)} finished seed{'s' if len(accuracies) != 1 else ''})"
        )
    return lines


def campaign_section(states: list[TaskState], sample_lines: list[str]) -> str:
    failed = [s for s in states if s.state == "failed"]
    other = [s for s in states if s.state not in ("finished", "failed")]
    lines = ["", "## Campaign", "", f"{len(states)} tasks: {sum(s.state == 'finished' for s in states)} finished, "
             f"{len(failed)} failed" + (f", {len(other)} without results" if other else "") + ".", ""]  # fmt: skip
    lines += ["| Task | State | Detail |", "|---|---|---|"]
    lines += [f"| {s.task.label} | {s.state} | {s.detail.replace('|', '/')} |" for s in states]
    if failed:
        lines += ["", "Failed tasks (not in the figures above):", ""]
        lines += [f"- {s.task.label}: {s.detail}" for s in failed]
    lines += ["", "Annotated test samples (green right, red wrong), one run per model:", "", *sample_lines, ""]
    return "\n".join(lines)


def write_report(output_dir: Path) -> int:
    """REPORT.md, figures and samples in `<output_dir>/report/`; 0 when REPORT.md was written."""
    plan, record = load_campaign(output_dir)
    states = campaign_states(plan, record)
    runs = [s.task.run_dir for s in states if is_run_folder(s.task.run_dir)]
    report = plan.report_dir / "REPORT.md"
    report.unlink(missing_ok=True)  # an earlier report must not pass for this one
    if runs:
        plot_and_report(runs, plan.report_dir)  # a run that failed halfway is plotted as far as it got
    try:
        sample_lines = write_samples(plan, states)
    except RunFolderError as e:
        sample_lines = [f"- no samples: {e}"]
    text = report.read_text() if report.is_file() else "# Campaign report\n\nNo task left a readable run folder.\n"
    write_text(report, text + campaign_section(states, sample_lines))
    print(f"wrote {report}")
    return 0
