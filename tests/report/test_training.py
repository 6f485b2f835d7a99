"""The training report's page, as ``train`` wrote it for the real data: self-contained, its
numbers metrics.json's, and its charts drawn when Chromium renders it offline."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bigmart.data.reading import read_labelled
from bigmart.model.hyperparameters import HyperParameters
from bigmart.model.training import run_training
from support.browser import assert_self_contained, ink, render

SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


@pytest.fixture(scope="module")
def report(trained_model: Path) -> Path:
    """The report.html the real ``train`` wrote for ``trained_model``'s job."""
    return trained_model.parent / "output" / "data" / "report.html"


class _Cells(HTMLParser):
    """The table cells that carry an exact value: ``{data-name: (data-value, text)}``."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, tuple[float, str]] = {}
        self._open: tuple[str, float] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "td" and named.get("data-name") and named.get("data-value"):
            self._open = (str(named["data-name"]), float(str(named["data-value"])))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            name, value = self._open
            self.found[name] = (value, data)
            self._open = None


def test_the_page_names_nothing_to_fetch(report: Path):
    text = report.read_text()
    assert_self_contained(text)
    assert "@media print" in text and "@page" in text


def test_its_metrics_are_metrics_json(report: Path):
    metrics = json.loads((report.parent / "metrics.json").read_text())
    document = json.loads((report.parent / "report.json").read_text())
    assert document["metrics"] == metrics
    parser = _Cells()
    parser.feed(report.read_text())
    shown = parser.found
    assert set(shown) == {"train:rmse", "validation:rmse", "validation:mae", "validation:r2"}
    for name, (value, text) in shown.items():
        assert value == metrics[name]
        assert text == f"{metrics[name]:,.{4 if name.endswith('r2') else 2}f}"


def test_chromium_draws_every_chart_and_the_page_requests_nothing(report: Path, tmp_path: Path):
    page = render(report, tmp_path / "report")
    assert page.page_requests == []
    html = report.read_text()
    charts = SVG.findall(html)
    assert len(charts) == 5  # metrics, predicted/actual, two residual charts, importance

    # The same page with its charts taken out loses most of its colour.
    bare = tmp_path / "bare.html"
    bare.write_text(SVG.sub("", html))
    without = render(bare, tmp_path / "bare")
    (full_ink, full_colour), (bare_ink, bare_colour) = ink(page.screenshot), ink(without.screenshot)
    assert full_colour > bare_colour + 15_000, (full_colour, bare_colour)
    assert full_ink > bare_ink + 50_000, (full_ink, bare_ink)

    # Each chart alone, in a cell of its own: each one draws.
    cell_width, cell_height = 620, 560
    cells = "".join(
        f'<div style="position:absolute; left:{(i % 2) * cell_width}px; '
        f'top:{(i // 2) * cell_height}px; width:{cell_width - 20}px">{chart}</div>'
        for i, chart in enumerate(charts)
    )
    grid = tmp_path / "charts.html"
    grid.write_text(
        "<!DOCTYPE html><html><head><style>body{margin:0} svg{width:100%;height:auto}"
        f"</style></head><body>{cells}</body></html>"
    )
    alone = render(grid, tmp_path / "charts", width=2 * cell_width, height=3 * cell_height)
    assert alone.page_requests == []
    for i in range(len(charts)):
        left, top = (i % 2) * cell_width, (i // 2) * cell_height
        inked, coloured = ink(alone.screenshot, (left, top, left + cell_width, top + cell_height))
        assert inked > 8_000 and coloured > 1_500, (i, inked, coloured)


def test_the_request_check_sees_a_page_that_fetches(tmp_path: Path):
    """The check above is not vacuous: a page with a remote image is caught asking for it
    (and the request goes nowhere: hosts resolve to nothing, the proxy port is closed)."""
    page = tmp_path / "fetching.html"
    page.write_text('<html><body><img src="http://example.invalid/x.png"></body></html>')
    assert render(page, tmp_path / "fetching").page_requests == ["http://example.invalid/x.png"]


def test_without_validation_rows_the_report_says_so_and_with_cv_shows_it(
    tmp_path: Path, synthetic_csv: Path
):
    hp = HyperParameters.from_strings(
        {"n_estimators": "5", "validation_fraction": "0", "cv_folds": "3", "n_jobs": "1"}
    )
    out = tmp_path / "data"
    result = run_training(
        synthetic_csv,
        tmp_path / "model",
        hyperparameters=hp,
        output_data_dir=out,
        log=lambda _: None,
    )
    document = json.loads((out / "report.json").read_text())
    assert document["metrics"] == json.loads((out / "metrics.json").read_text())
    assert document["validation"] is document["residuals"] is document["importance"] is None
    assert set(document["baselines"]["mean"]) == {"train:rmse", "cv:rmse_mean", "cv:rmse_std"}
    # the mean's CV RMSE is about the sales' spread; the forest's is well below it
    target = read_labelled(synthetic_csv).target
    assert document["baselines"]["mean"]["cv:rmse_mean"] == pytest.approx(target.std(), rel=0.05)
    assert result.metrics["cv:rmse_mean"] < document["baselines"]["mean"]["cv:rmse_mean"]
    html = (out / "report.html").read_text()
    assert "No validation rows" in html
    assert (
        f"{result.metrics['cv:rmse_mean']:,.2f} \u00b1 {result.metrics['cv:rmse_std']:,.2f}" in html
    )
    assert len(SVG.findall(html)) == 1  # only the metrics chart: nothing else has rows to draw
