"""The HTML files of a report folder, rendered with Jinja2 from templates/ (package data): index.html (the report
value, then the browsing views), one page per non-empty confusion cell (cells/), one per class with mistakes
(classes/), and the stylesheet and script (assets/).

Autoescaping is on for every template, so ids, class names and run names from the user's files are text, never
markup; every attribute value is quoted in the templates. Links are relative and percent-encoded (`href`), so the
folder opens from file:// and can be copied anywhere.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from har_finetune.reporting.document import BulletList, Figure, Paragraph, Report, Table
from har_finetune.reporting.html.browse import Browse, Cell, Matrix
from har_finetune.reporting.html.bundle import write_file
from har_finetune.reporting.html.inline import inline
from har_finetune.reporting.html.suspects import Suspects

INDEX = "index.html"
ASSETS = ("report.css", "report.js")
# What we write into the report folder's sub-folders, and so may remove there when it is stale (never anything else:
# --out may name a folder that holds the user's own files).
OURS = {"cells": re.compile(r"^r\d+-t\d+-p\d+\.html$"), "classes": re.compile(r"^c\d+\.html$")}


def href(path: str) -> str:
    """A relative path as a URL: each part percent-encoded (spaces, `#`, `?`, non-ASCII), '/' kept."""
    return quote(path, safe="/")


def block_kind(block) -> str:
    kinds = {Paragraph: "paragraph", Table: "table", Figure: "figure", BulletList: "list"}
    return kinds[type(block)]


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("har_finetune.reporting.html", "templates"),
        autoescape=True,  # every template, whatever its name: user text is always escaped
        undefined=StrictUndefined,
    )
    env.filters["href"] = href
    env.globals.update(inline=inline, block_kind=block_kind)
    return env


def write_pages(
    out_dir: Path, report: Report, browse: Browse, suspects: Suspects, thumbs: dict[str, str]
) -> list[Path]:
    """Every HTML file and asset of the report folder; returns index.html first."""
    out_dir = Path(out_dir)
    env = environment()
    pages = {cell.page for m in browse.matrices for row in m.cells for cell in row if cell.count}
    remove_stale_pages(out_dir, pages | {errors.page for errors in browse.classes})
    written = [
        write_file(
            out_dir / INDEX,
            env.get_template("index.html.j2").render(
                root="",
                title=report.title,
                intro=report.intro,
                sections=report.sections,
                browse=browse,
                suspects=suspects,
                thumbs=thumbs,
            ),  # fmt: skip
        )
    ]
    cell_page = env.get_template("cell.html.j2")
    for matrix in browse.matrices:
        for t, row in enumerate(matrix.cells):
            for cell in (c for c in row if c.count):
                written.append(write_file(out_dir / cell.page, _cell(cell_page, matrix, t, cell, browse, thumbs)))
    class_page = env.get_template("class.html.j2")
    for errors in browse.classes:

        def wrong_count(image_id: str) -> str:
            scored = [g[image_id] for g in browse.guesses.values() if image_id in g]
            return f"{sum(not g.correct for g in scored)} of {len(scored)}"

        html = class_page.render(
            root="../", errors=errors, runs=browse.runs, guesses=browse.guesses, thumbs=thumbs, wrong_count=wrong_count
        )
        written.append(write_file(out_dir / errors.page, html))
    for name in ASSETS:
        text = resources.files("har_finetune.reporting.html").joinpath("assets", name).read_text(encoding="utf-8")
        written.append(write_file(out_dir / "assets" / name, text))
    return written


def _cell(template, matrix: Matrix, t: int, cell: Cell, browse: Browse, thumbs: dict[str, str]) -> str:
    share = f"{cell.count / matrix.row_total(t):.0%}"
    return template.render(
        root="../", cell=cell, anchor=matrix.anchor, share=share, guesses=browse.guesses[cell.run], thumbs=thumbs
    )


def remove_stale_pages(out_dir: Path, keep: set[str]) -> None:
    """Pages an earlier report wrote that this one does not rewrite (a cell that is now empty would keep its old
    page otherwise); `keep`: the pages about to be written, relative to `out_dir`."""
    for folder, pattern in OURS.items():
        if (out_dir / folder).is_dir():
            for path in (out_dir / folder).iterdir():
                if pattern.match(path.name) and f"{folder}/{path.name}" not in keep and path.is_file():
                    path.unlink()
