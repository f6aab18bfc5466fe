"""Small inline SVG charts, written by hand: pure functions from numbers to markup.

No database, no web imports. Every text that reaches the SVG is escaped here, so the
templates may insert the result as it is.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 34, 46
PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    color: str = PALETTE[0]
    dashed: bool = False


def number(value: float) -> str:
    """Short tick/tooltip text: 0.25, 1, 2.5, 1,200."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10 or float(value).is_integer():
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{value:.2g}" if abs(value) < 0.1 else f"{value:.2f}".rstrip("0").rstrip(".")


def _usable(v: float | None, log: bool) -> bool:
    return v is not None and math.isfinite(v) and (v > 0 or not log)


def nice_linear_ticks(hi: float, count: int = 5) -> list[float]:
    """0 up to at least `hi` in steps of 1, 2 or 5 times a power of ten."""
    if hi <= 0:
        return [0.0, 1.0]
    raw = hi / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    top = math.ceil(hi / step - 1e-9) * step
    return [i * step for i in range(int(round(top / step)) + 1)]


def log2_ticks(lo: float, hi: float) -> list[float]:
    """Powers of two spanning [lo, hi], at most about eight of them."""
    lo_e, hi_e = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    if hi_e == lo_e:
        hi_e += 1
    step = max(1, math.ceil((hi_e - lo_e) / 8))
    return [2.0 ** e for e in range(lo_e, hi_e + 1, step)]


def _x_positions(n: int) -> list[float]:
    plot_w = WIDTH - LEFT - RIGHT
    return [LEFT + plot_w * (i + 0.5) / n for i in range(n)]


def _frame(title: str, body: list[str]) -> Markup:
    label = escape(title)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>' + "".join(body) + "</svg>"
    )


def _axes(ticks: list[float], to_y, labels: Sequence[str], xs: list[float], y_label: str) -> list[str]:
    out = []
    for t in ticks:
        y = to_y(t)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(number(t))}</text>')
    base = HEIGHT - BOTTOM
    out.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>')
    every = max(1, math.ceil(len(labels) / 10))
    last = len(labels) - 1
    for i, (x, text) in enumerate(zip(xs, labels)):
        # the last label always; a regular one only if as far from it as from its neighbours
        if i == last or (i % every == 0 and last - i >= every):
            out.append(f'<text class="tick" x="{x:.1f}" y="{base + 16}" text-anchor="middle">{escape(text)}</text>')
    out.append(f'<text class="axis-label" x="14" y="{(TOP + base) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(TOP + base) / 2:.1f})">{escape(y_label)}</text>')
    return out


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str, y_label: str = "",
               log: bool = False, reference: float | None = None, highlight: int | None = None,
               empty: str = "no values to plot") -> Markup:
    """One line per series over the labels (missing values break the line).

    `log` plots on a log2 scale (ratios); `reference` draws a dashed horizontal line
    (1 for "no disproportionality"); `highlight` marks one label (the alert's run); `empty`: what
    the frame says when no value can be drawn.
    """
    values = [v for s in series for v in s.values if _usable(v, log)]
    if not labels or not values:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              f"{escape(empty)}</text>"])
    if reference is not None:
        values.append(reference)
    base, top = HEIGHT - BOTTOM, TOP
    if log:
        ticks = log2_ticks(min(values), max(values))
        lo, hi = math.log2(ticks[0]), math.log2(ticks[-1])

        def to_y(v: float) -> float:
            return base - (math.log2(v) - lo) / (hi - lo) * (base - top)
    else:
        ticks = nice_linear_ticks(max(values))

        def to_y(v: float) -> float:
            return base - v / ticks[-1] * (base - top)

    xs = _x_positions(len(labels))
    body = _axes(ticks, to_y, labels, xs, y_label)
    if highlight is not None and 0 <= highlight < len(xs):
        body.insert(0, f'<rect class="highlight" x="{xs[highlight] - 14:.1f}" y="{top}" width="28" '
                       f'height="{base - top}"><title>this alert\'s run</title></rect>')
    if reference is not None:
        y = to_y(reference)
        body.append(f'<line class="reference" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
    for s in series:
        segments, current = [], []
        for x, v in zip(xs, s.values):
            if _usable(v, log):
                current.append(f"{x:.1f} {to_y(v):.1f}")
            elif current:
                segments.append(current)
                current = []
        if current:
            segments.append(current)
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        for seg in segments:
            if len(seg) > 1:
                body.append(f'<path class="series" d="M {" L ".join(seg)}" stroke="{s.color}"{dash}/>')
        for x, v, label in zip(xs, s.values, labels):
            if _usable(v, log):
                body.append(f'<circle cx="{x:.1f}" cy="{to_y(v):.1f}" r="3.5" fill="{s.color}">'
                            f"<title>{escape(s.name)} {escape(label)}: {escape(number(v))}</title></circle>")
    x = LEFT
    for s in series:
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        body.append(f'<line x1="{x}" x2="{x + 18}" y1="14" y2="14" stroke="{s.color}" stroke-width="2.5"{dash}/>')
        body.append(f'<text class="legend" x="{x + 22}" y="18">{escape(s.name)}</text>')
        x += 30 + 8 * len(s.name)
    return _frame(title, body)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, y_label: str = "",
              color: str = PALETTE[0]) -> Markup:
    """Vertical bars, each labelled with its value when there is room."""
    if not labels:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              "no values to plot</text>"])
    base, top = HEIGHT - BOTTOM, TOP
    ticks = nice_linear_ticks(max(max(values), 1))

    def to_y(v: float) -> float:
        return base - v / ticks[-1] * (base - top)

    xs = _x_positions(len(labels))
    body = _axes(ticks, to_y, labels, xs, y_label)
    band = (WIDTH - LEFT - RIGHT) / len(labels)
    width = max(2.0, min(48.0, band * 0.7))
    for x, v, label in zip(xs, values, labels):
        y = to_y(v)
        body.append(f'<rect class="bar" x="{x - width / 2:.1f}" y="{y:.1f}" width="{width:.1f}" '
                    f'height="{base - y:.1f}" fill="{color}"><title>{escape(label)}: {escape(number(v))}</title></rect>')
        if len(labels) <= 16:
            body.append(f'<text class="value" x="{x:.1f}" y="{y - 4:.1f}" text-anchor="middle">{escape(number(v))}</text>')
    return _frame(title, body)


