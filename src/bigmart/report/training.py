"""The training report: ``report.html`` drawn from ``report.json``'s document, and both
files written into the job's ``output/data`` (which SageMaker ships as output.tar.gz)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bigmart.files import replacing
from bigmart.report import HTML_FILE, JSON_FILE, charts
from bigmart.report.page import (
    Cell,
    escape,
    figure,
    grid,
    number,
    page,
    paragraph,
    row,
    section,
    table,
)

#: Rows of a residual table shown (largest groups; report.json has them all).
MAX_TABLE_ROWS = 50
_BASELINE_NAMES = {"mean": "mean of sales", "outlet_mean": "each outlet's mean"}
_METRIC_ROWS = (
    ("train:rmse", "training RMSE", 2),
    ("validation:rmse", "validation RMSE", 2),
    ("validation:mae", "validation MAE", 2),
    ("validation:r2", "validation R\u00b2", 4),
)


def write_report(folder: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write ``report.json`` and ``report.html`` into ``folder``; the HTML's path."""
    target = Path(folder)
    numbers = json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"
    rendered = render(document)
    with replacing(target / JSON_FILE, "w", encoding="utf-8") as handle:
        handle.write(numbers)
    with replacing(target / HTML_FILE, "w", encoding="utf-8") as handle:
        handle.write(rendered)
    return target / HTML_FILE


def render(document: Mapping[str, Any]) -> str:
    """The whole HTML page of a training report document."""
    rows = document.get("rows") or {}
    title = f"Training report: {document['job']}" if document.get("job") else "Training report"
    subtitle = escape(
        f"{rows.get('training', 0):,} training rows, {rows.get('validation', 0):,} validation "
        f"rows; trained {document.get('created') or ''}"
    )
    sections = [
        _metrics(document),
        _predictions(document),
        _residuals(document),
        _importance(document),
        _cleaning(document),
        _model(document),
    ]
    footer = (
        "Numbers behind this page: report.json beside it (the metrics are metrics.json's). "
        "Charts and group tables use the exported ONNX model's predictions, as the endpoint "
        "serves them."
    )
    return page(title, subtitle, [s for s in sections if s], footer)


def _metrics(document: Mapping[str, Any]) -> str:
    metrics = document["metrics"]
    baselines = document["baselines"]
    names = ["model", *(_BASELINE_NAMES[key] for key in baselines)]
    rows = []
    for key, label, decimals in _METRIC_ROWS:
        if key not in metrics:
            continue
        cells: list[str | Cell] = [label]
        cells.append(Cell(number(metrics[key], decimals), "model", metrics[key], key))
        cells.extend(number(baselines[b].get(key), decimals) for b in baselines)
        rows.append(cells)
    if "cv:rmse_mean" in metrics:
        folds = document["hyperparameters"].get("cv_folds", "k")
        cells = [f"CV RMSE, {folds} folds"]
        cells.append(
            Cell(
                f"{number(metrics['cv:rmse_mean'])} \u00b1 {number(metrics['cv:rmse_std'])}",
                "model",
            )
        )
        cells.extend(
            f"{number(baselines[b].get('cv:rmse_mean'))} \u00b1 "
            f"{number(baselines[b].get('cv:rmse_std'))}"
            for b in baselines
        )
        rows.append(cells)
    left = table(["metric", *names], rows, numeric=range(1, len(names) + 1))
    note = paragraph(
        "The baselines are fitted on the same training rows: one predicts the mean sales "
        "for every row, the other each outlet's mean sales. A model is only worth its "
        "keep where it beats them. Lower RMSE and MAE are better; R\u00b2 is the share of "
        "the sales' variance explained. Cross-validation (CV) reports the mean \u00b1 standard "
        "deviation over its folds.",
        "note",
    )
    key = "validation:rmse" if metrics.get("validation:rmse") is not None else "train:rmse"
    values = [metrics.get(key), *(baselines[b].get(key) for b in baselines)]
    right = ""
    if all(value is not None for value in values):
        chart = charts.bars(names, values, name="metrics", xlabel=key.replace(":", " "))
        right = figure(chart, f"{key}: the model against two baselines fitted on the same rows")
    return section(
        "How good is the model?",
        _headline(metrics, baselines),
        row(left, right),
        note,
        anchor="metrics",
    )


