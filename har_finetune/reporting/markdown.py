"""REPORT.md from the report value (document.py): GitHub-flavoured Markdown, rendered once per report.

Layout: the title as `# title`, then every block and heading separated by one blank line, sections as `##`,
their subsections as `###`; the file ends with one newline. Table cells escape '|'; nothing else is escaped,
since text fields are inline Markdown already.
"""

from __future__ import annotations

from har_finetune.reporting.document import Block, BulletList, Figure, Item, Paragraph, Report, Section, Table


def render(report: Report) -> str:
    """The Markdown text of `report`."""
    chunks = [f"# {report.title}", *map(block, report.intro)]
    for section in report.sections:
        chunks += section_chunks(section, level=2)
    return "\n\n".join(chunks) + "\n"


def section_chunks(section: Section, level: int) -> list[str]:
    chunks = [f"{'#' * level} {section.title}", *map(block, section.blocks)]
    for subsection in section.subsections:
        chunks += section_chunks(subsection, level + 1)
    return chunks


def block(value: Block) -> str:
    if isinstance(value, Paragraph):
        return value.text
    if isinstance(value, Table):
        return table(value)
    if isinstance(value, Figure):
        return f"![{value.caption}]({value.path})"
    if isinstance(value, BulletList):
        return "\n".join(line for item in value.items for line in item_lines(item, 0))
    raise TypeError(f"no Markdown for {type(value).__name__}")


def table(value: Table) -> str:
    """A GitHub-flavoured Markdown table; '|' inside cells is escaped."""
    lines = ["| " + " | ".join(value.header) + " |", "|" + "---|" * len(value.header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in value.rows]
    return "\n".join(lines)


def item_lines(item: Item, depth: int) -> list[str]:
    return [f"{'  ' * depth}- {item.text}"] + [line for child in item.children for line in item_lines(child, depth + 1)]
