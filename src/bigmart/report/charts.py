"""Charts for the reports: matplotlib figures rendered to SVG and inlined in the page.

Figures are built with ``matplotlib.figure.Figure`` and written by its SVG canvas, never
through pyplot: no GUI backend is chosen and no global figure state is kept, so a
training process (or a server without a display) draws them safely; ``matplotlib.use
("Agg")`` is set all the same, before anything else could pick a backend. Text is
drawn as paths, so the chart needs no font on the reader's machine. Each SVG's ids are
prefixed with the chart's name, so several can share one page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.figure import Figure

MODEL = "#1f5f99"
BASELINE = "#9aa5b1"
ACCENT = "#e07b24"
INK = "#1d2733"
#: Readable at a laptop's width and in print; deterministic output (no date, fixed ids).
_STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "bigmart-report",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.edgecolor": "#8a949e",
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.grid": True,
    "grid.color": "#e3e7eb",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
}
#: Groups drawn at most in a box chart (the largest; the table lists them all).
MAX_GROUPS = 30


def bars(
    labels: Sequence[str], values: Sequence[float], *, name: str, xlabel: str, highlight: int = 0
) -> str:
    """Horizontal bars, one highlighted (the model among its baselines), values printed."""
    with rc_context(_STYLE):
        figure = Figure(figsize=(6.0, 0.5 + 0.42 * len(labels)))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))[::-1]
        colors = [MODEL if i == highlight else BASELINE for i in range(len(labels))]
        axes.barh(positions, values, color=colors, height=0.62)
        axes.set_yticks(positions, labels)
        axes.set_xlabel(xlabel)
        axes.grid(axis="y", visible=False)
        top = max(values) if values else 1.0
        for position, value in zip(positions, values, strict=True):
            axes.text(value + top * 0.01, position, f"{value:,.1f}", va="center", fontsize=8)
        axes.set_xlim(0, top * 1.15)
        figure.tight_layout()
        return to_svg(figure, name)


def predicted_against_actual(
    actual: Sequence[float], predicted: Sequence[float], *, name: str
) -> str:
    """A scatter of predicted against actual sales, with the line where they are equal."""
    with rc_context(_STYLE):
        figure = Figure(figsize=(5.6, 5.0))
        axes = figure.add_subplot()
        axes.scatter(actual, predicted, s=5, alpha=0.35, color=MODEL, linewidths=0)
        high = max([*actual, *predicted, 1.0])
        axes.plot([0, high], [0, high], color=ACCENT, linewidth=1.2, label="predicted = actual")
        axes.set_xlim(0, high * 1.02)
        axes.set_ylim(0, high * 1.02)
        axes.set_xlabel("actual sales")
        axes.set_ylabel("predicted sales")
        axes.legend(loc="upper left", frameon=False)
        figure.tight_layout()
        return to_svg(figure, name)


def residual_boxes(groups: Sequence[dict[str, Any]], *, name: str, ylabel: str) -> str:
    """One box per group from its percentiles (box: 25th-75th, line: median, whiskers:
    5th and 95th), largest groups first, at most ``MAX_GROUPS``; a line at zero."""
    shown = list(groups)[:MAX_GROUPS]
    stats = [
        {
            "label": f"{group['group']} ({group['rows']:,})",
            "whislo": group["p5"],
            "q1": group["q1"],
            "med": group["median"],
            "q3": group["q3"],
            "whishi": group["p95"],
            "mean": group["mean"],
            "fliers": [],
        }
        for group in shown
    ][::-1]
    with rc_context(_STYLE):
        figure = Figure(figsize=(6.0, 0.8 + 0.36 * len(stats)))
        axes = figure.add_subplot()
        axes.bxp(
            stats,
            orientation="horizontal",
            showmeans=True,
            widths=0.6,
            patch_artist=True,
            boxprops={"facecolor": "#c9dcee", "edgecolor": MODEL},
            medianprops={"color": MODEL, "linewidth": 1.5},
            whiskerprops={"color": MODEL},
            capprops={"color": MODEL},
            meanprops={
                "marker": "D",
                "markerfacecolor": ACCENT,
                "markeredgecolor": ACCENT,
                "markersize": 4,
            },
        )
        axes.axvline(0, color=INK, linewidth=0.8)
        axes.set_xlabel("residual: actual - predicted sales")
        axes.set_ylabel(ylabel)
        axes.grid(axis="y", visible=False)
        figure.tight_layout()
        return to_svg(figure, name)


def importance_bars(columns: Sequence[dict[str, Any]], *, name: str) -> str:
    """Each column's mean RMSE increase when shuffled, with its standard deviation over
    the repeats as an error bar; largest on top."""
    labels = [column["column"] for column in columns][::-1]
    means = [column["rmse_increase_mean"] for column in columns][::-1]
    spreads = [column["rmse_increase_std"] for column in columns][::-1]
    with rc_context(_STYLE):
        figure = Figure(figsize=(6.0, 0.7 + 0.32 * len(labels)))
        axes = figure.add_subplot()
        positions = range(len(labels))
        axes.barh(
            positions,
            means,
            xerr=spreads,
            color=MODEL,
            height=0.6,
            error_kw={"ecolor": ACCENT, "capsize": 3, "elinewidth": 1.2},
        )
        axes.set_yticks(list(positions), labels)
        axes.axvline(0, color=INK, linewidth=0.8)
        axes.set_xlabel("RMSE increase when the column is shuffled")
        axes.grid(axis="y", visible=False)
        figure.tight_layout()
        return to_svg(figure, name)


def distributions(
    labels: Sequence[str],
    baseline: Sequence[float],
    captured: Sequence[float],
    *,
    name: str,
    baseline_label: str = "training",
    captured_label: str = "captured",
) -> str:
    """Two distributions over the same bins, as shares of their rows: a pair of bars per
    bin, the baseline's in the model's blue and the captured one's in the accent."""

    def shares(counts: Sequence[float]) -> list[float]:
        total = float(sum(counts))
        return [100.0 * c / total if total else 0.0 for c in counts]

    expected, actual = shares(baseline), shares(captured)
    positions = list(range(len(labels)))[::-1]
    with rc_context(_STYLE):
        figure = Figure(figsize=(6.0, 0.9 + 0.34 * len(labels)))
        axes = figure.add_subplot()
        axes.barh(
            [p + 0.2 for p in positions], expected, height=0.38, color=MODEL, label=baseline_label
        )
        axes.barh(
            [p - 0.2 for p in positions], actual, height=0.38, color=ACCENT, label=captured_label
        )
        axes.set_yticks(positions, labels)
        axes.set_xlabel("share of rows (%)")
        axes.grid(axis="y", visible=False)
        axes.set_xlim(0, max([*expected, *actual, 1.0]) * 1.08)
        axes.legend(loc="best", frameon=False)
        figure.tight_layout()
        return to_svg(figure, name)


def to_svg(figure: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page: no XML prolog, metadata or
    namespace URLs (the HTML parser knows SVG), ids prefixed with ``name``, and sized by
    the page's CSS up to its own width (its viewBox keeps the aspect ratio)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.DOTALL)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r'\s+(width|height)="[^"]*pt"', "", text, count=2)
    text = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{name}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", text)
    width = figure.get_size_inches()[0] * 96  # CSS pixels: never drawn larger than made
    return text.replace(
        "<svg", f'<svg role="img" aria-label="{name}" style="max-width: {width:.0f}px"', 1
    )