def _headline(metrics: Mapping[str, Any], baselines: Mapping[str, Any]) -> str:
    key = "validation:rmse" if metrics.get("validation:rmse") is not None else "train:rmse"
    model = metrics.get(key)
    if model is None:
        return ""
    parts = [
        f"{'Validation' if key.startswith('validation') else 'Training'} RMSE "
        f"<strong>{number(model)}</strong>"
    ]
    for name, label in _BASELINE_NAMES.items():
        other = baselines.get(name, {}).get(key)
        if other:
            change = (model - other) / other
            css = "better" if change < 0 else "worse"
            word = "below" if change < 0 else "above"
            parts.append(f'<span class="{css}">{abs(change):.0%} {word}</span> {escape(label)}')
    text = parts[0] + (": " + ", ".join(parts[1:]) if parts[1:] else "")
    return paragraph(text + ".", "headline")


def _predictions(document: Mapping[str, Any]) -> str:
    validation = document.get("validation")
    if not validation:
        return section(
            "Predicted against actual",
            paragraph(
                "No validation rows: set <code>validation_fraction</code> above 0 or give a "
                "<code>validation</code> channel to see how the model does on rows it did "
                "not learn from.",
                "note",
            ),
            anchor="predictions",
        )
    chart = charts.predicted_against_actual(
        validation["actual"], validation["predicted"], name="scatter"
    )
    sampled = (
        f" (a random {validation['points']:,} of {validation['rows']:,})"
        if validation["points"] < validation["rows"]
        else ""
    )
    caption = f"Validation rows{sampled}: a point on the line is a perfect prediction."
    note = paragraph(
        "Points above the line are over-predicted, below it under-predicted. A fan that "
        "widens to the right is usual for sales: large sales vary more.",
        "note",
    )
    return section(
        "Predicted against actual", grid(figure(chart, caption), note), anchor="predictions"
    )


def _residuals(document: Mapping[str, Any]) -> str:
    residuals = document.get("residuals")
    if not residuals:
        return ""
    parts = [
        paragraph(
            "Residual = actual \u2212 predicted sales, on the validation rows: a group whose "
            "box sits right of zero is under-predicted, left of zero over-predicted. Boxes "
            "span the 25th to 75th percentile, whiskers the 5th to 95th; the diamond is the mean.",
            "note",
        )
    ]
    columns = []
    for column in ("Outlet_Type", "Outlet_Identifier"):
        groups = residuals.get(column) or []
        chart = charts.residual_boxes(groups, name=f"residuals-{column}", ylabel=column)
        more = len(groups) - charts.MAX_GROUPS
        caption = f"Residuals by {column}"
        if more > 0:
            caption += f" ({more} smaller groups left out)"
        rows = [
            [g["group"], f"{g['rows']:,}", number(g["mean"]), number(g["rmse"])]
            for g in groups[:MAX_TABLE_ROWS]
        ]
        columns.append(
            figure(chart, caption)
            + table([column, "rows", "mean residual", "RMSE"], rows, numeric=(1, 2, 3))
        )
    parts.append(grid(*columns))
    return section("Where does it miss?", *parts, anchor="residuals")


def _importance(document: Mapping[str, Any]) -> str:
    importance = document.get("importance")
    if not importance:
        return ""
    columns = importance["columns"]
    chart = charts.importance_bars(columns, name="importance")
    rows = [
        [
            c["column"],
            number(c["rmse_increase_mean"]),
            number(c["rmse_increase_std"]),
        ]
        for c in columns
    ]
    note = paragraph(
        f"Each raw input column of {importance['rows']:,} validation rows is shuffled "
        f"{importance['repeats']} times and the model's RMSE measured again (scikit-learn's "
        "permutation importance on the exported model: the fitted cleaning, then the ONNX "
        "forest). A large increase means the model leans on the column; about zero means it "
        "could do without it. The error bar is the standard deviation over the shuffles.",
        "note",
    )
    body = grid(
        figure(chart, "RMSE increase when each column is shuffled"),
        table(["column", "RMSE increase", "\u00b1 std"], rows, numeric=(1, 2)) + note,
    )
    return section("Which inputs matter?", body, anchor="importance")


