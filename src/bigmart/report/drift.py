"""The drift report: ``bigmart drift``'s document as one HTML page, in the training
report's look (``page``, ``charts``), the drifted features first."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bigmart.files import replacing
from bigmart.report import charts
from bigmart.report.page import (
    Cell,
    escape,
    figure,
    grid,
    number,
    page,
    paragraph,
    section,
    table,
)

#: Unreadable capture lines listed on the page (the JSON keeps what the reader kept).
MAX_UNREADABLE_ROWS = 20


def write_report(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write the page for ``document`` to ``path`` (whole, or not at all)."""
    target = Path(path)
    rendered = render(document)
    with replacing(target, "w", encoding="utf-8") as handle:
        handle.write(rendered)
    return target


def render(document: Mapping[str, Any]) -> str:
    """The whole HTML page of a drift document."""
    sources = list(document.get("sources") or {})
    where = _endpoint(sources[0]) if len(sources) == 1 else document["capture"]
    subtitle = escape(
        f"{document['rows']:,} rows in {document['requests']:,} captured requests "
        f"{_period(document.get('first'), document.get('last'))}, against the baseline of "
        f"{document['model']} ({document['baseline_rows']:,} training rows)"
    )
    features = document["features"]
    sections = [
        _summary(document),
        _predictions(document["predictions"], document["threshold"]),
        *(_feature(name, features[name]) for name in document["drifted"]),
        _method(document),
        _read(document),
    ]
    footer = (
        "The numbers behind this page: <code>bigmart drift --json</code> with the same "
        "arguments. PSI: population stability index over the bins of the model's "
        "baseline.json."
    )
    return page(f"Drift report: {where}", subtitle, [s for s in sections if s], footer)


def _period(first: str | None, last: str | None) -> str:
    """``from 2024-05-01 13:00:05 to 14:10:00 UTC`` for two ``...Z`` times."""
    if not first or not last:
        return ""
    start, end = first.replace("T", " ").rstrip("Z"), last.replace("T", " ").rstrip("Z")
    if start == end:
        return f"at {start} UTC"
    if start[:10] == end[:10]:
        end = end[11:]
    return f"from {start} to {end} UTC"


def _endpoint(source: str) -> str:
    """``<endpoint>/<variant>`` of a capture file's folder, as a person names it."""
    parts = [part for part in source.rstrip("/").split("/") if part]
    return "/".join(parts[-2:]) if len(parts) >= 2 else source


def _summary(document: Mapping[str, Any]) -> str:
    features = document["features"]
    threshold = document["threshold"]
    drifted = document["drifted"]
    predictions = document["predictions"]
    if not document["rows"]:
        headline = "Only answers were captured (no endpointInput): the features cannot be compared."
    elif drifted:
        listed = ", ".join(
            f"<strong>{escape(name)}</strong> (PSI {number(features[name]['psi'])})"
            for name in drifted
        )
        headline = (
            f'<span class="worse">{len(drifted)} of {len(features)} features drifted</span> '
            f"(PSI \u2265 {threshold:g}): {listed}."
        )
    else:
        headline = (
            f'<span class="better">No feature drifted</span>: every PSI is below {threshold:g}.'
        )
    if predictions.get("psi") is not None:
        verdict = (
            '<span class="worse">drifted</span>'
            if predictions["drift"]
            else '<span class="better">did not drift</span>'
        )
        headline += f" The predictions {verdict} (PSI {number(predictions['psi'])})."
    parts = [paragraph(headline, "headline")]
    if document.get("few_rows") and document["rows"]:
        parts.append(
            paragraph(
                f"Only {document['rows']:,} rows: PSI from so few rows is mostly chance "
                "(about (bins \u2212 1) / rows); capture more before acting on it.",
                "note worse",
            )
        )
    rows = [_feature_row(name, features[name], threshold) for name in features]
    parts.append(
        table(
            ["feature", "PSI", "drift", "missing in training", "in captured", "unseen categories"],
            rows,
            numeric=(1, 3, 4),
        )
    )
    parts.append(
        paragraph(
            f"Drifted features first, then by PSI. A feature drifts when its PSI is at least "
            f'{threshold:g} (see <a href="#method">how to read this</a>); each drifted '
            "feature has its distribution drawn below. Missing: the share of rows without "
            "the value. Unseen: rows whose category the training rows never had.",
            "note",
        )
    )
    return section("Has the data drifted?", *parts, anchor="summary")


