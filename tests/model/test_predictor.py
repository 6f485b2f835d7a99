"""The predictor checks itself at load: files whose checksums were recomputed after an
edit must fail there (issue 10, item 3), not answer 500 or blame the client later."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bigmart.codecs import decode
from bigmart.container.serve import EXIT_NO_MODEL
from bigmart.local.server_process import ServerError
from bigmart.model.artifact import ArtifactError, ModelArtifact, read_model, write_model
from bigmart.model.features import FEATURE_NAMES_OUT
from bigmart.model.predictor import PROBE_KEY, TYPICAL_ROW, Predictor
from bigmart.model.row_order import METADATA_KEY as ROW_ORDER_KEY
from bigmart.schema import columns_from_records
from support.servers import serve_process

WIDTH = len(FEATURE_NAMES_OUT)


def _matmul_onnx(weights: np.ndarray) -> bytes:
    """An ONNX model with the forest's input (float [N, 12]) giving ``input @ weights``."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weights"], ["variable"])],
        "impostor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, WIDTH])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, weights.shape[1]])],
        [helper.make_tensor("weights", TensorProto.FLOAT, weights.shape, weights.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _tampered(trained_model: Path, folder: Path, **changes) -> Path:
    """A copy of the model with some files replaced and every checksum recomputed, as a
    careless hand edit or a bad copy script would leave it."""
    artifact = read_model(trained_model)
    artifact.metadata = {k: v for k, v in artifact.metadata.items() if k not in ("files",)}
    for name, value in changes.items():
        setattr(artifact, name, value)
    write_model(artifact, folder)
    return folder


def _load_error(folder: Path) -> str:
    with pytest.raises(ArtifactError) as caught:
        Predictor.load(folder)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_training_stores_a_probe_that_the_model_reproduces(trained_model):
    metadata = read_model(trained_model).metadata
    probe = metadata[PROBE_KEY]
    assert 1 <= len(probe["rows"]) == len(probe["predictions"]) <= 16
    outlets = {row["Outlet_Identifier"] for row in probe["rows"]}
    assert len(outlets) == len(probe["rows"])  # one row per outlet
    predictor = Predictor.load(trained_model)
    got = predictor.predict(columns_from_records(probe["rows"]))
    np.testing.assert_allclose(got, probe["predictions"], rtol=0, atol=1e-3)


def test_a_featurizer_edited_so_transform_raises_fails_at_load(tmp_path, trained_model):
    featurizer = copy.deepcopy(read_model(trained_model).featurizer)
    featurizer["state"]["item_visibility_"] = []  # parses, but transform cannot use it
    folder = _tampered(trained_model, tmp_path / "m", featurizer=featurizer)
    message = _load_error(folder)
    assert message.startswith("featurizer.json: self-check failed"), message


def test_a_featurizer_edited_so_predictions_change_fails_at_load(tmp_path, trained_model):
    featurizer = copy.deepcopy(read_model(trained_model).featurizer)
    featurizer["state"]["categories_"]["Outlet_Type"].reverse()  # other codes, no error
    folder = _tampered(trained_model, tmp_path / "m", featurizer=featurizer)
    message = _load_error(folder)
    assert "self-check failed: probe row" in message and "changed after training" in message


@pytest.mark.parametrize(
    ("weights", "says"),
    [
        (np.full((WIDTH, 1), np.nan, dtype=np.float32), "scored nan; expected a finite number"),
        (np.ones((WIDTH, 2), dtype=np.float32), "expected one number per row"),
        (np.ones((WIDTH, 1), dtype=np.float32), "self-check failed: probe row 0"),
    ],
    ids=["nan", "two-outputs-per-row", "finite-garbage"],
)
def test_an_onnx_model_of_the_right_width_but_wrong_answers_fails_at_load(
    tmp_path, trained_model, weights, says
):
    folder = _tampered(trained_model, tmp_path / "m", onnx=_matmul_onnx(weights))
    message = _load_error(folder)
    assert message.startswith("model.onnx") and says in message, message


def test_a_model_from_before_the_probe_scores_a_typical_row(tmp_path, trained_model):
    artifact = read_model(trained_model)
    old = {k: v for k, v in artifact.metadata.items() if k != PROBE_KEY}
    Predictor.load(_tampered(trained_model, tmp_path / "old", metadata=old))
    nan = _matmul_onnx(np.full((WIDTH, 1), np.nan, dtype=np.float32))
    folder = _tampered(trained_model, tmp_path / "old-nan", metadata=old, onnx=nan)
    assert "scored nan" in _load_error(folder)
    assert set(TYPICAL_ROW) == set(columns_from_records([TYPICAL_ROW]))


def test_a_malformed_probe_is_named(tmp_path, trained_model):
    metadata = dict(read_model(trained_model).metadata)
    metadata[PROBE_KEY] = {"rows": [TYPICAL_ROW], "predictions": []}
    folder = _tampered(trained_model, tmp_path / "m", metadata=metadata)
    assert _load_error(folder).startswith(f"metadata.json: {PROBE_KEY!r} must be")


def test_a_predictor_built_in_memory_checks_itself_too(trained_model):
    artifact = read_model(trained_model)
    bad = ModelArtifact(
        onnx=_matmul_onnx(np.full((WIDTH, 1), np.nan, dtype=np.float32)),
        featurizer=artifact.featurizer,
        metadata={},
    )
    with pytest.raises(ArtifactError, match="self-check failed"):
        Predictor(bad)


def test_serve_on_a_tampered_model_exits_3_and_never_answers_ping(tmp_path, trained_model):
    featurizer = copy.deepcopy(read_model(trained_model).featurizer)
    featurizer["state"]["categories_"]["Outlet_Type"].reverse()
    _tampered(trained_model, tmp_path / "opt_ml" / "model", featurizer=featurizer)
    server = serve_process(tmp_path / "opt_ml", tmp_path / "serve.log")
    with contextlib.suppress(ServerError):  # it exits: asserted below
        server.start()
    try:
        assert server.process.wait(timeout=60) == EXIT_NO_MODEL
    finally:
        server.stop()
    with pytest.raises(OSError):  # nothing ever listened: /ping cannot answer at all
        server.request("GET", "/ping", timeout=5)
    log = server.log()
    errors = [line for line in log.splitlines() if "cannot load the model" in line]
    assert len(errors) == 1 and "self-check failed" in errors[0], log
    assert "Listening at" not in log and "Traceback" not in log


def test_a_batch_is_scored_in_the_trees_order_and_answered_in_its_own(trained_model, real_test_csv):
    """Rows sorted for the trees give each row the answer it gets alone, in request order."""
    assert read_model(trained_model).metadata[ROW_ORDER_KEY]
    predictor = Predictor.load(trained_model)
    lines = real_test_csv.read_bytes().splitlines()[:401]
    matrix = predictor.featurizer.transform(decode(b"\n".join(lines), "text/csv"))
    one_by_one = np.concatenate([predictor.predict_matrix(row[None, :]) for row in matrix])
    got = predictor.predict_matrix(matrix)
    assert got.dtype == np.float32 and got.shape == (400,)
    np.testing.assert_array_equal(got, one_by_one)


def test_a_model_without_sort_keys_scores_its_batches_as_sent(tmp_path, trained_model):
    artifact = read_model(trained_model)
    old = {k: v for k, v in artifact.metadata.items() if k != ROW_ORDER_KEY}
    matrix = np.random.default_rng(0).uniform(0, 5, size=(100, WIDTH)).astype(np.float32)
    before = Predictor.load(_tampered(trained_model, tmp_path / "old", metadata=old))
    np.testing.assert_array_equal(
        before.predict_matrix(matrix), Predictor.load(trained_model).predict_matrix(matrix)
    )


def test_malformed_sort_keys_are_named(tmp_path, trained_model):
    metadata = dict(read_model(trained_model).metadata)
    metadata[ROW_ORDER_KEY] = ["Item_MRP", "Shelf_Height"]
    folder = _tampered(trained_model, tmp_path / "m", metadata=metadata)
    assert _load_error(folder).startswith(f"metadata.json: {ROW_ORDER_KEY!r} must be")