_CLEANING_ROWS = (
    ("Item_Weight", "missing", "Item_Weight missing"),
    ("Item_Weight", "from_item", "\u2003filled from the same item's other rows"),
    ("Item_Weight", "from_item_type", "\u2003filled from the item type's mean"),
    ("Item_Weight", "from_overall_mean", "\u2003filled from the overall mean"),
    ("Item_Visibility", "zero", "Item_Visibility zero"),
    ("Item_Visibility", "missing", "Item_Visibility missing"),
    ("Item_Visibility", "from_item", "\u2003filled from the item's mean visibility"),
    ("Item_Visibility", "from_item_type", "\u2003filled from the item type's mean"),
    ("Item_Visibility", "from_overall_mean", "\u2003filled from the overall mean"),
    ("Outlet_Size", "missing", "Outlet_Size missing"),
    ("Outlet_Size", "from_outlet", "\u2003filled from the outlet's own size"),
    ("Outlet_Size", "from_outlet_type", "\u2003filled from its Outlet_Type's commonest size"),
    ("Outlet_Size", "from_most_common", "\u2003filled with the commonest size"),
    ("Outlet_Size", "left_unknown", "\u2003left unknown"),
    ("Outlet_Establishment_Year", "missing", "Outlet_Establishment_Year missing"),
    ("Item_MRP", "missing", "Item_MRP missing (filled with the median)"),
    ("Item_Fat_Content", "respelled", "Item_Fat_Content respelled"),
    ("Item_Fat_Content", "non_edible", "Item_Fat_Content set to Non-Edible (NC items)"),
    ("Item_Fat_Content", "missing", "Item_Fat_Content missing"),
)


def _cleaning(document: Mapping[str, Any]) -> str:
    cleaning = document["cleaning"]
    training, validation = cleaning["training"], cleaning.get("validation")
    headers = ["rule", "training rows"] + (["validation rows"] if validation else [])
    rows = []
    for column, key, label in _CLEANING_ROWS:
        values = [training[column].get(key, 0)]
        if validation:
            values.append(validation[column].get(key, 0))
        if key.startswith(("from_", "left_")) and not any(values):
            continue
        rows.append([label, *(f"{v:,}" for v in values)])
    parts = [table(headers, rows, numeric=range(1, len(headers)))]
    spellings = training["Item_Fat_Content"]["spellings"]
    if spellings:
        listed = ", ".join(f"<code>{escape(k)}</code> \u00d7{v:,}" for k, v in spellings.items())
        parts.append(paragraph(f"Fat-content spellings relabelled in the training rows: {listed}."))
    unseen = cleaning.get("unseen_in_validation")
    if unseen:
        unseen_rows = [
            [
                column,
                f"{found['rows']:,}",
                ", ".join(f"{label} ({count:,})" for label, count in found["labels"].items())
                + (" \u2026" if found["distinct"] > len(found["labels"]) else ""),
            ]
            for column, found in unseen.items()
            if found["rows"]
        ]
        if unseen_rows:
            parts.append(
                table(
                    ["column", "validation rows", "labels never seen in training"],
                    unseen_rows,
                    numeric=(1,),
                    caption="Unseen categories",
                )
            )
            parts.append(
                paragraph(
                    "An unseen category gets the unknown code, and an unseen item its type's "
                    "fills: never an error, but the model knows nothing specific about them.",
                    "note",
                )
            )
        else:
            parts.append(paragraph("Every validation category was seen in training.", "note"))
    return section("What the cleaning did", *parts, anchor="cleaning")


def _model(document: Mapping[str, Any]) -> str:
    hyperparameters = document["hyperparameters"]
    model = document["model"]
    rows = document.get("rows") or {}
    facts = [
        ["training rows", f"{rows.get('training', 0):,}"],
        ["validation rows", f"{rows.get('validation', 0):,}"],
        ["trees", f"{model['trees']:,}"],
        ["model size (ONNX)", f"{model['onnx_bytes'] / 1e6:,.2f} MB"],
        ["features the forest sees", ", ".join(model["features_out"])],
    ]
    if document.get("training_seconds") is not None:
        facts.append(["reading and fitting time", f"{document['training_seconds']:,.1f} s"])
    return section(
        "The model",
        grid(
            table(["", ""], facts, caption="Rows and size"),
            table(
                ["hyper-parameter", "value"],
                sorted(hyperparameters.items()),
                caption="Hyper-parameters",
            )
            + table(
                ["library", "version"],
                sorted(document["versions"].items()),
                caption="Library versions",
            ),
        ),
        anchor="model",
    )
