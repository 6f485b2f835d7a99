"""Batch predict's output file: published whole, never through a planted link."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bigmart.data import synthetic as synth
from bigmart.local import predict as batch_predict
from bigmart.local.predict import predict_csv


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    path.write_text(synth.csv_text(60, 3, with_target=False))
    return path


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(trained_model, rows, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    link = output.with_name(".predictions.csv.partial")
    link.symlink_to(victim)
    assert predict_csv(trained_model, rows, output) == 60
    assert victim.read_text() == "precious\n"
    assert link.is_symlink()
    assert not output.is_symlink() and len(output.read_text().splitlines()) == 60


def test_two_runs_writing_one_output_each_publish_a_whole_file(
    trained_model, rows, tmp_path, monkeypatch
):
    inputs = {20: tmp_path / "twenty.csv", 60: rows}
    inputs[20].write_text("".join(rows.read_text().splitlines(keepends=True)[:21]))
    alone = {}
    for count, source in inputs.items():
        alone[count] = tmp_path / f"alone-{count}.csv"
        predict_csv(trained_model, source, alone[count])
    output = tmp_path / "out" / "predictions.csv"
    both_writing = threading.Barrier(2, timeout=30)
    real_format = batch_predict.format_predictions
    started: set[int] = set()

    def format_predictions(values):
        if threading.get_ident() not in started:
            started.add(threading.get_ident())
            both_writing.wait()  # both runs have their output open before either writes
        return real_format(values)

    monkeypatch.setattr(batch_predict, "format_predictions", format_predictions)
    errors: list[BaseException] = []

    def run(source: Path) -> None:
        try:
            predict_csv(trained_model, source, output, chunk_rows=10)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(source,)) for source in inputs.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert output.read_text() in {path.read_text() for path in alone.values()}
    assert [p.name for p in output.parent.iterdir()] == ["predictions.csv"]


@pytest.mark.parametrize("name", ["rows.csv", "rows.csv.gz"])
def test_an_s3_input_is_streamed_and_an_s3_output_uploaded_whole(
    s3, trained_model, rows, tmp_path, name
):
    import gzip

    client, bucket = s3
    data = rows.read_bytes()
    client.put_object(
        Bucket=bucket, Key=f"in/{name}", Body=gzip.compress(data) if name.endswith(".gz") else data
    )
    local = tmp_path / "local.csv"
    assert predict_csv(trained_model, rows, local) == 60
    output = f"s3://{bucket}/out/{name}.predictions.csv"
    assert predict_csv(trained_model, f"s3://{bucket}/in/{name}", output) == 60
    uploaded = client.get_object(Bucket=bucket, Key=f"out/{name}.predictions.csv")["Body"].read()
    assert uploaded == local.read_bytes()


def test_a_bad_s3_input_names_its_uri_and_uploads_nothing(s3, trained_model, tmp_path):
    from bigmart.schema import SchemaError

    client, bucket = s3
    client.put_object(Bucket=bucket, Key="in/bad.csv", Body=b"Item_Identifier\nFDA15\n")
    with pytest.raises(SchemaError, match=rf"^s3://{bucket}/in/bad.csv, line 1: missing column"):
        predict_csv(trained_model, f"s3://{bucket}/in/bad.csv", f"s3://{bucket}/out/p.csv")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket, Prefix="out/")
