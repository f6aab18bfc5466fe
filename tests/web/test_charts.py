"""The hand-written SVG charts and the pure helpers of the pages (no database)."""
from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

from pv_service.web.charts import Series, bar_chart, cumulative_by_quarter, line_chart, log2_ticks, nice_linear_ticks
from pv_service.web.queries import two_by_two
from pv_service.web.router import fmt_num

D = dt.date.fromisoformat


def test_cumulative_by_quarter_fills_empty_quarters_and_crosses_years():
    dates = [D("2024-11-30"), D("2025-05-02"), D("2025-05-20"), D("2025-12-31"), D("2024-10-01")]
    assert cumulative_by_quarter(dates) == [("2024 Q4", 2), ("2025 Q1", 2), ("2025 Q2", 4), ("2025 Q3", 4),
                                            ("2025 Q4", 5)]
    assert cumulative_by_quarter([]) == []


def test_ticks():
    assert nice_linear_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_linear_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert log2_ticks(0.6, 13) == [0.5, 1, 2, 4, 8, 16]
    assert log2_ticks(1, 1) == [1, 2]
    assert len(log2_ticks(0.001, 10_000)) <= 9


def test_line_chart_is_well_formed_escaped_and_breaks_at_missing_values():
    svg = line_chart(["2026-05-01", "<run 2>", "2026-11-01"],
                     [Series("PRR", [2.0, None, 4.0]), Series("R&R", [1.5, 3.0, 6.0], dashed=True)],
                     title="T-cell <lymphoma> & CART-1", log=True, reference=1.0, highlight=2)
    root = ET.fromstring(str(svg))  # parses: every text was escaped
    assert root.get("aria-label") == "T-cell <lymphoma> & CART-1"
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 5  # the missing PRR point is not drawn
    paths = root.findall(f"{ns}path")
    assert len(paths) == 1  # PRR has no two adjacent points; R&R is one line
    assert "&lt;run 2&gt;" in str(svg) and "R&amp;R" in str(svg)


def test_axis_labels_keep_their_spacing_up_to_the_last():
    """The last quarter is always labelled, and no label stands closer to it than the
    labels stand to each other (18 quarters: every other one, 2026-Q3 next to 2026-Q4
    overlapped on the alert page)."""
    ns = "{http://www.w3.org/2000/svg}"
    for n in (1, 2, 9, 10, 11, 18, 19, 25):
        labels = [f"q{i}" for i in range(n)]
        root = ET.fromstring(str(line_chart(labels, [Series("PRR", [1.0] * n)], title="t")))
        shown = [int(t.text[1:]) for t in root.iter(f"{ns}text") if t.text and re.fullmatch(r"q\d+", t.text)]
        every = -(-n // 10)
        assert shown[-1] == n - 1 and shown[0] == 0
        assert all(b - a >= every for a, b in zip(shown, shown[1:])), (n, shown)
        assert len(shown) >= n // every


def test_log_chart_skips_values_it_cannot_plot_and_says_so_when_nothing_is_left():
    svg = line_chart(["a", "b"], [Series("ROR", [0.0, None])], title="empty", log=True)
    assert "no values to plot" in svg
    assert "no values to plot" in bar_chart([], [], title="none")


def test_bar_chart_bars_scale_to_the_largest_value():
    svg = bar_chart(["2025 Q1", "2025 Q2"], [1, 4], title="cumulative")
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2 and abs(heights[1] / heights[0] - 4) < 1e-6


def test_two_by_two_from_the_stored_margins():
    assert two_by_two({"n": 3, "n_product": 20, "n_event": 5, "n_total": 170}) == {
        "a": 3, "b": 17, "c": 2, "d": 148, "n_product": 20, "n_event": 5, "not_product": 150, "not_event": 165,
        "n_total": 170}
    assert two_by_two({"n": 3, "n_product": None}) is None


def test_number_format():
    assert [fmt_num(v) for v in (None, 3, 1234, 2.0, 0.123456, 0.004, float("inf"), float("nan"), 12345.6)] == [
        "—", "3", "1,234", "2.00", "0.12", "0.004", "∞", "—", "12,346"]


def test_the_quarterly_chart_says_why_it_is_empty_when_the_ratios_are_infinite():
    """c = 0 (no other product has the event): PRR and ROR are null (infinite) in every quarter, and the
    chart said only "no values to plot" above a table of finite IC025s."""
    from types import SimpleNamespace

    from pv_service.web.router import _quarterly_chart

    def quarter(label, a, prr=None, ror=None, interval=None):
        return SimpleNamespace(quarter=label, a=a, prr=prr, ror=ror, ror_lower=None, interval_ror=interval)

    infinite = SimpleNamespace(quarters=[quarter("2026-Q2", 1), quarter("2026-Q3", 4)])
    assert "PRR and ROR are infinite (no other product has this event)" in _quarterly_chart(infinite, "PE", "X")
    none_yet = SimpleNamespace(quarters=[quarter("2026-Q2", 0)])
    assert "no values to plot" in _quarterly_chart(none_yet, "PE", "X")
    finite = SimpleNamespace(quarters=[quarter("2026-Q2", 2, prr=3.0, ror=3.5)])
    svg = str(_quarterly_chart(finite, "PE", "X"))
    assert "infinite" not in svg and "<circle" in svg