def _feature_row(name: str, feature: Mapping[str, Any], threshold: float) -> list[str | Cell]:
    score = feature["psi"]
    drift = feature["drift"]
    missing = feature["missing_rate"]
    unseen = feature.get("unseen")
    if unseen is None:
        unseen_text = ""
    elif not unseen["rows"]:
        unseen_text = "none"
    else:
        more = "+" if unseen["distinct_is_lower_bound"] else ""
        examples = ", ".join(unseen["examples"])
        unseen_text = (
            f"{unseen['rows']:,} rows ({unseen['rate']:.1%}), {unseen['distinct']:,}{more} "
            f"distinct: {examples}"
        )
    return [
        Cell(name, "model" if drift else ""),
        Cell(number(score, 3), "worse" if drift else "", score, name),
        Cell("yes" if drift else "no" if drift is not None else "\u2014", "worse" if drift else ""),
        _percent(missing["baseline"]),
        _percent(missing["captured"]),
        unseen_text,
    ]


def _percent(value: float | None) -> str:
    return "\u2014" if value is None else f"{value:.1%}"


def _predictions(predictions: Mapping[str, Any], threshold: float) -> str:
    if not predictions["rows"]:
        return section(
            "Predictions",
            paragraph(
                "No answers were captured (CaptureOptions without Output): nothing to compare "
                "with the validation predictions.",
                "note",
            ),
            anchor="predictions",
        )
    chart = charts.distributions(
        *_drawn(predictions["bins"]),
        name="predictions",
        baseline_label=f"{predictions.get('from') or 'training'} predictions",
        captured_label="answered",
    )
    facts = table(
        ["", ""],
        [
            ["PSI", Cell(number(predictions["psi"], 3), "", predictions["psi"], "predictions")],
            ["drift", "yes" if predictions["drift"] else "no"],
            ["predictions answered", f"{predictions['rows']:,}"],
            [
                f"{predictions.get('from') or 'training'} range",
                _range(predictions["range"]["baseline"]),
            ],
            ["answered range", _range(predictions["range"]["captured"])],
        ],
    )
    note = paragraph(
        f"The endpoint's answers (endpointOutput) on the bins of the model's "
        f"{escape(predictions.get('from') or 'training')} predictions (their deciles; the "
        f"outer bins are open). Predictions drift when the inputs that matter do, or when "
        f"the mix of rows changes; PSI \u2265 {threshold:g} counts as drift here too.",
        "note",
    )
    return section(
        "Predictions",
        grid(
            figure(chart, "Share of predictions per bin: the model's own against answered"),
            facts + note,
        ),
        anchor="predictions",
    )


def _feature(name: str, feature: Mapping[str, Any]) -> str:
    chart = charts.distributions(*_drawn(feature["bins"]), name=f"feature-{name}")
    missing = feature["missing_rate"]
    facts: list[list[str | Cell]] = [
        ["PSI", Cell(number(feature["psi"], 3), "worse", feature["psi"], name)],
        ["captured rows", f"{feature['rows']:,}"],
        [
            "missing, training \u2192 captured",
            f"{_percent(missing['baseline'])} \u2192 {_percent(missing['captured'])}",
        ],
    ]
    if feature["kind"] == "numeric":
        facts.append(["training range", _range(feature["range"]["baseline"])])
        facts.append(["captured range", _range(feature["range"]["captured"])])
        how = (
            "Bins are the training deciles; the first and last are open, so values outside "
            "the training range land there."
        )
    else:
        unseen = feature["unseen"]
        facts.append(["unseen rows", f"{unseen['rows']:,} ({unseen['rate']:.1%})"])
        if unseen["examples"]:
            facts.append(
                [
                    "unseen, most frequent",
                    ", ".join(
                        f"{label} ({count:,})" for label, count in unseen["examples"].items()
                    ),
                ]
            )
        how = (
            "One bin per category holding at least 1% of the training rows; the rarer "
            "ones share a bin, unseen categories have their own."
        )
    body = grid(
        figure(chart, f"{name}: share of rows per bin, training against captured"),
        table(["", ""], facts) + paragraph(how, "note"),
    )
    return section(f"{name}: drifted", body, anchor=f"feature-{name}")


