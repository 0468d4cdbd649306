"""A report folder that stands alone: every figure the report shows from outside the folder (the runs' plots/) is
copied in, and the report value points at the copies, so REPORT.md and index.html keep working when the folder is
copied, mailed or served on its own, with the run folders and the dataset gone.

Copies go to `figures/<run>-<hash>/<file>`: `<run>` is the last two names of the run folder (`clip-seed-1`)
reduced to letters, digits, '.', '_' and '-', and the hash of its source folder keeps two runs named alike apart.
A user's folder name (spaces, non-ASCII, `..`) never becomes a path of its own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

from har_finetune.reporting.document import Figure, Report, Section
from har_finetune.run_folder.files import PLOTS

FIGURES = "figures"
SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")  # what a Markdown link and a URL take as is


def write_file(path: Path, data: str | bytes) -> Path:
    """A file of the report folder. Not fsynced, unlike the run folder's files: everything here is derived and
    rewritten by the next report, and 3,000 fsyncs (a HAR-sized report) cost ~10 s on a shared disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def safe_part(text: str, fallback: str = "x") -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return cleaned[:60] or fallback


def copy_target(source: Path) -> str:
    """Where a figure from outside the report folder is copied to, relative to it."""
    folder = source.parent
    named = folder.parent if folder.name == PLOTS else folder
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    run = safe_part(f"{named.parent.name}-{named.name}", "run")
    return f"{FIGURES}/{run}-{digest}/{safe_part(source.name, 'figure.png')}"


def self_contained(report: Report, out_dir: Path) -> Report:
    """`report` with each figure outside `out_dir` copied in; figures already inside are left where they are unless
    their path holds a character a Markdown link would trip on (a run folder `my run` under `--out .`)."""
    out_dir = Path(out_dir).resolve()
    copied: dict[str, str] = {}

    def inside(figure: Figure) -> Figure:
        source = (out_dir / figure.path).resolve()
        if source.is_relative_to(out_dir) and SAFE_PATH.fullmatch(source.relative_to(out_dir).as_posix()):
            return replace(figure, path=source.relative_to(out_dir).as_posix())
        if figure.path not in copied:
            target = copy_target(source)
            write_file(out_dir / target, source.read_bytes())
            copied[figure.path] = target
        return replace(figure, path=copied[figure.path])

    def section(s: Section) -> Section:
        blocks = tuple(inside(b) if isinstance(b, Figure) else b for b in s.blocks)
        return replace(s, blocks=blocks, subsections=tuple(map(section, s.subsections)))

    intro = tuple(inside(b) if isinstance(b, Figure) else b for b in report.intro)
    return replace(report, intro=intro, sections=tuple(map(section, report.sections)))
