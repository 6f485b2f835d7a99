import json
from pathlib import Path

import pytest

from bigmart.model.archive import opened_model, pack
from bigmart.model.artifact import (
    MEMBER_LIMITS,
    ArtifactError,
    ModelArtifact,
    read_model,
    write_model,
)
from bigmart.model.predictor import Predictor

MEMBER_NAMES = list(MEMBER_LIMITS)


def test_trained_model_folder_holds_only_data_files(trained_model: Path):
    names = sorted(p.name for p in trained_model.iterdir())
    assert names == ["baseline.json", "featurizer.json", "metadata.json", "model.onnx"]
    for path in trained_model.rglob("*"):
        assert path.suffix not in {".pkl", ".pickle", ".joblib"}
        assert not path.read_bytes().startswith(b"\x80")  # no pickle protocol header


def test_metadata_records_hyperparameters_metrics_versions_rows_and_checksums(trained_model):
    metadata = json.loads((trained_model / "metadata.json").read_text())
    assert metadata["hyperparameters"]["n_estimators"] == "20"
    assert {"train:rmse", "validation:rmse", "validation:mae", "validation:r2"} <= set(
        metadata["metrics"]
    )
    assert metadata["rows"] == {"training": 6818, "validation": 1705}
    assert {"scikit-learn", "onnxruntime", "skl2onnx", "numpy"} <= set(metadata["versions"])
    assert set(metadata["files"]) == {"model.onnx", "featurizer.json", "baseline.json"}


def test_round_trip(tmp_path, trained_model):
    artifact = read_model(trained_model)
    write_model(artifact, tmp_path / "copy")
    again = read_model(tmp_path / "copy")
    assert again.onnx == artifact.onnx and again.featurizer == artifact.featurizer


def test_a_link_at_the_old_fixed_temporary_names_is_never_followed(tmp_path, trained_model):
    """Model files and the archive were written through fixed ``.<name>.partial`` names: a
    link planted there had its target overwritten (issue 10, item 9)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder, archive = tmp_path / "model", tmp_path / "out" / "model.tar.gz"
    folder.mkdir()
    archive.parent.mkdir()
    planted = [folder / f".{name}.partial" for name in MEMBER_NAMES]
    planted.append(archive.with_name(".model.tar.gz.partial"))
    for link in planted:
        link.symlink_to(victim)
    write_model(read_model(trained_model), folder)
    pack(trained_model, archive)
    assert victim.read_text() == "keep me"
    assert all(link.is_symlink() for link in planted)
    read_model(folder)
    with opened_model(archive) as unpacked:
        assert read_model(unpacked).onnx == read_model(trained_model).onnx
    leftovers = [p.name for p in [*folder.iterdir(), *archive.parent.iterdir()]]
    assert sorted(n for n in leftovers if n.endswith(".partial")) == sorted(p.name for p in planted)


def _copy(trained_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    write_model(read_model(trained_model), target)
    return target


def test_tampered_file_is_refused_by_checksum(tmp_path, trained_model):
    model = _copy(trained_model, tmp_path)
    onnx = model / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="sha256"):
        read_model(model)


def test_missing_metadata_is_not_a_model(tmp_path, trained_model):
    model = _copy(trained_model, tmp_path)
    (model / "metadata.json").unlink()
    with pytest.raises(ArtifactError, match=r"metadata\.json: missing"):
        read_model(model)


def test_bad_json_names_the_file(tmp_path, trained_model):
    model = _copy(trained_model, tmp_path)
    (model / "metadata.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"metadata\.json: not valid JSON"):
        read_model(model)


def test_onnx_that_does_not_load_is_refused(tmp_path, trained_model):
    artifact = read_model(trained_model)
    artifact.onnx = b"definitely not onnx"
    write_model(artifact, tmp_path / "m")  # checksums match, content is junk
    with pytest.raises(ArtifactError, match="ONNX Runtime cannot load"):
        Predictor.load(tmp_path / "m")


def test_write_model_leaves_nothing_when_it_fails(tmp_path):
    class Boom(bytes):
        pass

    bad = ModelArtifact(onnx=b"x", featurizer={"a": {1, 2}}, metadata={})  # set: not JSON
    with pytest.raises(TypeError):
        write_model(bad, tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_a_model_too_big_for_an_archive_is_never_written(tmp_path, monkeypatch):
    import bigmart.model.artifact as artifact

    monkeypatch.setitem(artifact.MEMBER_LIMITS, "model.onnx", 10)
    with pytest.raises(ArtifactError, match=r"model\.onnx would be .* train a smaller forest"):
        write_model(ModelArtifact(onnx=b"x" * 11, featurizer={}, metadata={}), tmp_path / "m")
    assert list((tmp_path / "m").iterdir()) == []


def test_the_baseline_is_checksummed_and_a_changed_one_is_refused(tmp_path, trained_model):
    artifact = read_model(trained_model)
    assert artifact.baseline is not None and artifact.baseline["format"] == "bigmart-baseline/1"
    model = _copy(trained_model, tmp_path)
    baseline = model / "baseline.json"
    document = json.loads(baseline.read_text())
    document["numeric"]["Item_MRP"]["missing_rate"] = 0.5
    baseline.write_text(json.dumps(document))
    with pytest.raises(ArtifactError, match=r"baseline\.json: sha256 does not match"):
        read_model(model)
    baseline.unlink()  # listed in metadata.json, so it may not go missing either
    with pytest.raises(ArtifactError, match=r"baseline\.json: cannot read"):
        read_model(model)


def test_a_model_from_before_the_baseline_loads_and_serves(tmp_path, trained_model):
    old = read_model(trained_model)
    old.baseline = None
    write_model(old, tmp_path / "old")
    metadata = json.loads((tmp_path / "old" / "metadata.json").read_text())
    assert set(metadata["files"]) == {"model.onnx", "featurizer.json"}
    assert not (tmp_path / "old" / "baseline.json").exists()
    assert read_model(tmp_path / "old").baseline is None
    archive = pack(tmp_path / "old", tmp_path / "old.tar.gz")
    with opened_model(archive) as folder:
        predictor = Predictor.load(folder)
    assert predictor.metadata["files"] == metadata["files"]


def test_files_may_list_only_the_known_ones(tmp_path, trained_model):
    model = _copy(trained_model, tmp_path)
    metadata = json.loads((model / "metadata.json").read_text())
    metadata["files"]["notes.txt"] = "0" * 64
    (model / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"'files' must list .* and may list \('baseline"):
        read_model(model)
