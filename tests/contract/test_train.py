"""The real ``train`` program on a temporary /opt/ml, as SageMaker runs it."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bigmart.local.training import prepare_job
from bigmart.model.metrics import METRIC_DEFINITIONS
from support.training import FAST_HP, run_train


def _assert_failed_cleanly(root: Path, result, reason_fragment: str) -> str:
    assert result.returncode != 0, result.stdout
    failure = (root / "output" / "failure").read_text()
    first_line = failure.splitlines()[0]
    assert reason_fragment in first_line, failure
    assert "Traceback" in failure  # after the reason
    assert list((root / "model").iterdir()) == []
    assert not [p for p in root.iterdir() if p.name.startswith(".model-staging")]
    return first_line


def test_trains_on_real_data_and_writes_model_metrics_and_metric_lines(tmp_path, real_train_csv):
    prepare_job(
        tmp_path, {"training": real_train_csv}, {**FAST_HP, "cv_folds": "3"}, copy_data=True
    )
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stdout
    assert not (tmp_path / "output" / "failure").exists()
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "baseline.json",
        "featurizer.json",
        "metadata.json",
        "model.onnx",
    ]
    metrics = json.loads((tmp_path / "output" / "data" / "metrics.json").read_text())
    # Every MetricDefinition regex finds its metric in the log, with the written value.
    for definition in METRIC_DEFINITIONS:
        match = re.search(definition["Regex"], result.stdout)
        assert match, f"{definition['Name']} not found in the log"
        assert float(match.group(1)) == pytest.approx(metrics[definition["Name"]], abs=1e-4)
    assert 900 < metrics["validation:rmse"] < 1300
    report = json.loads((tmp_path / "output" / "data" / "report.json").read_text())
    assert report["metrics"] == metrics
    assert report["baselines"]["mean"]["cv:rmse_mean"] > metrics["cv:rmse_mean"]
    assert (tmp_path / "output" / "data" / "report.html").stat().st_size > 100_000


def test_validation_channel_replaces_the_holdout(tmp_path, synthetic_csv, real_train_csv):
    prepare_job(
        tmp_path, {"training": synthetic_csv, "validation": real_train_csv}, FAST_HP, copy_data=True
    )
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stdout
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["rows"] == {"training": 3000, "validation": 8523}


def test_many_gzipped_files_in_subfolders(tmp_path, real_train_csv):
    prepare_job(tmp_path, {}, FAST_HP, copy_data=True)
    lines = real_train_csv.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    channel = tmp_path / "input" / "data" / "training"
    for part, start in enumerate(range(0, len(rows), 3000)):
        folder = channel / f"part={part}"
        folder.mkdir(parents=True)
        with gzip.open(folder / "rows.csv.gz", "wt") as handle:
            handle.write(header + "".join(rows[start : start + 3000]))
    (tmp_path / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"training": {"TrainingInputMode": "File"}})
    )
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "read 8523 training rows from 3 file(s)" in result.stdout


def run_pipe_job(root: Path, stream: bytes) -> subprocess.CompletedProcess[str]:
    """``train`` in Pipe mode, with ``stream`` written into the ``training_0`` FIFO."""
    prepare_job(root, {}, FAST_HP, copy_data=True)
    (root / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"training": {"TrainingInputMode": "Pipe"}})
    )
    fifo = root / "input" / "data" / "training_0"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    feeder = threading.Thread(target=_feed, args=(fifo, stream))
    feeder.start()
    result = run_train(root)
    feeder.join(timeout=10)
    return result


def _feed(fifo: Path, stream: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):  # train stopped reading: it refused the stream
        fifo.write_bytes(stream)


def test_pipe_mode_reads_the_training_0_fifo(tmp_path, real_train_csv):
    result = run_pipe_job(tmp_path, real_train_csv.read_bytes())
    assert result.returncode == 0, result.stdout
    assert "read 8523 training rows" in result.stdout


def test_pipe_mode_with_several_objects_skips_their_repeated_headers(tmp_path, real_train_csv):
    header, *rows = real_train_csv.read_bytes().splitlines(keepends=True)
    objects = [header + b"".join(rows[:4000]), header + b"".join(rows[4000:])]
    result = run_pipe_job(tmp_path, b"".join(objects))
    assert result.returncode == 0, result.stdout
    assert "read 8523 training rows" in result.stdout


def _bad_job(tmp_path: Path, real_train_csv: Path, edit) -> Path:
    lines = real_train_csv.read_text().splitlines()[:200]
    text = edit(lines)
    data = tmp_path / "train.csv"
    if isinstance(text, bytes):
        data.write_bytes(text)
    else:
        data.write_text(text)
    prepare_job(tmp_path / "opt_ml", {"training": data}, FAST_HP, copy_data=True)
    return tmp_path / "opt_ml"


def _drop_column(lines, name):
    index = lines[0].split(",").index(name)
    return "\n".join(
        ",".join(c for i, c in enumerate(line.split(",")) if i != index) for line in lines
    )


def _text_in_mrp(lines):
    cells = lines[9].split(",")
    cells[5] = "expensive"
    lines[9] = ",".join(cells)
    return "\n".join(lines)


def _blank_lines_then_text_in_mrp(lines):
    lines = _text_in_mrp(lines).splitlines()
    lines[4:4] = ["", "  "]  # pandas skips both; the bad row is now on line 12
    return "\n".join(lines)


def _latin1_on_line_150(lines):
    encoded = [line.encode() for line in lines]
    encoded[149] = b"caf\xe9" + encoded[149]
    return b"\n".join(encoded)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda lines: _drop_column(lines, "Item_MRP"), "missing column(s) Item_MRP"),
        (_text_in_mrp, "line 10, column 'Item_MRP': expected a number, got 'expensive'"),
        (_blank_lines_then_text_in_mrp, "line 12, column 'Item_MRP': expected a number"),
        (_latin1_on_line_150, "line 150: not UTF-8 text: byte 0xe9 at offset 3 of the line"),
        (lambda lines: "", "the file is empty"),
        (lambda lines: b"\x1f\x8b\x08garbage", "unreadable gzip"),
    ],
    ids=["missing-column", "text-in-numeric", "blank-lines", "latin-1", "empty-file", "bad-gzip"],
)
def test_bad_data_fails_with_a_specific_reason_and_no_model(
    tmp_path, real_train_csv, edit, fragment
):
    root = _bad_job(tmp_path, real_train_csv, edit)
    if fragment == "unreadable gzip":
        source = root / "input" / "data" / "training" / "train.csv"
        source.rename(source.with_name("train.csv.gz"))
    result = run_train(root)
    first_line = _assert_failed_cleanly(root, result, fragment)
    assert first_line.startswith("Bad training data: ")
    assert "train.csv" in first_line


def test_no_files_in_the_channel(tmp_path):
    prepare_job(tmp_path, {}, FAST_HP, copy_data=True)
    (tmp_path / "input" / "data" / "training").mkdir(parents=True)
    (tmp_path / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"training": {}})
    )
    _assert_failed_cleanly(tmp_path, run_train(tmp_path), "no CSV files")


def test_missing_training_channel(tmp_path, real_train_csv):
    prepare_job(tmp_path, {"validation": real_train_csv}, FAST_HP, copy_data=True)
    _assert_failed_cleanly(tmp_path, run_train(tmp_path), "'training' channel is required")


@pytest.mark.parametrize(
    ("hyperparameters", "fragment"),
    [
        ({"n_trees": "10"}, "unknown hyper-parameter(s) n_trees; valid: n_estimators"),
        ({"max_depth": "deep"}, "hyper-parameter max_depth='deep' is invalid"),
    ],
)
def test_bad_hyperparameters_fail_naming_them(tmp_path, real_train_csv, hyperparameters, fragment):
    prepare_job(tmp_path, {"training": real_train_csv}, hyperparameters, copy_data=True)
    _assert_failed_cleanly(tmp_path, run_train(tmp_path), fragment)


def test_keys_sagemaker_adds_to_hyperparameters_are_logged_and_ignored(tmp_path, real_train_csv):
    added = {
        "_tuning_objective_metric": "validation:rmse",  # Automatic Model Tuning
        "sagemaker_job_name": "bigmart-tune-001",  # the Python SDK, for some estimators
        "sagemaker_region": "us-east-1",
    }
    prepare_job(tmp_path, {"training": real_train_csv}, {**FAST_HP, **added}, copy_data=True)
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stdout
    assert (
        "ignoring hyper-parameter(s) set by SageMaker: "
        "_tuning_objective_metric, sagemaker_job_name, sagemaker_region"
    ) in result.stdout
    metadata = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert metadata["hyperparameters"]["n_estimators"] == "20"
    assert not set(added) & set(metadata["hyperparameters"])


def _strict_json(path: Path):
    """Parse as strict JSON parsers do: NaN and Infinity are not JSON."""

    def refuse(constant: str):
        raise ValueError(f"{path.name}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_an_undefined_metric_is_null_in_json_and_has_no_metric_line(tmp_path, real_train_csv):
    one_row = tmp_path / "one_row.csv"
    one_row.write_text("\n".join(real_train_csv.read_text().splitlines()[:2]) + "\n")
    root = tmp_path / "opt_ml"
    prepare_job(root, {"training": real_train_csv, "validation": one_row}, FAST_HP, copy_data=True)
    result = run_train(root)
    assert result.returncode == 0, result.stdout
    metrics = _strict_json(root / "output" / "data" / "metrics.json")
    assert metrics["validation:r2"] is None  # R² of one row is undefined
    assert metrics["validation:rmse"] >= 0
    assert _strict_json(root / "model" / "metadata.json")["metrics"] == metrics
    assert "validation:r2 is undefined" in result.stdout
    assert "validation:r2=" not in result.stdout  # no line a MetricDefinitions regex reads


def test_several_hosts_are_refused(tmp_path, real_train_csv):
    prepare_job(tmp_path, {"training": real_train_csv}, FAST_HP, copy_data=True)
    (tmp_path / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]})
    )
    _assert_failed_cleanly(tmp_path, run_train(tmp_path), "set InstanceCount to 1")


def test_sigterm_stops_training_with_stopped_in_the_failure_file(tmp_path, real_train_csv):
    prepare_job(
        tmp_path,
        {"training": real_train_csv},
        {"n_estimators": "3000", "max_depth": "None", "min_samples_leaf": "1", "cv_folds": "5"},
        copy_data=True,
    )
    train = Path(sys.executable).with_name("train")
    process = subprocess.Popen(
        [str(train)],
        env={**os.environ, "OPT_ML": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait until it is reading and fitting
        if "training rows" in line:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode != 0
    failure = (tmp_path / "output" / "failure").read_text()
    assert "stopped" in failure.splitlines()[0]
    assert list((tmp_path / "model").iterdir()) == []


# Bounded input: a line of any length must not cost memory or fill the failure file.

#: Peak RSS allowed to ``train`` while it refuses a 200 MB line: far above its own size
#: (about 170 MB: pandas, numpy, scikit-learn), far below what reading the line whole
#: costs (2.2 GB at commit 58de0fa). The plain file is sparse and the gzipped one is
#: under 1 MB, so the test writes little.
TRAIN_RSS_BOUND_MB = 400
HUGE_LINE_BYTES = 200 << 20


def _train_with_peak_rss(root: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``train`` from a fresh Python and return its result and peak RSS in MB; the
    parent's own children (other tests' jobs) do not count."""
    probe = (
        "import resource, subprocess, sys\n"
        "result = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(result.stdout)\n"
        "print('peak-rss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(result.returncode)\n"
    )
    train = Path(sys.executable).with_name("train")
    result = subprocess.run(
        [sys.executable, "-c", probe, str(train)],
        env={**os.environ, "OPT_ML": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak_kb = int(re.findall(r"^peak-rss-kb (\d+)$", result.stdout, re.MULTILINE)[-1])
    return result, peak_kb / 1024


def _channel_file(root: Path, name: str) -> Path:
    prepare_job(root, {}, FAST_HP, copy_data=True)
    (root / "input" / "config" / "inputdataconfig.json").write_text(
        json.dumps({"training": {"TrainingInputMode": "File"}})
    )
    folder = root / "input" / "data" / "training"
    folder.mkdir(parents=True)
    return folder / name


def test_a_20_mb_header_gives_a_small_failure_file_naming_the_file(tmp_path):
    data = _channel_file(tmp_path, "wide.csv")
    data.write_bytes(b"Item_Identifier," * ((20 << 20) // 16) + b"\nFDA15\n")
    result = run_train(tmp_path)
    first_line = _assert_failed_cleanly(tmp_path, result, "header row is longer than")
    assert str(data) in first_line and "line 1" in first_line
    assert (tmp_path / "output" / "failure").stat().st_size < 16_000
    assert len(result.stdout) < 16_000


def test_a_line_without_end_is_refused_with_bounded_memory(tmp_path, real_train_csv):
    data = _channel_file(tmp_path, "train.csv")
    with open(data, "wb") as handle:
        handle.write(b"".join(real_train_csv.read_bytes().splitlines(keepends=True)[:3]))
        handle.truncate(HUGE_LINE_BYTES)  # zeros (valid UTF-8), never a newline
    result, peak_mb = _train_with_peak_rss(tmp_path)
    first_line = _assert_failed_cleanly(tmp_path, result, f"{data}, line 4: the row is longer")
    assert first_line.startswith("Bad training data: ")
    assert peak_mb < TRAIN_RSS_BOUND_MB, f"train peaked at {peak_mb:.0f} MB"
    assert (tmp_path / "output" / "failure").stat().st_size < 16_000


def test_a_gzipped_line_without_end_is_refused_with_bounded_memory(tmp_path, real_train_csv):
    data = _channel_file(tmp_path, "train.csv.gz")
    with gzip.open(data, "wb", compresslevel=1) as handle:
        handle.write(b"".join(real_train_csv.read_bytes().splitlines(keepends=True)[:3]))
        for _ in range(HUGE_LINE_BYTES >> 20):
            handle.write(b"7" * (1 << 20))
    result, peak_mb = _train_with_peak_rss(tmp_path)
    _assert_failed_cleanly(tmp_path, result, f"{data}, line 4: the row is longer")
    assert peak_mb < TRAIN_RSS_BOUND_MB, f"train peaked at {peak_mb:.0f} MB"


def test_pipe_mode_line_without_end_is_refused(tmp_path, real_train_csv):
    head = b"".join(real_train_csv.read_bytes().splitlines(keepends=True)[:3])
    result = run_pipe_job(tmp_path, head + b"x" * (8 << 20))
    first_line = _assert_failed_cleanly(tmp_path, result, "training_0, line 4: the row is longer")
    assert first_line.startswith("Bad training data: ")


def test_any_long_message_is_clipped_in_the_failure_file(tmp_path, monkeypatch):
    from bigmart.container import train
    from bigmart.container.paths import OptMl

    def fail(paths):
        raise RuntimeError("boom " + "x" * (20 << 20))

    monkeypatch.setattr(train, "_train", fail)
    assert train.run(OptMl(tmp_path)) == train.EXIT_FAILED
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("RuntimeError: boom xxx") and "Traceback" in failure
    assert len(failure) < 16_000


def test_a_huge_hyperparameter_gives_a_small_failure_file(tmp_path, real_train_csv):
    prepare_job(
        tmp_path, {"training": real_train_csv}, {"n_trees" * 100_000: "1" * 100_000}, copy_data=True
    )
    result = run_train(tmp_path)
    _assert_failed_cleanly(tmp_path, result, "unknown hyper-parameter(s) n_treesn_trees")
    assert (tmp_path / "output" / "failure").stat().st_size < 16_000
    assert len(result.stdout) < 16_000


def test_a_latest_link_in_the_channel_reads_the_data_once(tmp_path, real_train_csv):
    prepare_job(tmp_path, {"training": real_train_csv}, FAST_HP, copy_data=True)
    channel = tmp_path / "input" / "data" / "training"
    (channel / "latest").symlink_to(".", target_is_directory=True)
    (channel / "loop").symlink_to(channel, target_is_directory=True)
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "read 8523 training rows from 1 file(s)" in result.stdout
    assert sum("already read" in line for line in result.stdout.splitlines()) == 2


def test_the_training_report_describes_the_job_it_ran_in(trained_model, real_train_csv):
    """report.json beside metrics.json: baselines, residual groups, importance and the
    cleaning's counts, which add up to what the real file holds."""
    import pandas as pd

    data = trained_model.parent / "output" / "data"
    metrics = json.loads((data / "metrics.json").read_text())
    report = json.loads((data / "report.json").read_text())
    assert report["metrics"] == metrics
    assert report["rows"] == {"training": 6818, "validation": 1705}
    for baseline in ("mean", "outlet_mean"):
        assert report["baselines"][baseline]["validation:rmse"] > metrics["validation:rmse"]
    by_type = report["residuals"]["Outlet_Type"]
    assert sum(group["rows"] for group in by_type) == 1705 and len(by_type) == 4
    assert len(report["residuals"]["Outlet_Identifier"]) == 10
    importance = report["importance"]["columns"]
    assert importance[0]["column"] == "Item_MRP" and len(importance) == 11
    assert report["model"]["onnx_bytes"] == (trained_model / "model.onnx").stat().st_size

    raw = pd.read_csv(real_train_csv, keep_default_na=False)
    cleaning = report["cleaning"]
    both = [cleaning["training"], cleaning["validation"]]
    assert sum(c["Item_Weight"]["missing"] for c in both) == (raw["Item_Weight"] == "").sum()
    assert sum(c["Outlet_Size"]["missing"] for c in both) == (raw["Outlet_Size"] == "").sum()
    assert (
        sum(c["Item_Visibility"]["zero"] for c in both)
        == (raw["Item_Visibility"].astype(float) == 0).sum()
    )
    edible = raw[~raw["Item_Identifier"].str.startswith("NC")]
    respelled = edible["Item_Fat_Content"].isin(["LF", "low fat", "reg"]).sum()
    assert sum(c["Item_Fat_Content"]["respelled"] for c in both) == respelled
    assert set(cleaning["unseen_in_validation"]) >= {"Item_Identifier", "Outlet_Identifier"}
