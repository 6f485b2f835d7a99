"""Where one worker's time goes on a request: decode, featurize, the tree operator, encode.

Run from the repository root::

    .venv/bin/python -m benchmarks.predict_profile [--model-dir DIR] [--seconds S] [--operators]

Without ``--model-dir`` it trains the default model (``bigmart train``, into a scratch
folder it prints and removes when it ends). On
one thread it times each stage of ``POST /invocations`` (text/csv in, text/csv out) on raw
``test.csv`` bodies of 1 and 1,000 rows, taking the stages in turn round after round so that
noise from the shared machine hits them alike. It prints per-stage medians of this thread's
CPU time (``time.thread_time``: time a neighbour takes the core is not counted) and of wall
time, each stage's share of the CPU total, and rows/s.

``--operators`` then compares ways to run the tree operator on the same 1,000-row matrix,
interleaved: the artifact's graph with rows as sent and in the predictor's order, with ONNX
Runtime's graph optimisations off, and with the ensemble rewritten as the ai.onnx.ml opset 5
``TreeEnsemble`` operator.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scratch import scratch_folder

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO.parent / "shared" / "data" / "bigmart"
BIN = Path(sys.prefix) / "bin"
SIZES = (1, 1000)
#: Calls of one stage in a row per round: enough to amortise the clock, few enough that a
#: burst of load on the machine lands in every stage's samples.
CALLS_PER_ROUND = {1: 50, 1000: 3}


def raw_rows(test_csv: Path, rows: int) -> bytes:
    """The first ``rows`` data lines of a Big Mart CSV, header dropped (cycled if short),
    as ``benchmarks/serving.py`` sends them."""
    lines = [line for line in test_csv.read_bytes().splitlines()[1:] if line.strip()]
    return b"\n".join(lines[i % len(lines)] for i in range(rows)) + b"\n"


def train_default(train_csv: Path, workdir: Path) -> Path:
    """The default model, trained by the product's own CLI; returns its model folder."""
    command = [BIN / "bigmart", "train", "--data", train_csv, "--output", workdir, "--name", "job"]
    env = dict(os.environ, BIGMART_HOME=str(workdir / "bigmart-home"))
    subprocess.run([str(c) for c in command], cwd=REPO, env=env, check=True, capture_output=True)
    return workdir / "job" / "model"