def _drawn(bins: Mapping[str, Any]) -> tuple[list[str], list[int], list[int]]:
    """The bins worth a bar: those with rows on either side (an empty missing or unseen
    bin is left out of the chart; the JSON keeps every bin)."""
    kept = [
        (label, expected, actual)
        for label, expected, actual in zip(
            bins["labels"], bins["baseline"], bins["captured"], strict=True
        )
        if expected or actual
    ]
    return [k[0] for k in kept], [k[1] for k in kept], [k[2] for k in kept]


def _range(bounds: Sequence[float] | None) -> str:
    if not bounds:
        return "\u2014"
    return f"{number(bounds[0])} to {number(bounds[1])}"


def _method(document: Mapping[str, Any]) -> str:
    threshold, epsilon = document["threshold"], document["epsilon"]
    return section(
        "How to read this",
        paragraph(
            "<strong>PSI</strong> (population stability index) = \u03a3 over bins of "
            "(captured share \u2212 training share) \u00d7 ln(captured share / training share). "
            f"0 is identical; below 0.1 is taken as unchanged, 0.1 to {threshold:g} as a "
            f"moderate shift, and <strong>{threshold:g} or more as drift</strong>: the rule of "
            "thumb of credit scoring, where PSI comes from (Wu and Olson, <em>Enterprise risk "
            "management: coping with model risk in a large bank</em>, Journal of the "
            "Operational Research Society 61(2), 2010; older texts draw the line at 0.25)."
        ),
        paragraph(
            "The bins are the model's baseline.json, made at training from the raw training "
            "rows: numeric columns on their deciles plus a bin for missing values; "
            "categorical columns one bin per category holding at least 1% of the training "
            "rows, one for the rarer ones, one for unseen categories and one for missing "
            f"values. An empty bin counts as a share of {epsilon:g} so that every term is "
            "finite. Captured rows are the requests as the endpoint decoded them, before the "
            "model's cleaning (a new spelling or a zero shows as itself)."
        ),
        paragraph(
            "Drift says the data moved, not that the model got worse: look at what moved "
            "(the charts), whether the model leans on it (the training report's "
            "importance), and retrain on recent data when the change is real.",
            "note",
        ),
        anchor="method",
    )


def _read(document: Mapping[str, Any]) -> str:
    read = document["read"]
    facts = [
        ["capture", document["capture"]],
        *(
            [f"from {_endpoint(source)}", f"{count:,} requests ({source})"]
            for source, count in (document.get("sources") or {}).items()
        ),
        ["since", document.get("since") or "the first capture"],
        ["capture files read", f"{read['files']:,}"],
        ["lines read", f"{read['lines']:,}"],
        [
            "older than --since",
            f"{read['before_since']:,} requests, {read['files_before_since']:,} files not opened",
        ],
        ["unreadable lines", f"{read['unreadable']:,}"],
        ["requests used", f"{document['requests']:,}"],
        ["rows", f"{document['rows']:,}"],
        ["report made", document.get("created") or ""],
    ]
    if document.get("truncated"):
        facts.append(["--max-rows", f"{document['max_rows']:,}: older capture files were not read"])
    parts = [table(["", ""], facts)]
    unreadable = read["unreadable_lines"][:MAX_UNREADABLE_ROWS]
    if unreadable:
        parts.append(
            table(
                ["file", "line", "why it was skipped"],
                [[u["file"], f"{u['line']:,}", u["reason"]] for u in unreadable],
                numeric=(1,),
                caption="Unreadable lines"
                + (
                    f" (the first {len(unreadable)})"
                    if read["unreadable"] > len(unreadable)
                    else ""
                ),
            )
        )
    return section("What was read", *parts, anchor="read")
