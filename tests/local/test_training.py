"""The local training job's folder: what ``prepare_job`` lays out for ``train``."""

from __future__ import annotations

from pathlib import Path

from bigmart.data.reading import find_csv_files, read_labelled
from bigmart.data.synthetic import csv_text
from bigmart.local.training import prepare_job


def test_a_copied_channel_with_a_link_loop_is_copied_once_and_read_once(tmp_path: Path):
    """For a container the channel is copied; followed, ``latest -> .`` recursed without
    end (issue 10, item 10). Links stay links, and ``train`` reads each real file once."""
    data = tmp_path / "data"
    (data / "2026").mkdir(parents=True)
    (data / "2026" / "part-1.csv").write_text(csv_text(50, seed=1))
    (data / "latest").symlink_to(".", target_is_directory=True)

    paths = prepare_job(tmp_path / "job", {"training": data}, {}, copy_data=True)

    copied = paths.channel("training")
    assert (copied / "latest").is_symlink()
    files = find_csv_files(paths.channel("training"))
    assert [f.name for f in files] == ["part-1.csv"]
    assert len(read_labelled(files[0]).target) == 50


def test_a_folder_channel_is_the_channel_as_sagemaker_fills_it(tmp_path: Path):
    """SageMaker puts an S3 prefix's keys relative to the channel folder
    (``input/data/training/2026/part-1.csv``), not one folder deeper."""
    data = tmp_path / "data"
    (data / "2026").mkdir(parents=True)
    (data / "2026" / "part-1.csv").write_text(csv_text(20, seed=2))
    single = tmp_path / "single.csv"
    single.write_text(csv_text(20, seed=3))

    for copy_data in (False, True):
        paths = prepare_job(
            tmp_path / f"job-{copy_data}",
            {"training": data, "validation": single},
            {},
            copy_data=copy_data,
        )
        assert (paths.channel("training") / "2026" / "part-1.csv").is_file()
        assert (paths.channel("validation") / "single.csv").is_file()
