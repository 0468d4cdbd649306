"""Class names in any script on the figures: fall back to an installed font that has the glyphs.

matplotlib's default font (DejaVu Sans) has no CJK glyphs, so Chinese or Japanese class names would show as empty
boxes. `covering(texts)` adds, for the figures built inside it, the first installed font that has every missing
glyph as a fallback after the default (matplotlib >= 3.6 falls back glyph by glyph); with none installed it warns
once (naming a font package to install) and the figure is drawn anyway.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Iterable

import matplotlib
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

_warned: set[str] = set()


@functools.cache
def _charmap(path: str) -> frozenset[int]:
    try:
        return frozenset(FT2Font(path).get_charmap())
    except (OSError, RuntimeError):  # a font file matplotlib listed but cannot read
        return frozenset()


def _default_font() -> str:
    return font_manager.findfont(font_manager.FontProperties())


def fallback_font(characters: set[str]) -> str | None:
    """The name of an installed font holding every character, or None. Placeholder fonts do not count.

    Fonts installed after matplotlib built its font cache are found too (a system scan, only when needed)."""
    needed = {ord(c) for c in characters}
    known = sorted(font_manager.fontManager.ttflist, key=lambda f: (f.name, f.fname))
    for font in known:
        if not font.name.startswith("Last Resort") and needed <= _charmap(font.fname):  # Last Resort: boxes
            return font.name
    listed = {font.fname for font in known}
    for path in sorted(set(font_manager.findSystemFonts()) - listed):
        if needed <= _charmap(path):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def missing_characters(texts: Iterable[str]) -> set[str]:
    """Characters of `texts` that the default font cannot draw."""
    have = _charmap(_default_font())
    return {c for text in texts for c in str(text) if not c.isspace() and ord(c) not in have}


@contextlib.contextmanager
def covering(texts: Iterable[str]):
    """Build and save figures inside this block so that every character of `texts` is drawn with a real glyph."""
    missing = missing_characters(texts)
    if not missing:
        yield
        return
    font = fallback_font(missing)
    if font is None:
        sample = "".join(sorted(missing))[:10]
        if sample not in _warned:
            _warned.add(sample)
            print(
                f"warning: no installed font has the glyphs of {sample!r} in the class names: they show as boxes; "
                "install one (e.g. apt-get install fonts-noto-cjk) for readable figures",
                file=sys.stderr,
            )
        with warnings.catch_warnings():  # matplotlib would warn once per glyph and figure
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            yield
        return
    default = font_manager.FontProperties(fname=_default_font()).get_name()
    with matplotlib.rc_context({"font.family": [default, font]}):
        yield