def interleaved(
    stages: dict[str, Callable[[], Any]], rounds: int, calls: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per stage, the CPU and wall seconds of each call, the stages taken in turn."""
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in stages}
    for run in stages.values():  # first calls allocate buffers and fill caches
        run()
    for _ in range(rounds):
        for name, run in stages.items():
            cpu, wall = samples[name]
            for _ in range(calls):
                started_cpu, started_wall = time.thread_time(), time.perf_counter()
                run()
                cpu.append(time.thread_time() - started_cpu)
                wall.append(time.perf_counter() - started_wall)
    return samples


def rounds_for(stages: dict[str, Callable[[], Any]], calls: int, seconds: float) -> int:
    """How many rounds fit in ``seconds``, judged by one timed round."""
    started = time.perf_counter()
    for run in stages.values():
        for _ in range(calls):
            run()
    return max(5, int(seconds / max(time.perf_counter() - started, 1e-6)))


def profile_stages(model_dir: Path, test_csv: Path, seconds: float) -> None:
    """Per-stage medians for 1-row and 1,000-row requests."""
    from bigmart.codecs import decode, encode_csv
    from bigmart.model.predictor import Predictor

    predictor = Predictor.load(model_dir)
    for rows in SIZES:
        body = raw_rows(test_csv, rows)
        batch = decode(body, "text/csv")
        matrix = predictor.featurizer.transform(batch)
        predictions = predictor.predict_matrix(matrix)
        stages: dict[str, Callable[[], Any]] = {
            "decode (CSV)": lambda body=body: decode(body, "text/csv"),
            "featurize": lambda batch=batch: predictor.featurizer.transform(batch),
            "trees (ONNX Runtime)": lambda matrix=matrix: predictor.predict_matrix(matrix),
            "encode (CSV)": lambda predictions=predictions: encode_csv(predictions),
            "whole request": lambda body=body: encode_csv(
                predictor.predict(decode(body, "text/csv"))
            ),
        }
        calls = CALLS_PER_ROUND[rows]
        samples = interleaved(stages, rounds_for(stages, calls, seconds), calls)
        unit, scale = ("us", 1e6) if rows == 1 else ("ms", 1e3)
        total = statistics.median(samples["whole request"][0])
        print(f"\n{rows:,}-row request ({len(body):,} bytes), medians on one thread:")
        print(f"  {'stage':24} {'CPU ' + unit:>10} {'wall ' + unit:>10} {'share':>7}")
        for name, (cpu, wall) in samples.items():
            cpu_median, wall_median = statistics.median(cpu), statistics.median(wall)
            share = "" if name == "whole request" else f"{cpu_median / total:7.0%}"
            print(f"  {name:24} {cpu_median * scale:10.1f} {wall_median * scale:10.1f} {share:>7}")
        print(f"  rows/s (CPU): {rows / total:,.0f}")


# -- the tree operator ---------------------------------------------------------------------


def session(model: Any, *, optimise: bool = True) -> Any:
    """An ONNX Runtime session as the predictor makes it (one thread, sequential)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    if not optimise:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def as_tree_ensemble(model: Any) -> Any:
    """The model with its ``TreeEnsembleRegressor`` (ai.onnx.ml opset 1-3) rewritten as
    ai.onnx.ml opset 5 ``TreeEnsemble``: same trees, same thresholds, same leaf values."""
    from onnx import TensorProto, helper

    graph = model.graph
    (old,) = [node for node in graph.node if node.op_type == "TreeEnsembleRegressor"]
    a = {attribute.name: helper.get_attribute_value(attribute) for attribute in old.attribute}
    if {mode for mode in a["nodes_modes"]} - {b"BRANCH_LEQ", b"LEAF"}:
        raise ValueError("only BRANCH_LEQ trees are rewritten")
    position: dict[tuple[int, int], tuple[int, int]] = {}  # (tree, node) -> (index, is_leaf)
    splits, leaves = [], []
    for i, (tree, node, mode) in enumerate(
        zip(a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"], strict=True)
    ):
        if mode == b"LEAF":
            position[tree, node] = (len(leaves), 1)
            leaves.append(i)
        else:
            position[tree, node] = (len(splits), 0)
            splits.append(i)
    weights = np.zeros(len(leaves), dtype=np.float32)
    for tree, node, weight in zip(
        a["target_treeids"], a["target_nodeids"], a["target_weights"], strict=True
    ):
        weights[position[tree, node][0]] += weight
    true_ids, true_leafs, false_ids, false_leafs = [], [], [], []
    for i in splits:
        tree = a["nodes_treeids"][i]
        index, leaf = position[tree, a["nodes_truenodeids"][i]]
        true_ids.append(index)
        true_leafs.append(leaf)
        index, leaf = position[tree, a["nodes_falsenodeids"][i]]
        false_ids.append(index)
        false_leafs.append(leaf)
    roots = [position[tree, 0][0] for tree in sorted(set(a["nodes_treeids"]))]
    thresholds = np.array([a["nodes_values"][i] for i in splits], dtype=np.float32)
    new = helper.make_node(
        "TreeEnsemble",
        list(old.input),
        list(old.output),
        domain="ai.onnx.ml",
        aggregate_function=1,  # SUM: skl2onnx already divided each leaf by the tree count
        post_transform=0,
        n_targets=1,
        tree_roots=roots,
        nodes_featureids=[a["nodes_featureids"][i] for i in splits],
        nodes_splits=helper.make_tensor("splits", TensorProto.FLOAT, [len(splits)], thresholds),
        nodes_modes=helper.make_tensor(
            "modes", TensorProto.UINT8, [len(splits)], [0] * len(splits)
        ),
        nodes_truenodeids=true_ids,
        nodes_trueleafs=true_leafs,
        nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leafs,
        leaf_targetids=[0] * len(leaves),
        leaf_weights=helper.make_tensor("weights", TensorProto.FLOAT, [len(leaves)], weights),
    )
    nodes = [new if node is old else node for node in graph.node]
    rewritten = helper.make_graph(
        nodes, graph.name, graph.input, graph.output, list(graph.initializer)
    )
    opsets = [o for o in model.opset_import if o.domain not in ("", "ai.onnx.ml")]
    opsets += [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    result = helper.make_model(rewritten, opset_imports=opsets)
    result.ir_version = 10
    return result


def compare_operators(model_dir: Path, test_csv: Path, seconds: float) -> None:
    """The tree operator's variants on one 1,000-row matrix, interleaved."""
    import onnx
    import onnxruntime

    from bigmart.codecs import decode
    from bigmart.model.predictor import Predictor

    predictor = Predictor.load(model_dir)
    matrix = predictor.featurizer.transform(decode(raw_rows(test_csv, 1000), "text/csv"))
    model = onnx.load(model_dir / "model.onnx")
    name = model.graph.input[0].name
    as_sent = session(model)
    unoptimised = session(model, optimise=False)
    variants: dict[str, Callable[[], Any]] = {
        "as exported, rows as sent": lambda: as_sent.run(None, {name: matrix})[0],
        "as exported, predictor's row order": lambda: predictor.predict_matrix(matrix),
        "graph optimisations off, rows as sent": lambda: unoptimised.run(None, {name: matrix})[0],
    }
    try:
        opset5 = session(as_tree_ensemble(model))
    except Exception as error:  # an older ONNX Runtime or another operator
        print(f"(ai.onnx.ml opset 5 TreeEnsemble not compared: {error})")
    else:
        variants["ai.onnx.ml 5 TreeEnsemble, rows as sent"] = lambda: opset5.run(
            None, {name: matrix}
        )[0]
    reference = as_sent.run(None, {name: matrix})[0].reshape(-1)
    samples = interleaved(variants, rounds_for(variants, 3, seconds), 3)
    base = statistics.median(samples["as exported, rows as sent"][0])
    ml = {o.domain: o.version for o in model.opset_import}.get("ai.onnx.ml")
    print(
        f"\ntree operator, 1,000 rows, onnxruntime {onnxruntime.__version__}, "
        f"model ai.onnx.ml opset {ml}:"
    )
    print(f"  {'variant':42} {'CPU ms':>8} {'wall ms':>8} {'speed-up':>9} {'max |diff|':>11}")
    for label, (cpu, wall) in samples.items():
        diff = float(np.abs(np.asarray(variants[label]()).reshape(-1) - reference).max())
        cpu_median = statistics.median(cpu)
        print(
            f"  {label:42} {cpu_median * 1e3:8.2f} {statistics.median(wall) * 1e3:8.2f} "
            f"{base / cpu_median:8.2f}x {diff:11.4g}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="a model folder (default: train one)")
    parser.add_argument("--train", type=Path, default=DATA_DIR / "train.csv")
    parser.add_argument("--test", type=Path, default=DATA_DIR / "test.csv")
    parser.add_argument("--seconds", type=float, default=4.0, help="per body size")
    parser.add_argument("--operators", action="store_true", help="compare tree operators too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with scratch_folder("profile") as workdir:
        model_dir = args.model_dir or train_default(args.train, workdir)
        print(f"model: {model_dir}")
        profile_stages(model_dir, args.test, args.seconds)
        if args.operators:
            compare_operators(model_dir, args.test, args.seconds)


if __name__ == "__main__":
    main()
