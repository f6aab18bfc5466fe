"""Text that fits its box on a PDF page: wrapping measured with the font's own metrics, and
listings shortened by whole items (with a count of what is left out), never cut mid-word.

Widths come from matplotlib's TextToPath, the metrics the PDF backend embeds (DejaVu Sans,
TrueType), in points. A block is drawn one Text per line at a fixed line pitch, so its
height is known before it is drawn: lines x size x LINE_PITCH points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

FAMILY = "DejaVu Sans"
LINE_PITCH = 1.3  # line advance / font size; DejaVu Sans ascent + descent is 1.164
CONTINUATION = "  "  # extra indent of a wrapped line's continuation
MORE = "and {n} more in the JSON, CSV and Excel exports"
_MEASURE = TextToPath()


@lru_cache(maxsize=65536)
def text_width(text: str, size: float, weight: str = "normal") -> float:
    """Width of one line of ``text`` in points."""
    if not text:
        return 0.0
    prop = FontProperties(family=FAMILY, size=size, weight=weight)
    return _MEASURE.get_text_width_height_descent(text, prop, ismath=False)[0]


def _split_long_word(word: str, width: float, size: float, weight: str) -> list[str]:
    """A word wider than the line, broken between characters (nothing dropped)."""
    parts, current = [], ""
    for ch in word:
        if current and text_width(current + ch, size, weight) > width:
            parts.append(current)
            current = ch
        else:
            current += ch
    return parts + [current] if current else parts


@lru_cache(maxsize=16384)
def wrap_line(line: str, width: float, size: float, weight: str = "normal") -> tuple[str, ...]:
    """``line`` broken at spaces into lines no wider than ``width`` points; continuation lines keep
    the line's indent plus CONTINUATION. Every word is kept (one wider than a line is split)."""
    if text_width(line, size, weight) <= width:
        return (line,)
    indent = line[: len(line) - len(line.lstrip(" "))]
    out: list[str] = []
    current = ""

    def prefix() -> str:
        return indent + CONTINUATION if out else indent

    for word in line.split():
        candidate = f"{current} {word}" if current else word
        if text_width(prefix() + candidate, size, weight) <= width:
            current = candidate
            continue
        if current:
            out.append(prefix() + current)
            current = ""
            if text_width(prefix() + word, size, weight) <= width:
                current = word
                continue
        room = max(width - text_width(indent + CONTINUATION, size, weight), size)
        pieces = _split_long_word(word, room, size, weight)
        for piece in pieces[:-1]:
            out.append(prefix() + piece)
        current = pieces[-1]
    if current:
        out.append(prefix() + current)
    return tuple(out)


@dataclass(frozen=True)
class Section:
    """Fixed ``lines``, then optional ``items`` (each a few lines) shown in order while they fit;
    the ones left out are counted in a last line (``more``)."""
    lines: tuple[str, ...] = ()
    items: tuple[tuple[str, ...], ...] = ()
    more: str = "  " + MORE
    weight: str = "normal"


@dataclass(frozen=True)
class Block:
    size: float
    lines: tuple[tuple[str, str], ...]  # (text, weight)
    shown: tuple[int, ...] = field(default=())  # items shown per section

    @property
    def height(self) -> float:
        return len(self.lines) * self.size * LINE_PITCH


def _lay(sections: tuple[Section, ...], totals: list[int], shown: list[int], width: float,
         size: float) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for sec, total, k in zip(sections, totals, shown):
        raw = list(sec.lines) + [line for item in sec.items[:k] for line in item]
        if k < total:
            raw.append(sec.more.format(n=total - k))
        out += [(w, sec.weight) for line in raw for w in wrap_line(line, width, size, sec.weight)]
    return out


def fit(sections: list[Section], width: float, height: float, size: float, min_size: float = 6.0,
        keep: int = 2) -> Block:
    """The largest font (from ``size`` down to ``min_size``) and most items at which the sections fit
    ``width`` x ``height`` points. Items are dropped first, the section showing most going first,
    down to ``keep`` per section; then the font shrinks; at the smallest font items go down to none.
    If even the fixed lines do not fit, the last ones give way to a note that the rest is in the tables."""
    # No more items than lines in the box are ever shown: the work stays bounded by the box, not the data.
    room = max(int(height // (min_size * LINE_PITCH)), 1)
    totals = [len(sec.items) for sec in sections]
    secs = tuple(Section(sec.lines, sec.items[:room], sec.more, sec.weight) for sec in sections)
    sizes = []
    s = size
    while s > min_size + 1e-9:
        sizes.append(round(s, 2))
        s -= 0.4
    sizes.append(min_size)
    for i, sz in enumerate(sizes):
        floor = 0 if i == len(sizes) - 1 else keep
        shown = [len(sec.items) for sec in secs]
        while True:
            lines = _lay(secs, totals, shown, width, sz)
            if len(lines) * sz * LINE_PITCH <= height:
                return Block(sz, tuple(lines), tuple(shown))
            trimmable = [j for j, sec in enumerate(secs) if shown[j] > min(floor, len(sec.items))]
            if not trimmable:
                break
            j = max(trimmable, key=lambda j: (shown[j], j))
            shown[j] -= 1
    sz = min_size
    lines = _lay(secs, totals, [0] * len(secs), width, sz)
    note = wrap_line("(continued in the JSON, CSV and Excel exports)", width, sz)[:1]
    lines = lines[: room - 1] + [(note[0], "normal")] if room > 1 else [(note[0], "normal")]
    return Block(sz, tuple(lines), tuple(0 for _ in secs))


def draw(fig: Figure, x: float, top: float, block: Block, page_height_pt: float, **text_kw) -> float:
    """Draw ``block`` with its first line's top at (x, top) in figure fractions; return the bottom."""
    pitch = block.size * LINE_PITCH / page_height_pt
    for i, (line, weight) in enumerate(block.lines):
        if line.strip():
            fig.text(x, top - i * pitch, line, fontsize=block.size, fontweight=weight, va="top",
                     family=FAMILY, parse_math=False, **text_kw)
    return top - len(block.lines) * pitch
