"""The drift report's page: self-contained like the training report, drifted features first
with their charts, its numbers the JSON's, drawn by Chromium with no network request."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bigmart.local.drift import drift_report
from bigmart.report.drift import render, write_report
from support.browser import assert_self_contained, ink
from support.browser import render as screenshot
from support.capture import capture_lines, scored_exchanges, write_capture_file

SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
PSI_CELL = re.compile(r'<td(?: class="[^"]*")? data-name="([^"]+)" data-value="([^"]+)">')


@pytest.fixture(scope="module")
def document(trained_model: Path, real_test_csv: Path, tmp_path_factory) -> dict:
    """The drift of 1,000 real test rows, Item_MRP tripled, plus an unreadable line."""
    root = tmp_path_factory.mktemp("capture")
    exchanges = scored_exchanges(
        trained_model, real_test_csv, rows=1000, per_request=250, mrp_factor=3.0
    )
    at = time.time()
    write_capture_file(root, "shop", at, capture_lines(at, exchanges) + b"{broken\n")
    return drift_report(str(trained_model), str(root))


@pytest.fixture(scope="module")
def page(document: dict, tmp_path_factory) -> Path:
    return write_report(tmp_path_factory.mktemp("report") / "drift.html", document)


def test_the_page_names_nothing_to_fetch(page: Path):
    text = page.read_text()
    assert_self_contained(text)


def test_drifted_features_come_first_and_the_numbers_are_the_jsons(document: dict, page: Path):
    text = page.read_text()
    assert document["drifted"] == ["Item_MRP"]
    assert "<title>Drift report: shop/AllTraffic</title>" in text
    cells = PSI_CELL.findall(text)
    shown = {name: float(value) for name, value in cells}
    assert cells[0][0] == "Item_MRP"  # the table's first row
    for name, feature in document["features"].items():
        assert shown[name] == feature["psi"]
    assert shown["predictions"] == document["predictions"]["psi"]
    assert 'id="feature-Item_MRP"' in text and 'id="feature-Item_Weight"' not in text
    assert "line 1,001" not in text and "{broken" not in text  # reasons, not raw input
    assert "Unreadable lines" in text and "not JSON" in text


def test_chromium_draws_each_chart_and_the_page_requests_nothing(page: Path, tmp_path: Path):
    rendered = screenshot(page, tmp_path / "page")
    assert rendered.page_requests == []
    html = page.read_text()
    charts = SVG.findall(html)
    assert len(charts) == 2  # the predictions, and the one drifted feature
    bare = tmp_path / "bare.html"
    bare.write_text(SVG.sub("", html))
    without = screenshot(bare, tmp_path / "bare")
    (full_ink, full_colour), (bare_ink, bare_colour) = (
        ink(rendered.screenshot),
        ink(without.screenshot),
    )
    assert full_colour > bare_colour + 10_000, (full_colour, bare_colour)
    assert full_ink > bare_ink + 20_000, (full_ink, bare_ink)


def test_without_drift_the_page_says_so_and_draws_only_the_predictions(document: dict):
    calm = {
        **document,
        "drifted": [],
        "features": {
            name: {**feature, "drift": False} for name, feature in document["features"].items()
        },
    }
    text = render(calm)
    assert "No feature drifted" in text
    assert len(SVG.findall(text)) == 1
