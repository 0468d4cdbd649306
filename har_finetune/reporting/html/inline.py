"""The report's inline Markdown (document.py: `**bold**`, `*italic*`, `` `code` ``, `[text](relative link)`) as safe
HTML: every piece of text is escaped first, then only those four become tags. A link whose target names a scheme
(`javascript:`, `https:`) or starts with `/` is shown as text: the page links only inside its own folder."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

TOKEN = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*)\*|\[([^\]]+)\]\(([^)\s]+)\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def inline(text: str) -> Markup:
    """`text` (inline Markdown) as HTML, safe to insert into a page."""
    out, end = [], 0
    for match in TOKEN.finditer(text):
        out.append(escape(text[end : match.start()]))
        code, bold, italic, label, target = match.groups()
        if code is not None:
            out.append(Markup("<code>{}</code>").format(code))
        elif bold is not None:
            out.append(Markup("<strong>{}</strong>").format(inline(bold)))
        elif italic is not None:
            out.append(Markup("<em>{}</em>").format(inline(italic)))
        elif SCHEME.match(target) or target.startswith(("/", "\\")):
            out.append(escape(match.group(0)))
        else:
            out.append(Markup('<a href="{}">{}</a>').format(target, inline(label)))
        end = match.end()
    out.append(escape(text[end:]))
    return Markup("").join(out)