def quarter_of(day: dt.date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3 + 1


def cumulative_by_quarter(dates: Iterable[dt.date]) -> list[tuple[str, int]]:
    """Cumulative count at the end of every quarter from the first to the last date (gaps filled)."""
    per_quarter = Counter(quarter_of(d) for d in dates)
    if not per_quarter:
        return []
    (year, q), last = min(per_quarter), max(per_quarter)
    out, total = [], 0
    while (year, q) <= last:
        total += per_quarter.get((year, q), 0)
        out.append((f"{year} Q{q}", total))
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return out


def step_chart(series: Sequence[tuple[str, Sequence[float], Sequence[float], Sequence[float], Sequence[float]]], *,
               title: str, x_label: str = "", y_label: str = "", x_max: float | None = None) -> Markup:
    """Step functions over a numeric x axis, each with a shaded band: (name, x, y, lower, upper) per
    series, x ascending, y the value from that x on (a cumulative incidence curve and its limits)."""
    usable = [s for s in series if len(s[1])]
    if not usable:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              "no values to plot</text>"])
    hi_x = x_max or max(max(s[1]) for s in usable) or 1.0
    hi_y = max(max(max(s[4]), max(s[2])) for s in usable) or 1.0
    x_ticks = nice_linear_ticks(hi_x)
    y_ticks = nice_linear_ticks(hi_y)
    base, top = HEIGHT - BOTTOM, TOP

    def to_x(v: float) -> float:
        return LEFT + min(v, x_ticks[-1]) / x_ticks[-1] * (WIDTH - LEFT - RIGHT)

    def to_y(v: float) -> float:
        return base - v / y_ticks[-1] * (base - top)

    xs = [to_x(t) for t in x_ticks]
    body = _axes(y_ticks, to_y, [number(t) for t in x_ticks], xs, y_label)
    if x_label:
        body.append(f'<text class="axis-label" x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" '
                    f'text-anchor="middle">{escape(x_label)}</text>')

    def steps(x, y) -> list[str]:
        pts, prev = [f"{to_x(0):.1f} {to_y(0):.1f}"], 0.0
        for xi, yi in zip(x, y):
            pts += [f"{to_x(xi):.1f} {to_y(prev):.1f}", f"{to_x(xi):.1f} {to_y(yi):.1f}"]
            prev = yi
        pts.append(f"{to_x(hi_x):.1f} {to_y(prev):.1f}")
        return pts

    x = LEFT
    for i, (name, sx, sy, lo, up) in enumerate(usable):
        color = PALETTE[i % len(PALETTE)]
        upper, lower = steps(sx, up), steps(sx, lo)
        body.append(f'<path class="band" d="M {" L ".join(upper + lower[::-1])} Z" fill="{color}" '
                    f'fill-opacity="0.15" stroke="none"/>')
        body.append(f'<path class="series" d="M {" L ".join(steps(sx, sy))}" stroke="{color}"/>')
        body.append(f'<line x1="{x}" x2="{x + 18}" y1="14" y2="14" stroke="{color}" stroke-width="2.5"/>')
        body.append(f'<text class="legend" x="{x + 22}" y="18">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    return _frame(title, body)
