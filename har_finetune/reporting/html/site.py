"""`write_html_report`: the HTML side of a report folder, from the report value REPORT.md is rendered from and the
comparison it was computed from (so the page and REPORT.md show the same numbers and words, computed once)."""

from __future__ import annotations

from pathlib import Path

from har_finetune.reporting.document import Report
from har_finetune.reporting.groups import Comparison
from har_finetune.reporting.html.browse import browse, ordered_runs
from har_finetune.reporting.html.pages import write_pages
from har_finetune.reporting.html.suspects import Suspects, find_suspects
from har_finetune.reporting.html.thumbnails import write_thumbnails
from har_finetune.run_folder.files import PROBABILITIES
from har_finetune.run_folder.reader import RunFolderError, RunRecord


def write_html_report(out_dir: Path, report: Report, comparison: Comparison) -> list[Path]:
    """index.html and its pages, thumbnails and assets in `out_dir`; returns the files written, index.html first."""
    runs = ordered_runs(comparison.units)
    records = {run.name: run.record or RunRecord(run.run_dir) for run in runs}  # the report's reads, reused
    view = browse(runs, {name: _class_names(record) for name, record in records.items()})
    suspects = _suspects(runs, records)
    wanted: dict[str, tuple[dict, set[str]]] = {}
    for run in runs:
        dataset = records[run.name].dataset
        wanted.setdefault(str(dataset.get("root")), (dataset, set()))[1].update(run.ids)
    made = write_thumbnails(Path(out_dir), wanted)
    view.notes += made.notes
    thumbs: dict[str, str] = {}
    for run in runs:
        root = str(records[run.name].dataset.get("root"))
        for image_id in run.ids:
            if image_id not in thumbs and (root, image_id) in made.paths:
                thumbs[image_id] = made.paths[(root, image_id)]
    return write_pages(Path(out_dir), report, view, suspects, thumbs)


def _class_names(record: RunRecord) -> list[str]:
    try:
        return record.class_names()
    except RunFolderError:  # the browse views fall back to the labels and predictions seen
        return []


def _suspects(runs, records: dict[str, RunRecord]) -> Suspects:
    try:
        probabilities = {name: record.probabilities for name, record in records.items()}
    except RunFolderError as e:
        return Suspects(missing=f"A {PROBABILITIES} could not be read: {e}")
    return find_suspects(runs, probabilities)
